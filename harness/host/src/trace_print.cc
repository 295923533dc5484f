#include "vmbh/host/trace_print.h"

#include <cstdio>
#include <span>

#include "vmbh/protocols/describe.h"
#include "vmbh/protocols/describe_ic.h"
#include "vmbh/protocols/synic.h"

namespace vmbh::host {
namespace {

constexpr std::uint32_t kChannelMessageType = 1;  // HVMSG_... VMBus channel message

proto::ByteSpan bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::string fmt(const char* f, std::uint64_t a, std::uint64_t b = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
  return buf;
}

const char* arrow(trace::Direction d) {
  switch (d) {
    case trace::GUEST_TO_HOST:
      return "g->h";
    case trace::HOST_TO_GUEST:
      return "h->g";
    case trace::HOST_INTERNAL:
      return "host";
    default:
      return "????";
  }
}

}  // namespace

std::string TracePrinter::line(const trace::TraceRecord& r) {
  std::string out = fmt("%llu.%09llu ", r.time_ns() / 1000000000, r.time_ns() % 1000000000);
  out += arrow(r.direction());
  out += ' ';
  const proto::ByteSpan payload = bytes_of(r.payload());
  switch (r.kind()) {
    case trace::SYNIC_MESSAGE: {
      out += r.direction() == trace::GUEST_TO_HOST ? fmt("vp%llu conn%llu ", r.vp(), r.connection_id())
                                                   : fmt("vp%llu sint%llu ", r.vp(), r.sint());
      if (r.message_type() != kChannelMessageType) {
        out += fmt("synic message type %#llx, %llu bytes", r.message_type(), payload.size());
        break;
      }
      auto m = proto::decode_channel_message(payload, version_);
      if (!m) {
        out += "undecodable channel message (" + m.error().message() + ")";
        break;
      }
      out += proto::describe(*m);
      // Track the version the rest of the trace was spoken in.
      if (const auto* ic = std::get_if<proto::InitiateContact>(&*m)) requested_ = ic->version_requested;
      if (const auto* vr = std::get_if<proto::VersionResponse>(&*m); vr && vr->version_supported != 0) {
        if (auto v = proto::vmbus_version_from_raw(requested_)) version_ = *v;
      }
      break;
    }
    case trace::EVENT_SIGNAL:
      out += r.direction() == trace::GUEST_TO_HOST
                 ? fmt("vp%llu conn%llu signal", r.vp(), r.connection_id())
                 : fmt("vp%llu sint%llu ", r.vp(), r.sint()) + fmt("event flag %llu", r.flag());
      break;
    case trace::GUEST_RESET:
      ic_channels_.clear();  // the guest's drivers start over, negotiations too
      out += "guest reset";
      break;
    case trace::TRANSPORT_CLOSED:
      out += "transport closed: " + r.text();
      break;
    case trace::LOG:
      out += r.text();
      break;
    case trace::RING_PACKET: {
      out += fmt("relid %llu ", r.relid()) + r.device() + " ";
      if (!proto::ic_service_of_device(r.device())) {
        out += proto::describe_packet_summary(payload);
        break;
      }
      IcChannel& ch = ic_channels_[r.relid()];
      if (ch.device != r.device()) ch = IcChannel{r.device(), {}};
      out += proto::describe_ic_packet(r.device(), payload, ch.versions);
      break;
    }
    default:
      out += fmt("record of unknown kind %llu", static_cast<std::uint64_t>(r.kind()));
      break;
  }
  return out;
}

}  // namespace vmbh::host
