// An in-memory Transport whose guest end is driven in-process (by
// harness/guest_model, a fuzzer or a benchmark). Deterministic, no threads:
//
//   guest_post_message / guest_signal_event / guest_reset  queue guest actions;
//   dispatch()                 delivers the queued actions to the HostEvents sink, in order;
//   post_message / signal_event (the host) land in the guest's inbox and
//   event-flag sets, which the guest end drains with next_message() /
//   take_events().
//
// Differences from a real SynIC, on purpose: the message inbox is unbounded
// (no busy slot or EOM), and the event flags of one (vp, sint) are a set
// rather than a 2048-bit page. Both sides see the same guest RAM, a memfd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "vmbh/host/guest_ram.h"
#include "vmbh/host/transport.h"
#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/synic.h"

namespace vmbh::host {

struct LoopbackOptions {
  std::uint64_t ram_size = std::uint64_t{16} * 1024 * 1024;
  std::uint32_t vp_count = 4;  // post_message/signal_event to a higher VP fail, like the hypervisor's
  // Released guest RAM mappings kept for reuse (GuestRam::set_mapping_cache):
  // for callers that open channels on the same pages over and over (fuzzers).
  std::size_t cached_mappings = 0;
};

// A SynIC message the host posted, as the guest finds it.
struct LoopbackMessage {
  std::uint32_t vp = 0;
  std::uint32_t sint = 0;
  std::uint32_t message_type = 0;
  proto::Bytes payload;
};

class LoopbackTransport final : public Transport {
 public:
  static Result<LoopbackTransport> create(LoopbackOptions options = {});

  // ---- Transport (the host's side)
  void set_events(HostEvents* events) override { events_ = events; }
  Status add_message_connection(std::uint32_t connection_id) override;
  Status add_event_connection(std::uint32_t connection_id) override;
  Status remove_event_connection(std::uint32_t connection_id) override;
  Status post_message(std::uint32_t vp, std::uint32_t sint, std::uint32_t message_type,
                      proto::ByteSpan payload) override;
  Status signal_event(std::uint32_t vp, std::uint32_t sint, std::uint32_t flag) override;
  const GuestRam& ram() const override { return ram_; }
  int poll_fd() const override { return -1; }
  Status dispatch() override;

  // ---- The guest's side
  // HvPostMessage: invalid_connection_id for a connection the host did not
  // register, invalid_parameter for a payload over 240 bytes or a VP out of
  // range, success once queued.
  proto::HvStatus guest_post_message(std::uint32_t vp, std::uint32_t connection_id,
                                     std::uint32_t message_type, proto::ByteSpan payload);
  // HvSignalEvent on an event connection (flag number 0, as Linux uses it).
  proto::HvStatus guest_signal_event(std::uint32_t vp, std::uint32_t connection_id);
  // The guest was reset: queued guest actions, undelivered host messages and
  // events, and every registered connection are dropped (as QEMU's relay
  // does), then on_guest_reset is delivered by dispatch().
  void guest_reset();
  // The "VM" went away: on_transport_closed(why) on the next dispatch(), and
  // every later dispatch() fails.
  void close(std::string why);
  // Back to the state create() left it in, for another session on the same
  // RAM without the cost of new RAM (fuzzers run one per input): no event
  // sink, no connections, nothing queued, not closed, counters at zero, and
  // guest RAM all zeroes (every page written through a mapping of ram() is
  // cleared: GuestRam::zero_touched). Call it with no host or guest model
  // attached.
  Status reset();

  bool has_pending_guest_actions() const { return !actions_.empty(); }
  // The oldest undelivered host message, any (vp, sint).
  std::optional<LoopbackMessage> next_message();
  std::size_t pending_messages() const { return inbox_.size(); }
  // Flags set on (vp, sint) since the last call, ascending; clears them.
  std::vector<std::uint32_t> take_events(std::uint32_t vp, std::uint32_t sint);
  // Every (vp, sint, flag) set, cleared.
  struct Event {
    std::uint32_t vp, sint, flag;
  };
  std::vector<Event> take_all_events();
  bool has_events() const { return !events_set_.empty(); }

  const std::set<std::uint32_t>& message_connections() const { return message_connections_; }
  const std::set<std::uint32_t>& event_connections() const { return event_connections_; }

  // Counters for tests of the signalling rules and for benchmarks.
  std::uint64_t host_messages_posted() const { return host_messages_; }
  std::uint64_t host_signals() const { return host_signals_; }
  std::uint64_t guest_signals() const { return guest_signals_; }

 private:
  explicit LoopbackTransport(GuestRam ram, LoopbackOptions options)
      : ram_(std::move(ram)), options_(options) {}

  struct Action {
    enum class Kind : std::uint8_t { message, signal, reset, closed } kind;
    std::uint32_t vp = 0;
    std::uint32_t connection_id = 0;
    std::uint32_t message_type = 0;
    proto::Bytes payload;
    std::string why;
  };

  GuestRam ram_;
  LoopbackOptions options_;
  HostEvents* events_ = nullptr;
  std::set<std::uint32_t> message_connections_;
  std::set<std::uint32_t> event_connections_;
  std::deque<Action> actions_;
  std::deque<LoopbackMessage> inbox_;
  std::set<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>> events_set_;  // (vp, sint, flag)
  bool closed_ = false;
  std::string closed_why_;
  std::uint64_t host_messages_ = 0;
  std::uint64_t host_signals_ = 0;
  std::uint64_t guest_signals_ = 0;
};

}  // namespace vmbh::host
