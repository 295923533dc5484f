#include "vmbh/host/relay_transport.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <variant>

namespace vmbh::host {

namespace {

using Clock = std::chrono::steady_clock;
using proto::RelayFrame;
using proto::RelayType;

constexpr const char* kClosedByQemu = "QEMU closed the relay socket";

// How fast the host's and the guest's clocks may drift apart, for choosing
// between REF_TIME samples (measured: 10-40 ppm): 100 ppm = 1 / 10,000.
constexpr int kDriftDivisor = 10'000;

// How far off a sample may be when extrapolated to `t`.
Clock::duration error_bound(const RelayTransport::ReferenceTimeSample& s, Clock::time_point t) {
  const Clock::duration age = t >= s.at ? t - s.at : s.at - t;
  return s.round_trip / 2 + age / kDriftDivisor;
}

// Whether `s` disagrees with `kept` by more than both error bounds: then one
// of them was not taken on a clock running with the host's (QEMU calibrates
// the guest's reference clock against the host's when the guest first needs
// it), and the newer one is the one to trust.
bool contradicts(const RelayTransport::ReferenceTimeSample& kept,
                 const RelayTransport::ReferenceTimeSample& s) {
  const auto predicted = static_cast<std::int64_t>(kept.value) +
                         std::chrono::duration_cast<std::chrono::nanoseconds>(s.at - kept.at).count() / 100;
  const std::int64_t diff_100ns = static_cast<std::int64_t>(s.value) - predicted;
  const auto diff = std::chrono::nanoseconds(std::abs(diff_100ns) * 100);
  return diff > error_bound(kept, s.at) + error_bound(s, s.at);
}

std::string seconds(std::chrono::milliseconds t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", static_cast<double>(t.count()) / 1000.0);
  return buf;
}

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string errno_text(std::int32_t negative_errno) { return std::strerror(-negative_errno); }

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

// Reads what `fd` has (non-blocking) into `reader`. Sets `eof` on end of stream.
Status read_into(int fd, proto::RelayFrameReader& reader, bool& eof) {
  std::byte buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      reader.feed(proto::ByteSpan(buf, static_cast<std::size_t>(n)));
      continue;
    }
    if (n == 0) {
      eof = true;
      return {};
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
    return Status::fail(std::string("relay: reading the socket failed: ") + std::strerror(errno));
  }
}

std::string closed_message(const proto::RelayFrameReader& reader) {
  if (reader.buffered() == 0) return kClosedByQemu;
  return std::string(kClosedByQemu) + " inside a frame (" + std::to_string(reader.buffered()) +
         " bytes buffered)";
}

std::string malformed(const proto::Error& e) { return "relay: malformed frame from QEMU: " + e.message(); }

// One frame from `fd` before `deadline`; a timeout sets `timed_out` (the caller words the failure).
Result<RelayFrame> read_frame_from(int fd, proto::RelayFrameReader& reader, Clock::time_point deadline,
                                   bool& timed_out) {
  timed_out = false;
  bool eof = false;
  for (;;) {
    if (auto f = reader.next()) {
      if (!f->ok()) return Status::fail(malformed(f->error()));
      if (!proto::is_qemu_to_host(proto::type_of(**f))) {
        return Status::fail("relay: QEMU sent a host-to-QEMU frame (" +
                            std::string(proto::to_string(proto::type_of(**f))) + ")");
      }
      return std::move(**f);
    }
    if (eof) return Status::fail(closed_message(reader));
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::fail(std::string("relay: poll failed: ") + std::strerror(errno));
    if (r == 0) {
      timed_out = true;
      return Status::fail("relay: timed out");
    }
    if (Status st = read_into(fd, reader, eof); !st) return st;
  }
}

Result<GuestRam> open_ram(const std::string& ram_path, const proto::RelayHello& hello) {
  const int fd = ::open(ram_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return Status::fail("relay: cannot open guest RAM file " + ram_path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return Status::fail("relay: cannot stat guest RAM file " + ram_path + ": " + std::strerror(e));
  }
  std::vector<RamRegion> regions;
  for (const auto& g : hello.regions) {
    if (g.file_offset + g.size > static_cast<std::uint64_t>(st.st_size)) {
      ::close(fd);
      return Status::fail("relay: guest RAM file " + ram_path + " has " +
                          hex(static_cast<std::uint64_t>(st.st_size)) + " bytes; HELLO places guest RAM at " +
                          hex(g.gpa) + " up to file offset " + hex(g.file_offset + g.size) +
                          " (wrong file?)");
    }
    regions.push_back(RamRegion{g.gpa, g.size, g.file_offset});
  }
  return GuestRam::adopt(fd, std::move(regions));
}

}  // namespace

// ---- RelayListener

Result<RelayListener> RelayListener::listen(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) {
    return Status::fail("relay: socket path '" + socket_path + "' is empty or longer than " +
                        std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  struct stat st {};
  if (::lstat(socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Status::fail("relay: " + socket_path + " exists and is not a socket");
    ::unlink(socket_path.c_str());
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::fail(std::string("relay: socket failed: ") + std::strerror(errno));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 1) != 0) {
    const int e = errno;
    ::close(fd);
    return Status::fail("relay: cannot listen on " + socket_path + ": " + std::strerror(e));
  }
  return RelayListener(fd, socket_path);
}

RelayListener::RelayListener(RelayListener&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), path_(std::exchange(o.path_, {})) {}

RelayListener& RelayListener::operator=(RelayListener&& o) noexcept {
  if (this != &o) {
    this->~RelayListener();
    fd_ = std::exchange(o.fd_, -1);
    path_ = std::exchange(o.path_, {});
  }
  return *this;
}

RelayListener::~RelayListener() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
}

Result<std::unique_ptr<RelayTransport>> RelayListener::accept(
    const std::string& ram_path, std::chrono::milliseconds timeout,
    std::optional<std::chrono::milliseconds> hello_timeout) {
  if (fd_ < 0) return Status::fail("relay: the listener is closed");
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::fail(std::string("relay: poll failed: ") + std::strerror(errno));
    if (r == 0)
      return Status::fail("relay: QEMU did not connect to " + path_ + " within " + seconds(timeout));
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
      return Status::fail(std::string("relay: accept failed: ") + std::strerror(errno));
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return RelayTransport::connect(fd, ram_path,
                                   hello_timeout.value_or(std::max(left, std::chrono::milliseconds(1000))));
  }
}

