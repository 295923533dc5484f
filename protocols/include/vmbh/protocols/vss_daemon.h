// Messages between the Linux 6.1 VSS driver (drivers/hv/hv_snapshot.c) and
// hv_vss_daemon (tools/hv/hv_vss_daemon.c) on the character device
// /dev/vmbus/hv_vss. One read() or write() carries exactly one message.
//
// daemon -> kernel (always 12 bytes, the hv_vss_msg layout; the kernel rejects
// any other length with EINVAL):
//   - registration: byte 0 = VSS_OP_REGISTER (128, old daemons, no reply) or
//     VSS_OP_REGISTER1 (129, current daemon, expects the kernel's version). The
//     daemon sets only byte 0; bytes 1..11 are whatever its stack held, so they
//     are carried verbatim.
//   - reply to a request: the request buffer with `int error` (bytes 0..3,
//     overlaying operation + reserved[0..2]) set to HV_S_OK or HV_E_FAIL; bytes
//     4..11 are left as the kernel sent them. The kernel tells registration from
//     reply by byte 0 alone (128/129 = registration), so a reply whose error has
//     low byte 128 or 129 would be taken for a registration; no daemon sends one.
// kernel -> daemon:
//   - version answer to REGISTER1: 4 bytes, u32 = 129 (VSS_OP_REGISTER1). The
//     daemon checks only the length.
//   - request: 12 bytes, zeroed except operation = FREEZE, THAW or HOT_BACKUP
//     (a THAW is also faked before hibernation). The daemon answers FREEZE/THAW
//     with the result of FIFREEZE/FITHAW, HOT_BACKUP with 0, and any other
//     operation with 0 after logging "Illegal op"; this codec rejects the others.
// The kernel->daemon kinds differ by length (4 vs 12), so one decoder serves.
#pragma once

#include <array>
#include <cstdint>
#include <variant>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/result.h"
#include "vmbh/protocols/vss.h"

namespace vmbh::proto {

inline constexpr std::uint8_t kVssOpRegister = 128;   // VSS_OP_REGISTER
inline constexpr std::uint8_t kVssOpRegister1 = 129;  // VSS_OP_REGISTER1
inline constexpr std::size_t kVssDaemonMsgSize = kVssMsgSize;
inline constexpr std::size_t kVssKernelVersionSize = 4;

// daemon -> kernel: registration (byte 0 = 128 or 129).
struct VssDaemonRegister {
  std::uint8_t version = kVssOpRegister1;
  std::array<std::uint8_t, 11> rest{};  // bytes 1..11, not interpreted by the kernel

  bool operator==(const VssDaemonRegister&) const = default;
};

// daemon -> kernel: the daemon's answer; `error` becomes the IC status sent to the host.
struct VssDaemonReply {
  std::uint32_t error = 0;             // HV_S_OK / HV_E_FAIL (VssStatus)
  std::array<std::uint8_t, 8> rest{};  // bytes 4..11 as received (reserved[3..6], flags)

  bool operator==(const VssDaemonReply&) const = default;
};

using VssDaemonToKernel = std::variant<VssDaemonRegister, VssDaemonReply>;

// kernel -> daemon: answer to REGISTER1 (the kernel's protocol version, 129).
struct VssKernelVersion {
  std::uint32_t version = kVssOpRegister1;

  bool operator==(const VssKernelVersion&) const = default;
};

// kernel -> daemon: a request (FREEZE, THAW or HOT_BACKUP).
struct VssDaemonRequest {
  VssOp op = VssOp::freeze;
  std::array<std::uint8_t, 7> reserved{};  // zero from Linux
  std::uint32_t flags = 0;                 // zero from Linux

  bool operator==(const VssDaemonRequest&) const = default;
};

using VssKernelToDaemon = std::variant<VssKernelVersion, VssDaemonRequest>;

// Exactly 12 bytes (bad_length "vss_daemon.length" otherwise); byte 0 of 128/129
// is a registration, anything else a reply (as vss_on_msg decides).
Result<VssDaemonToKernel> decode_vss_daemon_to_kernel(ByteSpan msg);
// 4 bytes: version answer; 12 bytes: request (unknown_type "vss_daemon.operation"
// unless FREEZE/THAW/HOT_BACKUP); other lengths: bad_length "vss_daemon.length".
Result<VssKernelToDaemon> decode_vss_kernel_to_daemon(ByteSpan msg);

void encode(const VssDaemonRegister& m, ByteWriter& w);
void encode(const VssDaemonReply& m, ByteWriter& w);
void encode(const VssKernelVersion& m, ByteWriter& w);
void encode(const VssDaemonRequest& m, ByteWriter& w);
Bytes encode_vss_daemon(const VssDaemonToKernel& m);
Bytes encode_vss_daemon(const VssKernelToDaemon& m);

// What the kernel sends the daemon for a host request (zeroed except the operation).
VssDaemonRequest vss_daemon_request_for(VssOp op);
// What the current daemon writes back for `request` after the file-system
// operation returned `error` (0 on success, HV_E_FAIL otherwise).
VssDaemonReply vss_daemon_reply_for(const VssDaemonRequest& request, std::uint32_t error);

}  // namespace vmbh::proto
