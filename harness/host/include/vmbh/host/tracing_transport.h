// A Transport decorator that records everything crossing it into a trace:
// guest messages, signals and resets on the way in, SynIC messages and event
// flags on the way out. Sits between the real transport and the channel
// manager, so neither knows about tracing.
#pragma once

#include <chrono>
#include <functional>

#include "vmbh/host/trace_file.h"
#include "vmbh/host/transport.h"

namespace vmbh::host {

class TracingTransport final : public Transport, private HostEvents {
 public:
  TracingTransport(Transport& inner, TraceWriter& out);

  // Record a host log line (info/reject/broken) in the trace too.
  void note(const std::string& text);
  // Record one ring packet of a channel (the channel manager's packet observer).
  void packet(std::uint32_t relid, const std::string& device, bool to_guest, proto::ByteSpan bytes);
  // The first write failure, if any (tracing never stops the host).
  const Status& write_status() const { return write_status_; }

  void set_events(HostEvents* events) override { events_ = events; }
  Status add_message_connection(std::uint32_t id) override { return inner_.add_message_connection(id); }
  Status add_event_connection(std::uint32_t id) override { return inner_.add_event_connection(id); }
  Status remove_event_connection(std::uint32_t id) override { return inner_.remove_event_connection(id); }
  Status post_message(std::uint32_t vp, std::uint32_t sint, std::uint32_t message_type,
                      proto::ByteSpan payload) override;
  Status signal_event(std::uint32_t vp, std::uint32_t sint, std::uint32_t flag) override;
  const GuestRam& ram() const override { return inner_.ram(); }
  int poll_fd() const override { return inner_.poll_fd(); }
  Status dispatch() override { return inner_.dispatch(); }

 private:
  void on_guest_message(std::uint32_t vp, std::uint32_t connection_id, std::uint32_t message_type,
                        proto::ByteSpan payload) override;
  void on_guest_signal(std::uint32_t vp, std::uint32_t connection_id) override;
  void on_guest_reset() override;
  void on_transport_closed(const std::string& why) override;

  trace::TraceRecord start(trace::Direction direction, trace::Kind kind) const;
  void write(const trace::TraceRecord& r);

  Transport& inner_;
  TraceWriter& out_;
  HostEvents* events_ = nullptr;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  Status write_status_;
};

}  // namespace vmbh::host
