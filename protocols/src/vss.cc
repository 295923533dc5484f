#include "vmbh/protocols/vss.h"

namespace vmbh::proto {

bool is_known(VssOp op) { return static_cast<std::uint8_t>(op) < kVssOpCount; }

std::string_view to_string(VssOp op) {
  switch (op) {
    case VssOp::create:
      return "CREATE";
    case VssOp::delete_:
      return "DELETE";
    case VssOp::hot_backup:
      return "HOT_BACKUP";
    case VssOp::get_dm_info:
      return "GET_DM_INFO";
    case VssOp::bu_complete:
      return "BU_COMPLETE";
    case VssOp::freeze:
      return "FREEZE";
    case VssOp::thaw:
      return "THAW";
    case VssOp::auto_recover:
      return "AUTO_RECOVER";
  }
  return "UNKNOWN";
}

Result<VssMessage> decode_vss(ByteSpan body) {
  ByteReader r(body);
  VssMessage m;
  const std::uint8_t op = r.u8("vss.operation");
  if (r.ok() && op >= kVssOpCount) {
    return Error{Errc::unknown_type, "vss.operation", 0};
  }
  m.op = static_cast<VssOp>(op);
  r.read_into(m.reserved, "vss.reserved");
  m.flags = r.u32("vss.flags");
  if (!r.ok()) return *r.error();
  if (body.size() > kVssMaxMessageSize) {
    return Error{Errc::bad_length, "vss.extra", kVssMaxMessageSize};
  }
  ByteSpan rest = r.rest();
  m.extra.assign(rest.begin(), rest.end());
  return m;
}

void encode(const VssMessage& msg, ByteWriter& w) {
  w.u8(static_cast<std::uint8_t>(msg.op));
  w.array(msg.reserved);
  w.u32(msg.flags);
  w.bytes(msg.extra);
}

Bytes encode_vss(const VssMessage& msg) {
  Bytes out;
  out.reserve(kVssMsgSize + msg.extra.size());
  ByteWriter w(out);
  encode(msg, w);
  return out;
}

VssMessage make_vss_request(VssOp op, std::uint32_t flags) {
  VssMessage m;
  m.op = op;
  m.flags = flags;
  return m;
}

VssMessage vss_linux_answer(const VssMessage& request) {
  VssMessage answer = request;
  if (request.op == VssOp::get_dm_info) answer.flags = 0;
  if (request.op == VssOp::hot_backup) answer.flags = kVssHbuNoAutoRecovery;
  return answer;
}

bool vss_op_goes_to_daemon(VssOp op) {
  return op == VssOp::freeze || op == VssOp::thaw || op == VssOp::hot_backup;
}

std::uint32_t vss_linux_answer_status(VssOp op, bool daemon_registered, std::uint32_t daemon_error) {
  if (!vss_op_goes_to_daemon(op)) return static_cast<std::uint32_t>(VssStatus::ok);
  if (!daemon_registered) return static_cast<std::uint32_t>(VssStatus::e_fail);
  return daemon_error;
}

}  // namespace vmbh::proto
