#include "vmbh/protocols/vss_daemon.h"

namespace vmbh::proto {

Result<VssDaemonToKernel> decode_vss_daemon_to_kernel(ByteSpan msg) {
  if (msg.size() != kVssDaemonMsgSize) {
    return Error{Errc::bad_length, "vss_daemon.length",
                 msg.size() < kVssDaemonMsgSize ? msg.size() : kVssDaemonMsgSize};
  }
  ByteReader r(msg);
  const std::uint8_t first = std::to_integer<std::uint8_t>(msg[0]);
  if (first == kVssOpRegister || first == kVssOpRegister1) {
    VssDaemonRegister reg;
    reg.version = r.u8("vss_daemon.operation");
    r.read_into(reg.rest, "vss_daemon.rest");
    return r.finish(VssDaemonToKernel{reg});
  }
  VssDaemonReply reply;
  reply.error = r.u32("vss_daemon.error");
  r.read_into(reply.rest, "vss_daemon.rest");
  return r.finish(VssDaemonToKernel{reply});
}

Result<VssKernelToDaemon> decode_vss_kernel_to_daemon(ByteSpan msg) {
  ByteReader r(msg);
  if (msg.size() == kVssKernelVersionSize) {
    VssKernelVersion v;
    v.version = r.u32("vss_daemon.version");
    return r.finish(VssKernelToDaemon{v});
  }
  if (msg.size() != kVssDaemonMsgSize) {
    return Error{Errc::bad_length, "vss_daemon.length",
                 msg.size() < kVssDaemonMsgSize ? msg.size() : kVssDaemonMsgSize};
  }
  VssDaemonRequest req;
  const auto op = static_cast<VssOp>(r.u8("vss_daemon.operation"));
  if (!vss_op_goes_to_daemon(op)) return Error{Errc::unknown_type, "vss_daemon.operation", 0};
  req.op = op;
  r.read_into(req.reserved, "vss_daemon.reserved");
  req.flags = r.u32("vss_daemon.flags");
  return r.finish(VssKernelToDaemon{req});
}

void encode(const VssDaemonRegister& m, ByteWriter& w) {
  w.u8(m.version);
  w.array(m.rest);
}

void encode(const VssDaemonReply& m, ByteWriter& w) {
  w.u32(m.error);
  w.array(m.rest);
}

void encode(const VssKernelVersion& m, ByteWriter& w) { w.u32(m.version); }

void encode(const VssDaemonRequest& m, ByteWriter& w) {
  w.u8(static_cast<std::uint8_t>(m.op));
  w.array(m.reserved);
  w.u32(m.flags);
}

Bytes encode_vss_daemon(const VssDaemonToKernel& m) {
  Bytes out;
  ByteWriter w(out);
  std::visit([&w](const auto& v) { encode(v, w); }, m);
  return out;
}

Bytes encode_vss_daemon(const VssKernelToDaemon& m) {
  Bytes out;
  ByteWriter w(out);
  std::visit([&w](const auto& v) { encode(v, w); }, m);
  return out;
}

VssDaemonRequest vss_daemon_request_for(VssOp op) {
  VssDaemonRequest r;
  r.op = op;
  return r;
}

VssDaemonReply vss_daemon_reply_for(const VssDaemonRequest& request, std::uint32_t error) {
  // The daemon overwrites bytes 0..3 of the request with `error`; bytes 4..11
  // (reserved[3..6] and flags) stay as the kernel sent them.
  VssDaemonReply reply;
  reply.error = error;
  for (std::size_t i = 0; i < 4; ++i) reply.rest[i] = request.reserved[3 + i];
  for (std::size_t i = 0; i < 4; ++i) reply.rest[4 + i] = static_cast<std::uint8_t>(request.flags >> (8 * i));
  return reply;
}

}  // namespace vmbh::proto