// ---- RelayTransport

RelayTransport::RelayTransport(int fd, proto::RelayHello hello, GuestRam ram, proto::RelayFrameReader reader)
    : fd_(fd), hello_(std::move(hello)), ram_(std::move(ram)), reader_(std::move(reader)) {}

RelayTransport::~RelayTransport() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<RelayTransport>> RelayTransport::connect(int fd, const std::string& ram_path,
                                                                std::chrono::milliseconds timeout) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    const int e = errno;
    ::close(fd);
    return Status::fail(std::string("relay: cannot make the socket non-blocking: ") + std::strerror(e));
  }
  proto::RelayFrameReader reader;
  bool timed_out = false;
  auto first = read_frame_from(fd, reader, Clock::now() + timeout, timed_out);
  if (!first.ok()) {
    ::close(fd);
    if (timed_out) return Status::fail("relay: no HELLO from QEMU within " + seconds(timeout));
    return first.status();
  }
  auto* hello = std::get_if<proto::RelayHello>(&first.value());
  if (hello == nullptr) {
    ::close(fd);
    return Status::fail("relay: QEMU's first frame is " +
                        std::string(proto::to_string(proto::type_of(*first))) + ", not hello");
  }
  auto ram = open_ram(ram_path, *hello);
  if (!ram.ok()) {
    ::close(fd);
    return ram.status();
  }
  std::unique_ptr<RelayTransport> t(
      new RelayTransport(fd, std::move(*hello), std::move(ram.value()), std::move(reader)));
  if (t->hello_.version < proto::kRelayRefTimeVersion) {
    t->ref_unavailable_ = "QEMU's vmbus-relay is version " + std::to_string(t->hello_.version) +
                          " (no REF_TIME; patch 0012 adds it)";
  } else if (Status st = t->request_reference_time(); !st) {
    return st;
  }
  return t;
}

Status RelayTransport::fail(std::string why) {
  if (closed_.empty()) {
    closed_ = std::move(why);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (events_ != nullptr) events_->on_transport_closed(closed_);
  }
  return Status::fail(closed_);
}

