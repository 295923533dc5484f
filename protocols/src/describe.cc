#include "vmbh/protocols/describe.h"

#include <cstdio>
#include <type_traits>

namespace vmbh::proto {
namespace {

// Appends " name=value" pairs; hex for ids and handles, decimal for counts.
class Line {
 public:
  explicit Line(const char* what) : s_(what) {}
  Line& dec(const char* name, std::uint64_t v) { return add(name, "%llu", v); }
  Line& hex(const char* name, std::uint64_t v) { return add(name, "%#llx", v); }
  Line& text(const char* name, const std::string& v) {
    s_ += ' ';
    s_ += name;
    s_ += '=';
    s_ += v;
    return *this;
  }
  std::string str() const { return s_; }

 private:
  Line& add(const char* name, const char* fmt, std::uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, fmt, static_cast<unsigned long long>(v));
    return text(name, buf);
  }
  std::string s_;
};

std::string describe_one(const OfferChannel& m) {
  return Line("offer_channel")
      .dec("child_relid", m.child_relid)
      .text("class", m.if_type.to_string())
      .text("instance", m.if_instance.to_string())
      .dec("connection_id", m.connection_id)
      .dec("sub_channel", m.sub_channel_index)
      .hex("flags", m.chn_flags)
      .str();
}
std::string describe_one(const RescindChannelOffer& m) {
  return Line("rescind_channel_offer").dec("child_relid", m.child_relid).str();
}
std::string describe_one(const RequestOffers&) { return "request_offers"; }
std::string describe_one(const AllOffersDelivered&) { return "all_offers_delivered"; }
std::string describe_one(const OpenChannel& m) {
  return Line("open_channel")
      .dec("child_relid", m.child_relid)
      .dec("open_id", m.open_id)
      .hex("gpadl", m.ringbuffer_gpadl)
      .dec("target_vp", m.target_vp)
      .dec("downstream_page_offset", m.downstream_ringbuffer_page_offset)
      .str();
}
std::string describe_one(const OpenChannelResult& m) {
  return Line("open_channel_result")
      .dec("child_relid", m.child_relid)
      .dec("open_id", m.open_id)
      .hex("status", m.status)
      .str();
}
std::string describe_one(const CloseChannel& m) {
  return Line("close_channel").dec("child_relid", m.child_relid).str();
}
std::string describe_one(const GpadlHeader& m) {
  return Line("gpadl_header")
      .dec("child_relid", m.child_relid)
      .hex("gpadl", m.gpadl)
      .dec("range_buflen", m.range_buflen)
      .dec("rangecount", m.rangecount)
      .dec("pfns_here", m.pfns.size())
      .str();
}
std::string describe_one(const GpadlBody& m) {
  return Line("gpadl_body")
      .dec("msgnumber", m.msgnumber)
      .hex("gpadl", m.gpadl)
      .dec("pfns", m.pfns.size())
      .str();
}
std::string describe_one(const GpadlCreated& m) {
  return Line("gpadl_created")
      .dec("child_relid", m.child_relid)
      .hex("gpadl", m.gpadl)
      .hex("status", m.creation_status)
      .str();
}
std::string describe_one(const GpadlTeardown& m) {
  return Line("gpadl_teardown").dec("child_relid", m.child_relid).hex("gpadl", m.gpadl).str();
}
std::string describe_one(const GpadlTorndown& m) {
  return Line("gpadl_torndown").hex("gpadl", m.gpadl).str();
}
std::string describe_one(const RelidReleased& m) {
  return Line("relid_released").dec("child_relid", m.child_relid).str();
}
std::string describe_one(const InitiateContact& m) {
  Line l("initiate_contact");
  l.text("version", version_string(m.version_requested)).dec("target_vcpu", m.target_vcpu);
  if (m.uses_msg_sint()) {
    l.dec("msg_sint", m.msg_sint).dec("msg_vtl", m.msg_vtl).hex("feature_flags", m.feature_flags);
  } else {
    l.hex("interrupt_page", m.interrupt_page);
  }
  return l.hex("monitor_page1", m.monitor_page1).hex("monitor_page2", m.monitor_page2).str();
}
std::string describe_one(const VersionResponse& m) {
  return Line("version_response")
      .dec("supported", m.version_supported)
      .dec("connection_state", m.connection_state)
      .dec("msg_conn_id", m.msg_conn_id)
      .str();
}
std::string describe_one(const Unload&) { return "unload"; }
std::string describe_one(const UnloadResponse&) { return "unload_response"; }
std::string describe_one(const TlConnectRequest& m) {
  return Line("tl_connect_request")
      .text("endpoint", m.guest_endpoint_id.to_string())
      .text("service", m.host_service_id.to_string())
      .str();
}
std::string describe_one(const ModifyChannel& m) {
  return Line("modify_channel").dec("child_relid", m.child_relid).dec("target_vp", m.target_vp).str();
}
std::string describe_one(const TlConnectResult& m) {
  return Line("tl_connect_result")
      .text("endpoint", m.guest_endpoint_id.to_string())
      .text("service", m.host_service_id.to_string())
      .hex("status", m.status)
      .str();
}
std::string describe_one(const ModifyChannelResponse& m) {
  return Line("modify_channel_response").dec("child_relid", m.child_relid).hex("status", m.status).str();
}

}  // namespace

std::string version_string(std::uint32_t raw_version) {
  char buf[24];
  if (is_known_version(static_cast<VmbusVersion>(raw_version))) {
    std::snprintf(buf, sizeof buf, "%u.%u", raw_version >> 16, raw_version & 0xFFFF);
  } else {
    std::snprintf(buf, sizeof buf, "%#x", raw_version);
  }
  return buf;
}

std::string describe(const ChannelMessage& m) {
  return std::visit([](const auto& v) { return describe_one(v); }, m);
}

}  // namespace vmbh::proto
