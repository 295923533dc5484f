#include "vmbh/host/loopback_transport.h"

#include <string>

namespace vmbh::host {
namespace {

constexpr std::uint32_t kEventFlagCount = 2048;  // bits in one SINT's event-flags slot

}  // namespace

Result<LoopbackTransport> LoopbackTransport::create(LoopbackOptions options) {
  auto ram = GuestRam::create_anonymous(options.ram_size);
  if (!ram) return ram.status();
  if (options.vp_count == 0) return Status::fail("loopback: vp_count must be at least 1");
  ram->track_touched();
  ram->set_mapping_cache(options.cached_mappings);
  return LoopbackTransport(std::move(ram).value(), options);
}

Status LoopbackTransport::reset() {
  events_ = nullptr;
  message_connections_.clear();
  event_connections_.clear();
  actions_.clear();
  inbox_.clear();
  events_set_.clear();
  closed_ = false;
  closed_why_.clear();
  host_messages_ = 0;
  host_signals_ = 0;
  guest_signals_ = 0;
  return ram_.zero_touched();
}

Status LoopbackTransport::add_message_connection(std::uint32_t connection_id) {
  if (connection_id > proto::kConnectionIdMask) {
    return Status::fail("loopback: message connection id " + std::to_string(connection_id) +
                        " is wider than 24 bits");
  }
  message_connections_.insert(connection_id);
  return {};
}

Status LoopbackTransport::add_event_connection(std::uint32_t connection_id) {
  if (connection_id > proto::kConnectionIdMask) {
    return Status::fail("loopback: event connection id " + std::to_string(connection_id) +
                        " is wider than 24 bits");
  }
  event_connections_.insert(connection_id);
  return {};
}

Status LoopbackTransport::remove_event_connection(std::uint32_t connection_id) {
  if (event_connections_.erase(connection_id) == 0)
    return Status::fail("loopback: event connection " + std::to_string(connection_id) + " is not registered");
  return {};
}

Status LoopbackTransport::post_message(std::uint32_t vp, std::uint32_t sint, std::uint32_t message_type,
                                       proto::ByteSpan payload) {
  if (closed_) return Status::fail("loopback: closed (" + closed_why_ + ")");
  if (vp >= options_.vp_count) {
    return Status::fail("loopback: post_message to VP " + std::to_string(vp) + ", the guest has " +
                        std::to_string(options_.vp_count));
  }
  if (sint >= proto::kSynicSintCount)
    return Status::fail("loopback: post_message to SINT " + std::to_string(sint));
  if (payload.size() > proto::kSynicMaxPayload)
    return Status::fail("loopback: message of " + std::to_string(payload.size()) + " bytes exceeds 240");
  inbox_.push_back(LoopbackMessage{vp, sint, message_type, proto::Bytes(payload.begin(), payload.end())});
  ++host_messages_;
  return {};
}

Status LoopbackTransport::signal_event(std::uint32_t vp, std::uint32_t sint, std::uint32_t flag) {
  if (closed_) return Status::fail("loopback: closed (" + closed_why_ + ")");
  if (vp >= options_.vp_count) {
    return Status::fail("loopback: signal_event to VP " + std::to_string(vp) + ", the guest has " +
                        std::to_string(options_.vp_count));
  }
  if (sint >= proto::kSynicSintCount || flag >= kEventFlagCount) {
    return Status::fail("loopback: signal_event to SINT " + std::to_string(sint) + " flag " +
                        std::to_string(flag));
  }
  events_set_.emplace(vp, sint, flag);
  ++host_signals_;
  return {};
}

Status LoopbackTransport::dispatch() {
  if (closed_ && actions_.empty()) return Status::fail("loopback: closed (" + closed_why_ + ")");
  // The host never queues guest actions, so this terminates; actions the
  // guest end queues from inside a callback are delivered in this call too.
  while (!actions_.empty()) {
    Action a = std::move(actions_.front());
    actions_.pop_front();
    if (events_ == nullptr) continue;
    switch (a.kind) {
      case Action::Kind::message:
        events_->on_guest_message(a.vp, a.connection_id, a.message_type, a.payload);
        break;
      case Action::Kind::signal:
        events_->on_guest_signal(a.vp, a.connection_id);
        break;
      case Action::Kind::reset:
        events_->on_guest_reset();
        break;
      case Action::Kind::closed:
        events_->on_transport_closed(a.why);
        return Status::fail("loopback: closed (" + a.why + ")");
    }
  }
  return {};
}

proto::HvStatus LoopbackTransport::guest_post_message(std::uint32_t vp, std::uint32_t connection_id,
                                                      std::uint32_t message_type, proto::ByteSpan payload) {
  if (closed_) return proto::HvStatus::invalid_connection_id;
  if (vp >= options_.vp_count || payload.size() > proto::kSynicMaxPayload || message_type == 0 ||
      (message_type & proto::kHvMessageTypeHypervisorBit) != 0) {
    return proto::HvStatus::invalid_parameter;
  }
  if (message_connections_.count(connection_id) == 0) return proto::HvStatus::invalid_connection_id;
  actions_.push_back(Action{Action::Kind::message,
                            vp,
                            connection_id,
                            message_type,
                            proto::Bytes(payload.begin(), payload.end()),
                            {}});
  return proto::HvStatus::success;
}

proto::HvStatus LoopbackTransport::guest_signal_event(std::uint32_t vp, std::uint32_t connection_id) {
  if (closed_) return proto::HvStatus::invalid_connection_id;
  if (vp >= options_.vp_count) return proto::HvStatus::invalid_parameter;
  if (event_connections_.count(connection_id) == 0) return proto::HvStatus::invalid_connection_id;
  ++guest_signals_;
  actions_.push_back(Action{Action::Kind::signal, vp, connection_id, 0, {}, {}});
  return proto::HvStatus::success;
}

void LoopbackTransport::guest_reset() {
  actions_.clear();
  inbox_.clear();
  events_set_.clear();
  message_connections_.clear();
  event_connections_.clear();
  actions_.push_back(Action{Action::Kind::reset, 0, 0, 0, {}, {}});
}

void LoopbackTransport::close(std::string why) {
  if (closed_) return;
  closed_ = true;
  closed_why_ = why;
  actions_.push_back(Action{Action::Kind::closed, 0, 0, 0, {}, std::move(why)});
}

std::optional<LoopbackMessage> LoopbackTransport::next_message() {
  if (inbox_.empty()) return std::nullopt;
  LoopbackMessage m = std::move(inbox_.front());
  inbox_.pop_front();
  return m;
}

std::vector<std::uint32_t> LoopbackTransport::take_events(std::uint32_t vp, std::uint32_t sint) {
  std::vector<std::uint32_t> out;
  auto it = events_set_.lower_bound({vp, sint, 0});
  while (it != events_set_.end() && std::get<0>(*it) == vp && std::get<1>(*it) == sint) {
    out.push_back(std::get<2>(*it));
    it = events_set_.erase(it);
  }
  return out;
}

std::vector<LoopbackTransport::Event> LoopbackTransport::take_all_events() {
  std::vector<Event> out;
  out.reserve(events_set_.size());
  for (const auto& [vp, sint, flag] : events_set_) out.push_back(Event{vp, sint, flag});
  events_set_.clear();
  return out;
}

}  // namespace vmbh::host