Status RelayTransport::send(const RelayFrame& f) {
  if (!closed_.empty()) return Status::fail(closed_);
  const proto::Bytes wire = proto::encode_relay_frame(f);
  std::size_t done = 0;
  while (done < wire.size()) {
    const ssize_t n = ::send(fd_, wire.data() + done, wire.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(reply_timeout_.count())) == 0) {
        return fail("relay: QEMU did not read its socket for " + seconds(reply_timeout_));
      }
      continue;
    }
    return fail(std::string("relay: cannot write to QEMU: ") + std::strerror(errno));
  }
  return {};
}

Result<RelayFrame> RelayTransport::read_frame(Clock::time_point deadline, bool& timed_out) {
  timed_out = false;
  if (!closed_.empty()) return Status::fail(closed_);
  auto f = read_frame_from(fd_, reader_, deadline, timed_out);
  if (!f.ok() && !timed_out) return fail(f.message());
  return f;
}

Status RelayTransport::await_result(RelayType request, std::uint32_t connection_id) {
  const std::string what = std::string(proto::to_string(request)) + " " + hex(connection_id);
  const auto deadline = Clock::now() + reply_timeout_;
  for (;;) {
    bool timed_out = false;
    auto f = read_frame(deadline, timed_out);
    if (!f.ok()) {
      if (timed_out) return fail("relay: QEMU did not answer " + what + " within " + seconds(reply_timeout_));
      return f.status();
    }
    if (const auto* a = std::get_if<proto::RelayRefTimeAnswer>(&f.value())) {
      // Taken now: its receive time is part of the sample.
      take_reference_time(*a, Clock::now());
      if (!closed_.empty()) return Status::fail(closed_);
      continue;
    }
    const auto* res = std::get_if<proto::RelayResult>(&f.value());
    if (res == nullptr) {
      pending_.push_back(std::move(f.value()));
      continue;
    }
    if (res->request != request || res->connection_id != connection_id) {
      return fail("relay: QEMU answered " + std::string(proto::to_string(res->request)) + " " +
                  hex(res->connection_id) + " while " + what + " was awaited");
    }
    if (res->error != 0) return Status::fail("relay: QEMU refused " + what + ": " + errno_text(res->error));
    return {};
  }
}

Status RelayTransport::add_message_connection(std::uint32_t connection_id) {
  if (Status st = send(proto::RelayAddMessageConnection{connection_id}); !st) return st;
  return await_result(RelayType::add_message_connection, connection_id);
}

Status RelayTransport::add_event_connection(std::uint32_t connection_id) {
  if (Status st = send(proto::RelayAddEventConnection{connection_id}); !st) return st;
  return await_result(RelayType::add_event_connection, connection_id);
}

Status RelayTransport::remove_event_connection(std::uint32_t connection_id) {
  if (Status st = send(proto::RelayRemoveEventConnection{connection_id}); !st) return st;
  return await_result(RelayType::remove_event_connection, connection_id);
}

Status RelayTransport::post_message(std::uint32_t vp, std::uint32_t sint, std::uint32_t message_type,
                                    proto::ByteSpan payload) {
  if (payload.size() > proto::kRelayMaxPayload) {
    return Status::fail("relay: post_message payload of " + std::to_string(payload.size()) +
                        " bytes exceeds " + std::to_string(proto::kRelayMaxPayload));
  }
  if (sint >= proto::kRelaySintCount)
    return Status::fail("relay: post_message to SINT " + std::to_string(sint));
  return send(proto::RelayPostMessage{vp, sint, message_type, proto::Bytes(payload.begin(), payload.end())});
}

Status RelayTransport::signal_event(std::uint32_t vp, std::uint32_t sint, std::uint32_t flag) {
  if (sint >= proto::kRelaySintCount || flag >= proto::kRelayEventFlagCount) {
    return Status::fail("relay: signal_event to SINT " + std::to_string(sint) + " flag " +
                        std::to_string(flag));
  }
  return send(proto::RelaySignalEvent{vp, sint, flag});
}

std::vector<std::string> RelayTransport::take_errors() { return std::exchange(errors_, {}); }

std::optional<std::uint64_t> RelayTransport::reference_time(Clock::time_point now) const {
  if (!ref_sample_) return std::nullopt;
  const std::int64_t since =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now - ref_sample_->at).count() / 100;
  // Modulo 2^64, so a `now` before the sample subtracts.
  return ref_sample_->value + static_cast<std::uint64_t>(since);
}

