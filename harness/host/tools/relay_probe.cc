// vmbh-relay-probe: the smallest live check of the QEMU relay. Listens on a
// unix socket, (optionally) starts QEMU, registers the VMBus message
// connections 1 and 4, and prints the guest's first channel message decoded.
// For INITIATE_CONTACT it maps the monitor pages the message points at through
// GuestRam and prints their first bytes; --mark writes a marker into
// monitor_page1 so a test can read the same guest page back through QEMU.
// --answer then plays the host's part of connecting with no devices: a
// VERSION_RESPONSE accepting the version (later messages to connection
// 0x1000), the guest's REQUESTOFFERS, ALLOFFERS_DELIVERED.
// --ref-time then measures QEMU's REF_TIME: two answers 1 s apart, then one
// answer per line read from stdin until EOF (a test brackets the guest's own
// reads with them).
//
//   vmbh-relay-probe --socket S --ram FILE [--timeout SEC] [--mark] [--answer] [--ref-time] [-- QEMU ARGV...]
//
// Output lines: "listening S", "hello ...", "registered 1 4", "message ...",
// "decoded <describe()>", "initiate_contact ...", "page <name> gpa=... bytes=...",
// "marked gpa=... bytes=...", "answered ...", "ref_time_step ...", "ref_time ...".
// Exit status 0 when all went as described.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "vmbh/host/relay_transport.h"
#include "vmbh/protocols/describe.h"
#include "vmbh/protocols/synic.h"
#include "vmbh/protocols/vmbus.h"

namespace {

using namespace vmbh;

constexpr std::string_view kMarker = "VMBH-RELAY-PROBE";

struct GuestMessage {
  std::uint32_t vp = 0, connection_id = 0, message_type = 0;
  proto::Bytes payload;
};

struct Messages final : host::HostEvents {
  std::vector<GuestMessage> got;
  void on_guest_message(std::uint32_t v, std::uint32_t c, std::uint32_t t, proto::ByteSpan p) override {
    got.push_back({v, c, t, proto::Bytes(p.begin(), p.end())});
  }
  void on_guest_signal(std::uint32_t, std::uint32_t) override {}
  void on_guest_reset() override { std::printf("guest reset\n"); }
  void on_transport_closed(const std::string&) override {}
};

// Dispatches until the guest has posted `count` messages.
bool wait_messages(host::RelayTransport& t, const Messages& events, std::size_t count,
                   std::chrono::steady_clock::time_point deadline) {
  while (events.got.size() < count) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
            .count();
    if (left <= 0) {
      std::fprintf(stderr, "vmbh-relay-probe: no guest message %zu in time\n", count);
      return false;
    }
    pollfd p{t.poll_fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) return false;
    if (host::Status st = t.dispatch(); !st) {
      std::fprintf(stderr, "vmbh-relay-probe: %s\n", st.message().c_str());
      return false;
    }
  }
  return true;
}

using RefSample = host::RelayTransport::ReferenceTimeSample;

long long to_ns(std::chrono::steady_clock::duration d) {
  return static_cast<long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

// Dispatches until `done` or the deadline.
template <typename Done>
bool dispatch_until(host::RelayTransport& t, std::chrono::steady_clock::time_point deadline, Done done) {
  while (!done()) {
    if (!t.reference_time_unavailable().empty()) {
      std::fprintf(stderr, "vmbh-relay-probe: %s\n", t.reference_time_unavailable().c_str());
      return false;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "vmbh-relay-probe: no REF_TIME answer in time\n");
      return false;
    }
    pollfd p{t.poll_fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) < 0 && errno != EINTR) return false;
    if (host::Status st = t.dispatch(); !st) {
      std::fprintf(stderr, "vmbh-relay-probe: %s\n", st.message().c_str());
      return false;
    }
  }
  return true;
}

// Asks QEMU for the reference time and waits for the answer to that request
// (one sent before the call, e.g. connect's, is awaited first), dispatching
// guest frames meanwhile. The caller turns periodic requests off.
std::optional<RefSample> ask_ref_time(host::RelayTransport& t,
                                      std::chrono::steady_clock::time_point deadline) {
  if (!dispatch_until(t, deadline, [&t] { return !t.reference_time_pending(); })) return std::nullopt;
  if (host::Status st = t.request_reference_time(); !st) {
    std::fprintf(stderr, "vmbh-relay-probe: %s\n", st.message().c_str());
    return std::nullopt;
  }
  if (!dispatch_until(t, deadline, [&t] { return !t.reference_time_pending(); })) return std::nullopt;
  if (!t.reference_time_unavailable().empty()) {
    std::fprintf(stderr, "vmbh-relay-probe: %s\n", t.reference_time_unavailable().c_str());
    return std::nullopt;
  }
  return t.latest_reference_time_answer();
}

