#include "vmbh/protocols/vmbus.h"

#include <algorithm>
#include <type_traits>

namespace vmbh::proto {

namespace {

// --- Body decoders: `r` is positioned after the 8-byte header. Fixed-layout
// bodies read their fields and leave trailing bytes unread (the length policy
// in vmbus.h).

Result<ChannelMessage> decode_offer(ByteReader& r) {
  OfferChannel m;
  m.if_type = read_guid(r, "offer.if_type");
  m.if_instance = read_guid(r, "offer.if_instance");
  m.reserved1 = r.u64("offer.reserved1");
  m.reserved2 = r.u64("offer.reserved2");
  m.chn_flags = r.u16("offer.chn_flags");
  m.mmio_megabytes = r.u16("offer.mmio_megabytes");
  r.read_into(m.user_def, "offer.user_def");
  m.sub_channel_index = r.u16("offer.sub_channel_index");
  m.reserved3 = r.u16("offer.reserved3");
  m.child_relid = r.u32("offer.child_relid");
  m.monitor_id = r.u8("offer.monitorid");
  m.monitor_flags = r.u8("offer.monitor_allocated");
  m.interrupt_flags = r.u16("offer.is_dedicated_interrupt");
  m.connection_id = r.u32("offer.connection_id");
  return r.finish(ChannelMessage(m));
}

Result<ChannelMessage> decode_gpadl_header(ByteReader& r) {
  GpadlHeader m;
  m.child_relid = r.u32("gpadl_header.child_relid");
  m.gpadl = r.u32("gpadl_header.gpadl");
  const std::size_t buflen_at = r.offset();
  m.range_buflen = r.u16("gpadl_header.range_buflen");
  const std::size_t count_at = r.offset();
  m.rangecount = r.u16("gpadl_header.rangecount");
  m.byte_count = r.u32("gpa_range.byte_count");
  m.byte_offset = r.u32("gpa_range.byte_offset");
  if (!r.ok()) return *r.error();
  if (r.remaining() % 8 != 0) return Error{Errc::bad_length, "gpa_range.pfn_array", r.offset()};
  const std::size_t n = r.remaining() / 8;  // <= 26 as the message is <= 240 bytes
  for (std::size_t i = 0; i < n; ++i) m.pfns.push_back(r.u64("gpa_range.pfn_array"));
  if (m.rangecount == 0) return Error{Errc::bad_value, "gpadl_header.rangecount", count_at};
  if (m.range_buflen % 8 != 0 || m.range_buflen < kGpaRangeHeaderSize + 8 * n) {
    return Error{Errc::bad_length, "gpadl_header.range_buflen", buflen_at};
  }
  return r.finish(ChannelMessage(m));
}

Result<ChannelMessage> decode_gpadl_body(ByteReader& r) {
  GpadlBody m;
  m.msgnumber = r.u32("gpadl_body.msgnumber");
  m.gpadl = r.u32("gpadl_body.gpadl");
  if (!r.ok()) return *r.error();
  if (r.remaining() % 8 != 0) return Error{Errc::bad_length, "gpadl_body.pfn", r.offset()};
  const std::size_t n = r.remaining() / 8;  // <= 28
  for (std::size_t i = 0; i < n; ++i) m.pfns.push_back(r.u64("gpadl_body.pfn"));
  return r.finish(ChannelMessage(m));
}

Result<ChannelMessage> decode_initiate_contact(ByteReader& r) {
  InitiateContact m;
  m.version_requested = r.u32("initiate_contact.vmbus_version_requested");
  m.target_vcpu = r.u32("initiate_contact.target_vcpu");
  if (m.uses_msg_sint()) {
    m.msg_sint = r.u8("initiate_contact.msg_sint");
    m.msg_vtl = r.u8("initiate_contact.msg_vtl");
    m.reserved = r.u16("initiate_contact.reserved");
    m.feature_flags = r.u32("initiate_contact.feature_flags");
  } else {
    m.interrupt_page = r.u64("initiate_contact.interrupt_page");
  }
  m.monitor_page1 = r.u64("initiate_contact.monitor_page1");
  m.monitor_page2 = r.u64("initiate_contact.monitor_page2");
  return r.finish(ChannelMessage(m));
}

Result<ChannelMessage> decode_body(ChannelMessageType type, ByteReader& r, VmbusVersion v) {
  using T = ChannelMessageType;
  switch (type) {
    case T::offer_channel:
      return decode_offer(r);
    case T::rescind_channel_offer: {
      RescindChannelOffer m;
      m.child_relid = r.u32("rescind.child_relid");
      return r.finish(ChannelMessage(m));
    }
    case T::request_offers:
      return ChannelMessage(RequestOffers{});
    case T::all_offers_delivered:
      return ChannelMessage(AllOffersDelivered{});
    case T::open_channel: {
      OpenChannel m;
      m.child_relid = r.u32("open_channel.child_relid");
      m.open_id = r.u32("open_channel.openid");
      m.ringbuffer_gpadl = r.u32("open_channel.ringbuffer_gpadlhandle");
      m.target_vp = r.u32("open_channel.target_vp");
      m.downstream_ringbuffer_page_offset = r.u32("open_channel.downstream_ringbuffer_pageoffset");
      r.read_into(m.user_data, "open_channel.userdata");
      return r.finish(ChannelMessage(m));
    }
    case T::open_channel_result: {
      OpenChannelResult m;
      m.child_relid = r.u32("open_result.child_relid");
      m.open_id = r.u32("open_result.openid");
      m.status = r.u32("open_result.status");
      return r.finish(ChannelMessage(m));
    }
    case T::close_channel: {
      CloseChannel m;
      m.child_relid = r.u32("close_channel.child_relid");
      return r.finish(ChannelMessage(m));
    }
    case T::gpadl_header:
      return decode_gpadl_header(r);
    case T::gpadl_body:
      return decode_gpadl_body(r);
    case T::gpadl_created: {
      GpadlCreated m;
      m.child_relid = r.u32("gpadl_created.child_relid");
      m.gpadl = r.u32("gpadl_created.gpadl");
      m.creation_status = r.u32("gpadl_created.creation_status");
      return r.finish(ChannelMessage(m));
    }
    case T::gpadl_teardown: {
      GpadlTeardown m;
      m.child_relid = r.u32("gpadl_teardown.child_relid");
      m.gpadl = r.u32("gpadl_teardown.gpadl");
      return r.finish(ChannelMessage(m));
    }
    case T::gpadl_torndown: {
      GpadlTorndown m;
      m.gpadl = r.u32("gpadl_torndown.gpadl");
      return r.finish(ChannelMessage(m));
    }
    case T::relid_released: {
      RelidReleased m;
      m.child_relid = r.u32("relid_released.child_relid");
      return r.finish(ChannelMessage(m));
    }
    case T::initiate_contact:
      return decode_initiate_contact(r);
    case T::version_response: {
      VersionResponse m;
      m.version_supported = r.u8("version_response.version_supported");
      m.connection_state = r.u8("version_response.connection_state");
      m.padding = r.u16("version_response.padding");
      m.msg_conn_id = r.u32("version_response.msg_conn_id");
      return r.finish(ChannelMessage(m));
    }
    case T::unload:
      return ChannelMessage(Unload{});
    case T::unload_response:
      return ChannelMessage(UnloadResponse{});
    case T::tl_connect_request: {
      TlConnectRequest m;
      m.guest_endpoint_id = read_guid(r, "tl_connect_request.guest_endpoint_id");
      m.host_service_id = read_guid(r, "tl_connect_request.host_service_id");
      if (r.ok() && has_feature(v, VmbusFeature::tl_connect_silo_id) && r.remaining() >= 16) {
        m.silo_id = read_guid(r, "tl_connect_request.silo_id");
      }
      return r.finish(ChannelMessage(m));
    }
    case T::modify_channel: {
      ModifyChannel m;
      m.child_relid = r.u32("modify_channel.child_relid");
      m.target_vp = r.u32("modify_channel.target_vp");
      return r.finish(ChannelMessage(m));
    }
    case T::tl_connect_result: {
      TlConnectResult m;
      m.guest_endpoint_id = read_guid(r, "tl_connect_result.guest_endpoint_id");
      m.host_service_id = read_guid(r, "tl_connect_result.host_service_id");
      m.status = r.u32("tl_connect_result.status");
      return r.finish(ChannelMessage(m));
    }
    case T::modify_channel_response: {
      ModifyChannelResponse m;
      m.child_relid = r.u32("modify_channel_response.child_relid");
      m.status = r.u32("modify_channel_response.status");
      return r.finish(ChannelMessage(m));
    }
    case T::invalid:
      break;
  }
  return Error{Errc::unknown_type, "channel_message.msgtype", 0};
}

// --- Body encoders.

void encode_body(const OfferChannel& m, VmbusVersion, ByteWriter& w) {
  write_guid(w, m.if_type);
  write_guid(w, m.if_instance);
  w.u64(m.reserved1);
  w.u64(m.reserved2);
  w.u16(m.chn_flags);
  w.u16(m.mmio_megabytes);
  w.bytes(m.user_def);
  w.u16(m.sub_channel_index);
  w.u16(m.reserved3);
  w.u32(m.child_relid);
  w.u8(m.monitor_id);
  w.u8(m.monitor_flags);
  w.u16(m.interrupt_flags);
  w.u32(m.connection_id);
}
void encode_body(const RescindChannelOffer& m, VmbusVersion, ByteWriter& w) { w.u32(m.child_relid); }
void encode_body(const RequestOffers&, VmbusVersion, ByteWriter&) {}
void encode_body(const AllOffersDelivered&, VmbusVersion, ByteWriter&) {}
void encode_body(const OpenChannel& m, VmbusVersion, ByteWriter& w) {
  w.u32(m.child_relid);
  w.u32(m.open_id);
  w.u32(m.ringbuffer_gpadl);
  w.u32(m.target_vp);
  w.u32(m.downstream_ringbuffer_page_offset);
  w.bytes(m.user_data);
}
void encode_body(const OpenChannelResult& m, VmbusVersion, ByteWriter& w) {
  w.u32(m.child_relid);
  w.u32(m.open_id);
  w.u32(m.status);
}
void encode_body(const CloseChannel& m, VmbusVersion, ByteWriter& w) { w.u32(m.child_relid); }
void encode_body(const GpadlHeader& m, VmbusVersion, ByteWriter& w) {
  w.u32(m.child_relid);
  w.u32(m.gpadl);
  w.u16(m.range_buflen);
  w.u16(m.rangecount);
  w.u32(m.byte_count);
  w.u32(m.byte_offset);
  for (std::uint64_t pfn : m.pfns) w.u64(pfn);
}
void encode_body(const GpadlBody& m, VmbusVersion, ByteWriter& w) {
  w.u32(m.msgnumber);
  w.u32(m.gpadl);
  for (std::uint64_t pfn : m.pfns) w.u64(pfn);
}
void encode_body(const GpadlCreated& m, VmbusVersion, ByteWriter& w) {
  w.u32(m.child_relid);
  w.u32(m.gpadl);
  w.u32(m.creation_status);
}
void encode_body(const GpadlTeardown& m, VmbusVersion, ByteWriter& w) {
  w.u32(m.child_relid);
  w.u32(m.gpadl);
}
void encode_body(const GpadlTorndown& m, VmbusVersion, ByteWriter& w) { w.u32(m.gpadl); }
void encode_body(const RelidReleased& m, VmbusVersion, ByteWriter& w) { w.u32(m.child_relid); }
void encode_body(const InitiateContact& m, VmbusVersion, ByteWriter& w) {
  w.u32(m.version_requested);
  w.u32(m.target_vcpu);
  if (m.uses_msg_sint()) {
    w.u8(m.msg_sint);
    w.u8(m.msg_vtl);
    w.u16(m.reserved);
    w.u32(m.feature_flags);
  } else {
    w.u64(m.interrupt_page);
  }
  w.u64(m.monitor_page1);
  w.u64(m.monitor_page2);
}
void encode_body(const VersionResponse& m, VmbusVersion, ByteWriter& w) {
  w.u8(m.version_supported);
  w.u8(m.connection_state);
  w.u16(m.padding);
  w.u32(m.msg_conn_id);
}
void encode_body(const Unload&, VmbusVersion, ByteWriter&) {}
void encode_body(const UnloadResponse&, VmbusVersion, ByteWriter&) {}
void encode_body(const TlConnectRequest& m, VmbusVersion v, ByteWriter& w) {
  write_guid(w, m.guest_endpoint_id);
  write_guid(w, m.host_service_id);
  if (m.silo_id && has_feature(v, VmbusFeature::tl_connect_silo_id)) write_guid(w, *m.silo_id);
}
void encode_body(const ModifyChannel& m, VmbusVersion, ByteWriter& w) {
  w.u32(m.child_relid);
  w.u32(m.target_vp);
}
void encode_body(const TlConnectResult& m, VmbusVersion, ByteWriter& w) {
  write_guid(w, m.guest_endpoint_id);
  write_guid(w, m.host_service_id);
  w.u32(m.status);
}
void encode_body(const ModifyChannelResponse& m, VmbusVersion, ByteWriter& w) {
  w.u32(m.child_relid);
  w.u32(m.status);
}

}  // namespace

std::uint32_t OfferChannel::pipe_mode() const {
  ByteReader r(user_def);
  return r.u32("offer.pipe_mode");
}

ChannelMessageType message_type(const ChannelMessage& m) {
  using T = ChannelMessageType;
  // In the order of the ChannelMessage alternatives.
  static constexpr std::array<T, std::variant_size_v<ChannelMessage>> kTypes = {
      T::offer_channel,
      T::rescind_channel_offer,
      T::request_offers,
      T::all_offers_delivered,
      T::open_channel,
      T::open_channel_result,
      T::close_channel,
      T::gpadl_header,
      T::gpadl_body,
      T::gpadl_created,
      T::gpadl_teardown,
      T::gpadl_torndown,
      T::relid_released,
      T::initiate_contact,
      T::version_response,
      T::unload,
      T::unload_response,
      T::tl_connect_request,
      T::modify_channel,
      T::tl_connect_result,
      T::modify_channel_response,
  };
  return kTypes[m.index()];
}

std::optional<VmbusVersion> channel_message_since(ChannelMessageType type) {
  using T = ChannelMessageType;
  switch (type) {
    case T::offer_channel:
    case T::rescind_channel_offer:
    case T::request_offers:
    case T::all_offers_delivered:
    case T::open_channel:
    case T::open_channel_result:
    case T::close_channel:
    case T::gpadl_header:
    case T::gpadl_body:
    case T::gpadl_created:
    case T::gpadl_teardown:
    case T::gpadl_torndown:
    case T::relid_released:
    case T::initiate_contact:
    case T::version_response:
    case T::unload:
    case T::unload_response:
      return VmbusVersion::ws2008;
    case T::tl_connect_request:
    case T::tl_connect_result:
      return VmbusVersion::win10;
    case T::modify_channel:
      return VmbusVersion::win10_v4_1;
    case T::modify_channel_response:
      return VmbusVersion::win10_v5_3;
    case T::invalid:
      break;
  }
  return std::nullopt;
}

bool channel_message_exists(ChannelMessageType type, VmbusVersion v) {
  auto since = channel_message_since(type);
  return since.has_value() && *since <= v;
}

std::size_t channel_message_min_size(ChannelMessageType type) {
  using T = ChannelMessageType;
  constexpr std::size_t h = kChannelMessageHeaderSize;
  switch (type) {
    case T::offer_channel:
      return kOfferChannelSize;
    case T::rescind_channel_offer:
    case T::close_channel:
    case T::gpadl_torndown:
    case T::relid_released:
      return h + 4;
    case T::request_offers:
    case T::all_offers_delivered:
    case T::unload:
    case T::unload_response:
      return h;
    case T::open_channel:
      return kOpenChannelSize;
    case T::open_channel_result:
    case T::gpadl_created:
      return h + 12;
    case T::gpadl_header:
      return kGpadlHeaderMinSize;
    case T::gpadl_body:
      return kGpadlBodyFixedSize;
    case T::gpadl_teardown:
    case T::modify_channel:
    case T::modify_channel_response:
      return h + 8;
    case T::initiate_contact:
      return kInitiateContactSize;
    case T::version_response:
      return kVersionResponseSize;
    case T::tl_connect_request:
      return kTlConnectRequestSize;
    case T::tl_connect_result:
      return kTlConnectResultSize;
    case T::invalid:
      break;
  }
  return h;
}

Result<ChannelMessage> decode_channel_message(ByteSpan msg, VmbusVersion v) {
  if (!is_known_version(v)) return Error{Errc::bad_version, "channel_message.version", 0};
  if (msg.size() > kChannelMessageMaxSize) {
    return Error{Errc::bad_length, "channel_message.size", kChannelMessageMaxSize};
  }
  ByteReader r(msg);
  const std::uint32_t raw_type = r.u32("channel_message.msgtype");
  (void)r.u32("channel_message.padding");
  if (!r.ok()) return *r.error();
  const auto type = static_cast<ChannelMessageType>(raw_type);
  if (raw_type >= kChannelMessageTypeCount || !channel_message_exists(type, v)) {
    return Error{Errc::unknown_type, "channel_message.msgtype", 0};
  }
  return decode_body(type, r, v);
}

void encode(const ChannelMessage& m, VmbusVersion v, ByteWriter& w) {
  w.u32(static_cast<std::uint32_t>(message_type(m)));
  w.u32(0);
  std::visit([&](const auto& body) { encode_body(body, v, w); }, m);
}

Bytes encode(const ChannelMessage& m, VmbusVersion v) {
  Bytes out;
  out.reserve(kChannelMessageMaxSize);
  ByteWriter w(out);
  encode(m, v, w);
  return out;
}

const char* to_string(ChannelMessageType type) {
  using T = ChannelMessageType;
  switch (type) {
    case T::invalid:
      return "invalid";
    case T::offer_channel:
      return "offer_channel";
    case T::rescind_channel_offer:
      return "rescind_channel_offer";
    case T::request_offers:
      return "request_offers";
    case T::all_offers_delivered:
      return "all_offers_delivered";
    case T::open_channel:
      return "open_channel";
    case T::open_channel_result:
      return "open_channel_result";
    case T::close_channel:
      return "close_channel";
    case T::gpadl_header:
      return "gpadl_header";
    case T::gpadl_body:
      return "gpadl_body";
    case T::gpadl_created:
      return "gpadl_created";
    case T::gpadl_teardown:
      return "gpadl_teardown";
    case T::gpadl_torndown:
      return "gpadl_torndown";
    case T::relid_released:
      return "relid_released";
    case T::initiate_contact:
      return "initiate_contact";
    case T::version_response:
      return "version_response";
    case T::unload:
      return "unload";
    case T::unload_response:
      return "unload_response";
    case T::tl_connect_request:
      return "tl_connect_request";
    case T::modify_channel:
      return "modify_channel";
    case T::tl_connect_result:
      return "tl_connect_result";
    case T::modify_channel_response:
      return "modify_channel_response";
  }
  return "unknown";
}

}  // namespace vmbh::proto
