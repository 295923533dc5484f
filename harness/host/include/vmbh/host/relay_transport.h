// The Transport to a live guest: QEMU's `-device vmbus-relay` over a unix
// socket (docs/relay-protocol.md). The host listens, QEMU connects as a client
// (`-chardev socket,id=relay,path=SOCK -device vmbus-relay,chardev=relay`),
// sends HELLO with the vCPU count and the RAM layout, and the host maps guest
// RAM from the memory-backend-file whose path it was given.
//
//   auto listener = RelayListener::listen("/tmp/x/relay.sock");
//   ... start QEMU ...
//   auto relay = listener->accept("/tmp/x/guest.ram", std::chrono::seconds(30));
//   relay.value()->set_events(&host);
//   relay.value()->add_message_connection(4);   // blocks for QEMU's answer
//   poll(relay.value()->poll_fd()) ... relay.value()->dispatch();
//
// Registrations wait (with a timeout) for QEMU's RESULT; guest frames that
// arrive meanwhile are kept and delivered by the next dispatch().
//
// The guest's Hyper-V reference time (what timesync's vmreferencetime must
// be) is asked of QEMU with REF_TIME on connection and every few seconds
// after; reference_time(now) extrapolates from the best answer.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vmbh/host/guest_ram.h"
#include "vmbh/host/status.h"
#include "vmbh/host/transport.h"
#include "vmbh/protocols/relay.h"

namespace vmbh::host {

class RelayTransport;

// A listening unix socket; the socket file is removed on destruction.
class RelayListener {
 public:
  // Binds and listens on `socket_path` (a stale socket file there is replaced).
  static Result<RelayListener> listen(const std::string& socket_path);

  RelayListener(RelayListener&& o) noexcept;
  RelayListener& operator=(RelayListener&& o) noexcept;
  RelayListener(const RelayListener&) = delete;
  RelayListener& operator=(const RelayListener&) = delete;
  ~RelayListener();

  // Waits for QEMU's connection ("QEMU did not connect within N s"), then
  // runs the HELLO handshake (RelayTransport::connect) for `hello_timeout`
  // (default: what is left of `timeout`, at least 1 s). QEMU connects while
  // it builds the machine and sends HELLO when that is done, which takes
  // seconds on a loaded machine.
  Result<std::unique_ptr<RelayTransport>> accept(
      const std::string& ram_path, std::chrono::milliseconds timeout,
      std::optional<std::chrono::milliseconds> hello_timeout = std::nullopt);
  const std::string& path() const { return path_; }

