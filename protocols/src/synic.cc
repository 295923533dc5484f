#include "vmbh/protocols/synic.h"

#include <algorithm>

namespace vmbh::proto {

namespace {

template <std::size_t N>
void copy_into(std::array<std::byte, N>& dst, ByteSpan src) {
  std::copy_n(src.begin(), std::min(src.size(), N), dst.begin());
}

}  // namespace

Result<SynicMessage> decode_synic_message(ByteSpan slot) {
  ByteReader r(slot);
  SynicMessage m;
  m.message_type = r.u32("synic.message_type");
  const std::size_t size_at = r.offset();
  m.payload_size = r.u8("synic.payload_size");
  m.flags = r.u8("synic.message_flags");
  m.reserved = r.u16("synic.reserved");
  m.sender = r.u64("synic.sender");
  copy_into(m.payload, r.bytes(kSynicMaxPayload, "synic.payload"));
  r.expect_end("synic.payload");
  if (r.ok() && m.payload_size > kSynicMaxPayload) {
    return Error{Errc::bad_length, "synic.payload_size", size_at};
  }
  if (!r.ok()) return *r.error();
  return m;
}

void encode(const SynicMessage& m, ByteWriter& w) {
  w.u32(m.message_type);
  w.u8(m.payload_size);
  w.u8(m.flags);
  w.u16(m.reserved);
  w.u64(m.sender);
  w.bytes(m.payload);
}

Bytes encode(const SynicMessage& m) {
  Bytes out;
  out.reserve(kSynicMessageSize);
  ByteWriter w(out);
  encode(m, w);
  return out;
}

Result<SynicMessage> make_synic_message(std::uint32_t message_type, ByteSpan body, std::uint64_t sender,
                                        bool msg_pending) {
  if (body.size() > kSynicMaxPayload) return Error{Errc::bad_length, "synic.payload_size", 4};
  SynicMessage m;
  m.message_type = message_type;
  m.payload_size = static_cast<std::uint8_t>(body.size());
  m.flags = msg_pending ? kSynicFlagMsgPending : 0;
  m.sender = sender;
  copy_into(m.payload, body);
  return m;
}

Result<PostMessageInput> decode_post_message_input(ByteSpan input) {
  ByteReader r(input);
  PostMessageInput m;
  m.connection_id = r.u32("post_message.connection_id");
  const std::uint32_t reserved = r.u32("post_message.reserved");
  m.message_type = r.u32("post_message.message_type");
  m.payload_size = r.u32("post_message.payload_size");
  copy_into(m.payload, r.bytes(kSynicMaxPayload, "post_message.payload"));
  r.expect_end("post_message.payload");
  if (!r.ok()) return *r.error();
  if ((m.connection_id & ~kConnectionIdMask) != 0) {
    return Error{Errc::bad_value, "post_message.connection_id", 0};
  }
  if (reserved != 0) return Error{Errc::bad_value, "post_message.reserved", 4};
  if (m.message_type == 0 || (m.message_type & kHvMessageTypeHypervisorBit) != 0) {
    return Error{Errc::bad_value, "post_message.message_type", 8};
  }
  if (m.payload_size > kSynicMaxPayload) return Error{Errc::bad_length, "post_message.payload_size", 12};
  return m;
}

void encode(const PostMessageInput& m, ByteWriter& w) {
  w.u32(m.connection_id);
  w.u32(0);
  w.u32(m.message_type);
  w.u32(m.payload_size);
  w.bytes(m.payload);
}

Bytes encode(const PostMessageInput& m) {
  Bytes out;
  out.reserve(kPostMessageInputSize);
  ByteWriter w(out);
  encode(m, w);
  return out;
}

Result<PostMessageInput> make_post_message_input(std::uint32_t connection_id, ByteSpan body,
                                                 std::uint32_t message_type) {
  if ((connection_id & ~kConnectionIdMask) != 0)
    return Error{Errc::bad_value, "post_message.connection_id", 0};
  if (body.size() > kSynicMaxPayload) return Error{Errc::bad_length, "post_message.payload_size", 12};
  PostMessageInput m;
  m.connection_id = connection_id;
  m.message_type = message_type;
  m.payload_size = static_cast<std::uint32_t>(body.size());
  copy_into(m.payload, body);
  return m;
}

Result<SignalEventInput> decode_signal_event_input(std::uint64_t rdx) {
  SignalEventInput in;
  in.connection_id = static_cast<std::uint32_t>(rdx);
  in.flag_number = static_cast<std::uint16_t>(rdx >> 32);
  if ((in.connection_id & ~kConnectionIdMask) != 0)
    return Error{Errc::bad_value, "signal_event.connection_id", 0};
  if ((rdx >> 48) != 0) return Error{Errc::bad_value, "signal_event.rsvdz", 6};
  return in;
}

std::uint64_t encode(const SignalEventInput& in) {
  return std::uint64_t{in.connection_id} | (std::uint64_t{in.flag_number} << 32);
}

const char* to_string(HvMessageType type) {
  switch (type) {
    case HvMessageType::none:
      return "none";
    case HvMessageType::vmbus_channel_message:
      return "vmbus_channel_message";
    case HvMessageType::unmapped_gpa:
      return "unmapped_gpa";
    case HvMessageType::gpa_intercept:
      return "gpa_intercept";
    case HvMessageType::timer_expired:
      return "timer_expired";
    case HvMessageType::invalid_vp_register_value:
      return "invalid_vp_register_value";
    case HvMessageType::unrecoverable_exception:
      return "unrecoverable_exception";
    case HvMessageType::unsupported_feature:
      return "unsupported_feature";
    case HvMessageType::eventlog_buffer_complete:
      return "eventlog_buffer_complete";
    case HvMessageType::x64_ioport_intercept:
      return "x64_ioport_intercept";
    case HvMessageType::x64_msr_intercept:
      return "x64_msr_intercept";
    case HvMessageType::x64_cpuid_intercept:
      return "x64_cpuid_intercept";
    case HvMessageType::x64_exception_intercept:
      return "x64_exception_intercept";
    case HvMessageType::x64_apic_eoi:
      return "x64_apic_eoi";
    case HvMessageType::x64_legacy_fp_error:
      return "x64_legacy_fp_error";
  }
  return "unknown";
}

}  // namespace vmbh::proto