Status RelayTransport::request_reference_time() {
  if (!closed_.empty()) return Status::fail(closed_);
  if (!ref_unavailable_.empty() || ref_outstanding_) return {};
  const std::uint32_t cookie = ref_next_cookie_++;
  // Before sending: QEMU reads the time after this.
  const Clock::time_point sent = Clock::now();
  if (Status st = send(proto::RelayRefTime{cookie}); !st) return st;
  ref_outstanding_.emplace(cookie, sent);
  ref_last_request_ = sent;
  return {};
}

Status RelayTransport::refresh_reference_time(Clock::time_point now) {
  if (!closed_.empty()) return Status::fail(closed_);
  if (ref_outstanding_) {
    if (now - ref_outstanding_->second < reply_timeout_) return {};
    return fail("relay: QEMU did not answer ref_time " + std::to_string(ref_outstanding_->first) +
                " within " + seconds(reply_timeout_));
  }
  if (now - ref_last_request_ < ref_period_) return {};
  return request_reference_time();
}

void RelayTransport::take_reference_time(const proto::RelayRefTimeAnswer& a, Clock::time_point received) {
  if (!ref_outstanding_ || ref_outstanding_->first != a.cookie) {
    (void)fail("relay: QEMU answered ref_time " + std::to_string(a.cookie) + ", which was not asked");
    return;
  }
  const Clock::time_point sent = ref_outstanding_->second;
  ref_outstanding_.reset();
  if (a.error != 0) {
    ref_unavailable_ = "QEMU cannot tell the guest's reference time: " + errno_text(a.error);
    ref_sample_.reset();
    return;
  }
  const ReferenceTimeSample s{a.reference_time, sent + (received - sent) / 2, received - sent};
  ref_latest_ = s;
  if (ref_sample_ && contradicts(*ref_sample_, s)) {
    ++ref_jumps_;
    ref_sample_ = s;
  } else if (!ref_sample_ || error_bound(s, s.at) <= error_bound(*ref_sample_, s.at)) {
    ref_sample_ = s;
  }
}

void RelayTransport::deliver(const RelayFrame& f, Clock::time_point received) {
  if (const auto* a = std::get_if<proto::RelayRefTimeAnswer>(&f)) {
    take_reference_time(*a, received);
  } else if (const auto* m = std::get_if<proto::RelayGuestMessage>(&f)) {
    if (events_ != nullptr) events_->on_guest_message(m->vp, m->connection_id, m->message_type, m->payload);
  } else if (const auto* s = std::get_if<proto::RelayGuestSignal>(&f)) {
    if (events_ != nullptr) events_->on_guest_signal(s->vp, s->connection_id);
  } else if (std::holds_alternative<proto::RelayGuestReset>(f)) {
    if (events_ != nullptr) events_->on_guest_reset();
  } else if (const auto* e = std::get_if<proto::RelayError>(&f)) {
    errors_.push_back(std::string(proto::to_string(e->request)) + " to vp " + std::to_string(e->vp) +
                      " sint " + std::to_string(e->sint) + ": " + errno_text(e->error));
  } else if (const auto* r = std::get_if<proto::RelayResult>(&f)) {
    // Every RESULT is awaited by the registration that caused it.
    (void)fail("relay: QEMU sent an unexpected result for " + std::string(proto::to_string(r->request)) +
               " " + hex(r->connection_id));
  } else {
    (void)fail("relay: QEMU sent a second hello");
  }
}

Status RelayTransport::dispatch() {
  if (!closed_.empty()) return Status::fail(closed_);
  bool eof = false;
  if (Status st = read_into(fd_, reader_, eof); !st) return fail(st.message());
  // Frames kept by a registration come first; a HostEvents callback may
  // register (and so read) again, which only appends to pending_.
  for (;;) {
    if (!closed_.empty()) return Status::fail(closed_);
    if (!pending_.empty()) {
      const RelayFrame f = std::move(pending_.front());
      pending_.pop_front();
      deliver(f, Clock::now());
      continue;
    }
    auto f = reader_.next();
    if (!f) break;
    if (!f->ok()) return fail(malformed(f->error()));
    if (!proto::is_qemu_to_host(proto::type_of(**f))) {
      return fail("relay: QEMU sent a host-to-QEMU frame (" +
                  std::string(proto::to_string(proto::type_of(**f))) + ")");
    }
    deliver(**f, Clock::now());
  }
  if (!closed_.empty()) return Status::fail(closed_);
  if (eof) return fail(closed_message(reader_));
  return refresh_reference_time(Clock::now());
}

}  // namespace vmbh::host