 private:
  RelayListener(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

class RelayTransport final : public Transport {
 public:
  using Clock = std::chrono::steady_clock;

  // One REF_TIME answer: the guest's reference time (100 ns units) and when
  // QEMU read it, taken as the middle of the request's round trip (so off by
  // at most round_trip / 2).
  struct ReferenceTimeSample {
    std::uint64_t value = 0;
    Clock::time_point at;
    Clock::duration round_trip{};
  };

  // Takes ownership of a connected stream socket, waits up to `timeout` for
  // HELLO, and maps guest RAM from `ram_path` with HELLO's regions.
  static Result<std::unique_ptr<RelayTransport>> connect(int fd, const std::string& ram_path,
                                                         std::chrono::milliseconds timeout);

  RelayTransport(const RelayTransport&) = delete;
  RelayTransport& operator=(const RelayTransport&) = delete;
  ~RelayTransport() override;

  void set_events(HostEvents* events) override { events_ = events; }
  Status add_message_connection(std::uint32_t connection_id) override;
  Status add_event_connection(std::uint32_t connection_id) override;
  Status remove_event_connection(std::uint32_t connection_id) override;
  Status post_message(std::uint32_t vp, std::uint32_t sint, std::uint32_t message_type,
                      proto::ByteSpan payload) override;
  Status signal_event(std::uint32_t vp, std::uint32_t sint, std::uint32_t flag) override;
  const GuestRam& ram() const override { return ram_; }
  int poll_fd() const override { return fd_; }
  Status dispatch() override;

  const proto::RelayHello& hello() const { return hello_; }
  // QEMU's ERROR frames (a post_message/signal_event it could not carry out,
  // e.g. "post_message to vp 9 sint 2: Invalid argument"), oldest first;
  // the transport stays usable. Returns and forgets them.
  std::vector<std::string> take_errors();
  // How long a registration waits for QEMU's RESULT, and a REF_TIME for its
  // answer (default 10 s).
  void set_reply_timeout(std::chrono::milliseconds t) { reply_timeout_ = t; }

  // The guest's reference time at `now` (100 ns units): the kept sample plus
  // the host time since, which drifts from the guest's by the TSC calibration
  // error (10-40 ppm measured). nullopt until QEMU has answered, and for good
  // when it cannot tell (see reference_time_unavailable()).
  std::optional<std::uint64_t> reference_time(Clock::time_point now) const;
  // The sample reference_time() extrapolates from: of the answers so far, the
  // one with the smallest error bound (round_trip / 2 + 100 ppm of its age);
  // an answer that contradicts it beyond both bounds replaces it.
  const std::optional<ReferenceTimeSample>& reference_time_sample() const { return ref_sample_; }
  // QEMU's latest answer, kept or not (for measurements).
  const std::optional<ReferenceTimeSample>& latest_reference_time_answer() const { return ref_latest_; }
  // How many answers contradicted the kept sample (and replaced it).
  std::uint64_t reference_time_jumps() const { return ref_jumps_; }
  // Whether a REF_TIME is waiting for its answer.
  bool reference_time_pending() const { return ref_outstanding_.has_value(); }
  // Why QEMU gives no reference time ("QEMU's vmbus-relay is version 1 ...",
  // "QEMU cannot tell ...: Operation not supported"); empty if it does.
  const std::string& reference_time_unavailable() const { return ref_unavailable_; }
  // Asks QEMU for the reference time now, unless a request is outstanding or
  // QEMU cannot tell. Does not wait: the answer is taken by the read that
  // sees it (dispatch(), or a registration waiting for its RESULT).
  Status request_reference_time();
  // Asks again if the last request is older than the period; fails the
  // transport if QEMU left a request unanswered for the reply timeout.
  // dispatch() calls it; an owner whose loop wakes regularly calls it too,
  // so that an idle guest still gets a fresh sample.
  Status refresh_reference_time(Clock::time_point now);
  // How often refresh_reference_time() asks (default 5 s).
  void set_reference_time_period(std::chrono::milliseconds p) { ref_period_ = p; }

 private:
  RelayTransport(int fd, proto::RelayHello hello, GuestRam ram, proto::RelayFrameReader reader);

  Status send(const proto::RelayFrame& f);
  // Reads until a whole frame is there or the deadline passes (sets timed_out;
  // any other failure closes the transport).
  Result<proto::RelayFrame> read_frame(std::chrono::steady_clock::time_point deadline, bool& timed_out);
  Status await_result(proto::RelayType request, std::uint32_t connection_id);
  // Delivers one QEMU frame to events_ (a REF_TIME answer: to the sample).
  void deliver(const proto::RelayFrame& f, Clock::time_point received);
  void take_reference_time(const proto::RelayRefTimeAnswer& a, Clock::time_point received);
  Status fail(std::string why);

  int fd_ = -1;
  proto::RelayHello hello_;
  GuestRam ram_;
  proto::RelayFrameReader reader_;
  HostEvents* events_ = nullptr;
  std::deque<proto::RelayFrame> pending_;  // read while waiting for a RESULT
  std::vector<std::string> errors_;
  std::chrono::milliseconds reply_timeout_{10'000};
  std::string closed_;  // why the transport is unusable; empty while it is fine

  std::optional<ReferenceTimeSample> ref_sample_;
  std::optional<ReferenceTimeSample> ref_latest_;
  std::uint64_t ref_jumps_ = 0;
  std::string ref_unavailable_;
  std::uint32_t ref_next_cookie_ = 1;
  std::optional<std::pair<std::uint32_t, Clock::time_point>> ref_outstanding_;  // cookie, sent
  Clock::time_point ref_last_request_{};
  std::chrono::milliseconds ref_period_{5'000};
};

}  // namespace vmbh::host
