// VSS (volume shadow copy / backup) integration component: the message body
// that follows the 8-byte pipe header and the 20-byte IC header when the IC
// message type is 5 (VSS). Layout from Linux 6.1 include/uapi/linux/hyperv.h
// (struct hv_vss_msg) and behaviour from drivers/hv/hv_snapshot.c.
//
// Wire layout of hv_vss_msg (packed, 12 bytes, little-endian):
//   0  operation u8        (hv_vss_hdr; the same 4 bytes double as `int error`
//   1  reserved[7]          in the kernel<->daemon direction, see vss_daemon.h)
//   8  flags u32           union of hv_vss_check_feature.flags (HOT_BACKUP) and
//                          hv_vss_check_dm_info.flags (GET_DM_INFO)
// A host message may be longer than 12 bytes: Hyper-V's FREEZE carries LUN
// information (up to ~6260 bytes) that Linux ignores. Linux receives packets of
// at most 8192 bytes (VSS_MAX_PKT_SIZE) and answers by echoing the whole packet
// with the IC status set and at most the flags word changed, so the bytes after
// the 12-byte structure are kept verbatim in VssMessage::extra.
//
// Linux's answer (hv_snapshot.c):
//   - FREEZE, THAW, HOT_BACKUP go to hv_vss_daemon; IC status = the daemon's error
//     (HV_E_FAIL if no daemon is registered or it times out). For HOT_BACKUP the
//     kernel sets flags = VSS_HBU_NO_AUTO_RECOVERY (5) when the daemon replies.
//   - GET_DM_INFO: answered by the kernel with flags = 0, status 0.
//   - CREATE, DELETE, BU_COMPLETE, AUTO_RECOVER: answered by the kernel, status 0,
//     body unchanged.
//   - Any other operation byte is also answered with status 0 by Linux. This codec
//     is stricter: decode() rejects operations outside 0..7 (unknown_type), because
//     no host defines them; a conformance check that wants to send one builds the
//     bytes itself.
// Reserved bytes and the flags of operations that do not use them are ignored by
// Linux; decode() keeps them so that re-encoding is byte-exact.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

// ---- Constants -------------------------------------------------------------

inline constexpr std::size_t kVssHdrSize = 8;   // sizeof(struct hv_vss_hdr)
inline constexpr std::size_t kVssMsgSize = 12;  // sizeof(struct hv_vss_msg)
inline constexpr std::size_t kVssFlagsOffset = 8;
// Largest VMBus packet the Linux VSS driver reads (2 Hyper-V pages), and the
// largest message body that fits after the pipe (8) and IC (20) headers.
inline constexpr std::size_t kVssMaxPacketSize = 8192;
inline constexpr std::size_t kVssIcHeadersSize = 28;
inline constexpr std::size_t kVssMaxMessageSize = kVssMaxPacketSize - kVssIcHeadersSize;

// IC version Linux 6.1 negotiates for VSS (5.0); FREEZE/THAW/AUTO_RECOVER need >= 5.0.
inline constexpr std::uint16_t kVssIcMajor = 5;
inline constexpr std::uint16_t kVssIcMinor = 0;

enum class VssOp : std::uint8_t {
  create = 0,
  delete_ = 1,
  hot_backup = 2,
  get_dm_info = 3,
  bu_complete = 4,
  freeze = 5,
  thaw = 6,
  auto_recover = 7,
};
inline constexpr std::uint8_t kVssOpCount = 8;  // VSS_OP_COUNT

// Flags value of hv_vss_check_feature that Linux sets in its HOT_BACKUP answer.
inline constexpr std::uint32_t kVssHbuNoAutoRecovery = 0x00000005;

// IC status values (HRESULTs) that appear in VSS answers.
enum class VssStatus : std::uint32_t {
  ok = 0x00000000,      // HV_S_OK
  e_fail = 0x80004005,  // HV_E_FAIL
};

bool is_known(VssOp op);
std::string_view to_string(VssOp op);  // "FREEZE"; "UNKNOWN" for values outside the enum

// ---- Message ---------------------------------------------------------------

// hv_vss_msg as exchanged between host and guest (both directions: the guest's
// answer is the request echoed with updated fields).
struct VssMessage {
  VssOp op = VssOp::create;
  std::array<std::uint8_t, 7> reserved{};
  // The union word: vss_cf.flags for HOT_BACKUP, dm_info.flags for GET_DM_INFO,
  // unused (but carried) for the other operations.
  std::uint32_t flags = 0;
  // Bytes after the 12-byte structure (FREEZE LUN data), at most
  // kVssMaxMessageSize - kVssMsgSize.
  Bytes extra;

  bool operator==(const VssMessage&) const = default;
};

// Decodes a message body (everything after the IC header). Errors:
// truncated ("vss.operation", "vss.reserved", "vss.flags") below 12 bytes,
// unknown_type ("vss.operation") for operations outside 0..7,
// bad_length ("vss.extra") above kVssMaxMessageSize.
Result<VssMessage> decode_vss(ByteSpan body);

// Writes exactly 12 + extra.size() bytes.
void encode(const VssMessage& msg, ByteWriter& w);
Bytes encode_vss(const VssMessage& msg);

// A request as a host builds it: the given operation, everything else zero.
VssMessage make_vss_request(VssOp op, std::uint32_t flags = 0);

// The body Linux 6.1 sends back for `request`, assuming the daemon (if the
// operation needs one) answered: GET_DM_INFO -> flags 0, HOT_BACKUP -> flags
// kVssHbuNoAutoRecovery, everything else unchanged (extra included).
VssMessage vss_linux_answer(const VssMessage& request);

// The IC status Linux 6.1 puts in that answer. `daemon_registered` is whether
// hv_vss_daemon has registered; `daemon_error` is what it replied (it replies
// 0 or HV_E_FAIL for FREEZE/THAW, 0 for HOT_BACKUP).
std::uint32_t vss_linux_answer_status(VssOp op, bool daemon_registered, std::uint32_t daemon_error);

// Whether Linux hands this operation to hv_vss_daemon (FREEZE, THAW, HOT_BACKUP).
bool vss_op_goes_to_daemon(VssOp op);

}  // namespace vmbh::proto
