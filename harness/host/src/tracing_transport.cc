#include "vmbh/host/tracing_transport.h"

namespace vmbh::host {

TracingTransport::TracingTransport(Transport& inner, TraceWriter& out) : inner_(inner), out_(out) {
  inner_.set_events(this);
}

trace::TraceRecord TracingTransport::start(trace::Direction direction, trace::Kind kind) const {
  trace::TraceRecord r;
  r.set_time_ns(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0_).count()));
  r.set_direction(direction);
  r.set_kind(kind);
  return r;
}

void TracingTransport::write(const trace::TraceRecord& r) {
  Status s = out_.append(r);
  if (!s && write_status_) write_status_ = s;
}

void TracingTransport::packet(std::uint32_t relid, const std::string& device, bool to_guest,
                              proto::ByteSpan bytes) {
  trace::TraceRecord r = start(to_guest ? trace::HOST_TO_GUEST : trace::GUEST_TO_HOST, trace::RING_PACKET);
  r.set_relid(relid);
  r.set_device(device);
  r.set_payload(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  write(r);
}

void TracingTransport::note(const std::string& text) {
  trace::TraceRecord r = start(trace::HOST_INTERNAL, trace::LOG);
  r.set_text(text);
  write(r);
}

Status TracingTransport::post_message(std::uint32_t vp, std::uint32_t sint, std::uint32_t message_type,
                                      proto::ByteSpan payload) {
  trace::TraceRecord r = start(trace::HOST_TO_GUEST, trace::SYNIC_MESSAGE);
  r.set_vp(vp);
  r.set_sint(sint);
  r.set_message_type(message_type);
  r.set_payload(payload.data(), payload.size());
  write(r);
  return inner_.post_message(vp, sint, message_type, payload);
}

Status TracingTransport::signal_event(std::uint32_t vp, std::uint32_t sint, std::uint32_t flag) {
  trace::TraceRecord r = start(trace::HOST_TO_GUEST, trace::EVENT_SIGNAL);
  r.set_vp(vp);
  r.set_sint(sint);
  r.set_flag(flag);
  write(r);
  return inner_.signal_event(vp, sint, flag);
}

void TracingTransport::on_guest_message(std::uint32_t vp, std::uint32_t connection_id,
                                        std::uint32_t message_type, proto::ByteSpan payload) {
  trace::TraceRecord r = start(trace::GUEST_TO_HOST, trace::SYNIC_MESSAGE);
  r.set_vp(vp);
  r.set_connection_id(connection_id);
  r.set_message_type(message_type);
  r.set_payload(payload.data(), payload.size());
  write(r);
  if (events_ != nullptr) events_->on_guest_message(vp, connection_id, message_type, payload);
}

void TracingTransport::on_guest_signal(std::uint32_t vp, std::uint32_t connection_id) {
  trace::TraceRecord r = start(trace::GUEST_TO_HOST, trace::EVENT_SIGNAL);
  r.set_vp(vp);
  r.set_connection_id(connection_id);
  write(r);
  if (events_ != nullptr) events_->on_guest_signal(vp, connection_id);
}

void TracingTransport::on_guest_reset() {
  write(start(trace::GUEST_TO_HOST, trace::GUEST_RESET));
  if (events_ != nullptr) events_->on_guest_reset();
}

void TracingTransport::on_transport_closed(const std::string& why) {
  trace::TraceRecord r = start(trace::GUEST_TO_HOST, trace::TRANSPORT_CLOSED);
  r.set_text(why);
  write(r);
  if (events_ != nullptr) events_->on_transport_closed(why);
}

}  // namespace vmbh::host