// "value=V round_trip_ns=R extrapolated=E": QEMU's answer, and what the
// transport's kept sample says for the same moment.
void print_ref(const char* what, const host::RelayTransport& t, const RefSample& s) {
  std::printf("%s value=%llu round_trip_ns=%lld extrapolated=%llu\n", what,
              static_cast<unsigned long long>(s.value), to_ns(s.round_trip),
              static_cast<unsigned long long>(t.reference_time(s.at).value_or(0)));
}

// Two answers about 1 s apart, then one per line of stdin until EOF.
bool measure_ref_time(host::RelayTransport& t, std::chrono::steady_clock::time_point deadline) {
  t.set_reference_time_period(std::chrono::hours(1));
  const auto a = ask_ref_time(t, deadline);
  if (!a) return false;
  ::usleep(1000 * 1000);
  const auto b = ask_ref_time(t, deadline);
  if (!b) return false;
  std::printf(
      "ref_time_step first=%llu second=%llu host_ns=%lld first_round_trip_ns=%lld "
      "second_round_trip_ns=%lld\n",
      static_cast<unsigned long long>(a->value), static_cast<unsigned long long>(b->value),
      to_ns(b->at - a->at), to_ns(a->round_trip), to_ns(b->round_trip));
  for (std::string line; std::getline(std::cin, line);) {
    const auto s = ask_ref_time(t, std::chrono::steady_clock::now() + std::chrono::seconds(10));
    if (!s) return false;
    print_ref("ref_time", t, *s);
  }
  return true;
}

std::string hex_bytes(std::span<const std::byte> b) {
  std::string s;
  char buf[4];
  for (std::byte x : b) {
    std::snprintf(buf, sizeof buf, "%02x", std::to_integer<unsigned>(x));
    s += buf;
  }
  return s;
}

// Prints a guest message and its decoding; nullopt if it does not decode.
std::optional<proto::ChannelMessage> show_message(const GuestMessage& m) {
  std::printf("message vp=%u connection=%u type=%u size=%zu\n", m.vp, m.connection_id, m.message_type,
              m.payload.size());
  auto decoded = proto::decode_channel_message(m.payload, proto::VmbusVersion::win10_v5_3);
  if (!decoded.ok()) {
    std::printf("undecodable %s payload=%s\n", decoded.error().message().c_str(),
                hex_bytes(m.payload).c_str());
    return std::nullopt;
  }
  std::printf("decoded %s\n", proto::describe(*decoded).c_str());
  return decoded.value();
}

int usage() {
  std::fprintf(
      stderr,
      "usage: vmbh-relay-probe --socket PATH --ram FILE [--timeout SEC] [--mark] [--answer] [--ref-time] "
      "[-- QEMU ARGV...]\n");
  return 2;
}

// Maps the page at `gpa` and prints its first 16 bytes; with `mark`, writes kMarker there first.
bool show_page(const host::GuestRam& ram, const char* name, std::uint64_t gpa, bool mark) {
  auto page = ram.map_range(gpa & ~std::uint64_t{0xFFF}, 4096);
  if (!page.ok()) {
    std::printf("page %s gpa=0x%llx error=%s\n", name, static_cast<unsigned long long>(gpa),
                page.message().c_str());
    return false;
  }
  auto bytes = page->bytes().subspan(gpa & 0xFFF);
  if (mark) {
    std::memcpy(bytes.data(), kMarker.data(), kMarker.size());
    std::printf("marked gpa=0x%llx bytes=%s\n", static_cast<unsigned long long>(gpa),
                hex_bytes(bytes.first(kMarker.size())).c_str());
  }
  std::printf("page %s gpa=0x%llx bytes=%s\n", name, static_cast<unsigned long long>(gpa),
              hex_bytes(bytes.first(16)).c_str());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path, ram_path;
  double timeout_s = 120;
  bool mark = false, answer = false, ref_time = false;
  std::vector<char*> qemu_argv;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--socket" && i + 1 < argc) {
      socket_path = argv[++i];
    } else if (a == "--ram" && i + 1 < argc) {
      ram_path = argv[++i];
    } else if (a == "--timeout" && i + 1 < argc) {
      timeout_s = std::atof(argv[++i]);
    } else if (a == "--mark") {
      mark = true;
    } else if (a == "--answer") {
      answer = true;
    } else if (a == "--ref-time") {
      ref_time = true;
    } else if (a == "--") {
      qemu_argv.assign(argv + i + 1, argv + argc);
      break;
    } else {
      return usage();
    }
  }
  if (socket_path.empty() || ram_path.empty() || timeout_s <= 0) return usage();
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const auto timeout = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  auto listener = host::RelayListener::listen(socket_path);
  if (!listener.ok()) {
    std::fprintf(stderr, "vmbh-relay-probe: %s\n", listener.message().c_str());
    return 1;
  }
  std::printf("listening %s\n", socket_path.c_str());

  pid_t qemu = -1;
  if (!qemu_argv.empty()) {
    qemu_argv.push_back(nullptr);
    qemu = ::fork();
    if (qemu == 0) {
      ::execvp(qemu_argv[0], qemu_argv.data());
      std::fprintf(stderr, "vmbh-relay-probe: cannot run %s: %s\n", qemu_argv[0], std::strerror(errno));
      ::_exit(127);
    }
  }
  auto stop_qemu = [&] {
    if (qemu > 0) {
      ::kill(qemu, SIGTERM);
      ::waitpid(qemu, nullptr, 0);
    }
  };

  auto relay = listener->accept(ram_path, timeout);
  if (!relay.ok()) {
    std::fprintf(stderr, "vmbh-relay-probe: %s\n", relay.message().c_str());
    stop_qemu();
    return 1;
  }
  host::RelayTransport& t = *relay.value();
  std::printf("hello version=%u vcpus=%u regions=", t.hello().version, t.hello().vcpus);
  for (std::size_t i = 0; i < t.hello().regions.size(); ++i) {
    const auto& g = t.hello().regions[i];
    std::printf("%s0x%llx+0x%llx@0x%llx", i ? "," : "", static_cast<unsigned long long>(g.gpa),
                static_cast<unsigned long long>(g.size), static_cast<unsigned long long>(g.file_offset));
  }
  std::printf("\n");

  Messages events;
  t.set_events(&events);
  for (std::uint32_t id : {proto::kVmbusMessageConnectionId, proto::kVmbusMessageConnectionId4}) {
    if (host::Status st = t.add_message_connection(id); !st) {
      std::fprintf(stderr, "vmbh-relay-probe: %s\n", st.message().c_str());
      stop_qemu();
      return 1;
    }
  }
  std::printf("registered %u %u\n", proto::kVmbusMessageConnectionId, proto::kVmbusMessageConnectionId4);

  bool ok = wait_messages(t, events, 1, deadline);
  const auto decoded = ok ? show_message(events.got[0]) : std::nullopt;
  const auto* ic = decoded ? std::get_if<proto::InitiateContact>(&*decoded) : nullptr;
  ok = decoded.has_value();
  if (ic != nullptr) {
    std::printf(
        "initiate_contact version_requested=0x%x target_vcpu=%u msg_sint=%u monitor_page1=0x%llx "
        "monitor_page2=0x%llx\n",
        ic->version_requested, ic->target_vcpu, ic->msg_sint,
        static_cast<unsigned long long>(ic->monitor_page1),
        static_cast<unsigned long long>(ic->monitor_page2));
    ok = show_page(t.ram(), "monitor_page1", ic->monitor_page1, mark) &&
         show_page(t.ram(), "monitor_page2", ic->monitor_page2, false);
  }
  if (ok && answer && ic != nullptr && ic->uses_msg_sint()) {
    // Accept the version; the guest's next message (REQUESTOFFERS) goes to kAnswerConnection.
    constexpr std::uint32_t kAnswerConnection = 0x1000;
    const std::uint32_t vp = ic->target_vcpu, sint = ic->msg_sint;
    const auto type = static_cast<std::uint32_t>(proto::HvMessageType::vmbus_channel_message);
    const auto v = proto::VmbusVersion::win10_v5_3;
    host::Status st = t.add_message_connection(kAnswerConnection);
    if (st) {
      st = t.post_message(vp, sint, type,
                          proto::encode(proto::VersionResponse{1, 0, 0, kAnswerConnection}, v));
    }
    ok = st.ok() && wait_messages(t, events, 2, deadline);
    const auto next = ok ? show_message(events.got[1]) : std::nullopt;
    ok = next && std::holds_alternative<proto::RequestOffers>(*next) &&
         events.got[1].connection_id == kAnswerConnection;
    if (ok) st = t.post_message(vp, sint, type, proto::encode(proto::AllOffersDelivered{}, v));
    ok = ok && st.ok();
    if (!st) std::fprintf(stderr, "vmbh-relay-probe: %s\n", st.message().c_str());
    // QEMU's ERROR frames (e.g. a message it could not deliver) arrive asynchronously.
    ::usleep(200 * 1000);
    (void)t.dispatch();
    for (const auto& e : t.take_errors()) {
      std::printf("qemu error %s\n", e.c_str());
      ok = false;
    }
    std::printf("answered version_response=0x%x connection=0x%x request_offers=%s all_offers_delivered=%s\n",
                ic->version_requested, kAnswerConnection, next ? "yes" : "no", ok ? "yes" : "no");
  }
  if (ok && ref_time) ok = measure_ref_time(t, deadline);
  stop_qemu();
  return ok ? 0 : 1;
}
