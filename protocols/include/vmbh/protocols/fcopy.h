// fcopy (guest file copy) integration component: the message body that follows
// the 8-byte pipe header and the 20-byte IC header when the IC message type is
// 7 (fcopy). Layouts from Linux 6.1 include/uapi/linux/hyperv.h, behaviour from
// drivers/hv/hv_fcopy.c and tools/hv/hv_fcopy_daemon.c. All packed, little-endian.
//
//   hv_fcopy_hdr (36 bytes)          hv_start_fcopy (1088 bytes)
//     0 operation u32                  0 hdr
//     4 service_id0[16] (unused)      36 file_name  u16[260]  UTF-16LE, NUL-terminated
//    20 service_id1[16] (unused)     556 path_name  u16[260]  UTF-16LE, NUL-terminated
//                                   1076 copy_flags u32       1 OVER_WRITE, 2 CREATE_PATH
//   hv_do_fcopy (6196 bytes)        1080 file_size  u64
//     0 hdr
//    36 pad u32
//    40 offset u64
//    48 size u32    <= 6144
//    52 data[6144]  the first `size` bytes are file data
//
// COMPLETE (2) and CANCEL (3) carry only the header.
//
// Decisions (Linux 6.1 is more lenient; documented so checks can rely on it):
//   - Each message must be exactly its structure's size: truncated inside it,
//     trailing_data after it. (Linux reads the fixed structures from its receive
//     buffer whatever the packet length, and forwards WRITE as 6196 bytes.)
//   - Names: the UTF-16 terminator must lie inside the 260-unit field and the
//     text before it must be valid UTF-16 (no unpaired surrogates). Units after
//     the terminator are ignored (they are not kept). Linux's utf16s_to_utf8s
//     silently drops unpaired surrogates and characters that no longer fit in
//     259 bytes of UTF-8; see fcopy_daemon.h.
//   - WRITE size > 6144 is rejected (bad_length "fcopy_write.size"). Neither the
//     kernel nor hv_fcopy_daemon checks it: the daemon pwrite()s `size` bytes
//     from its 6196-byte buffer. Data bytes after `size` are ignored (not kept).
//   - copy_flags: Linux tests only OVER_WRITE and CREATE_PATH and ignores every
//     other bit, so decode() accepts and keeps unknown bits (a host may define
//     more); fcopy_unknown_flags() reports them for checks that want to flag them.
//   - Unknown operations are rejected (unknown_type "fcopy.operation"); Linux
//     forwards them to the daemon, which answers HV_E_FAIL.
//   - pad, service ids, file_size and offset are not interpreted by Linux and are
//     carried verbatim.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

// ---- Constants -------------------------------------------------------------

inline constexpr std::size_t kFcopyMaxPath = 260;  // W_MAX_PATH, UTF-16 units incl. terminator
inline constexpr std::size_t kFcopyNameFieldSize = 2 * kFcopyMaxPath;  // 520 bytes
inline constexpr std::size_t kFcopyDataFragment = 6144;                // DATA_FRAGMENT

inline constexpr std::size_t kFcopyHdrSize = 36;      // sizeof(struct hv_fcopy_hdr)
inline constexpr std::size_t kFcopyStartSize = 1088;  // sizeof(struct hv_start_fcopy)
inline constexpr std::size_t kFcopyWriteSize = 6196;  // sizeof(struct hv_do_fcopy)

inline constexpr std::size_t kFcopyServiceId0Offset = 4;
inline constexpr std::size_t kFcopyServiceId1Offset = 20;
inline constexpr std::size_t kFcopyFileNameOffset = 36;
inline constexpr std::size_t kFcopyPathNameOffset = 556;
inline constexpr std::size_t kFcopyCopyFlagsOffset = 1076;
inline constexpr std::size_t kFcopyFileSizeOffset = 1080;
inline constexpr std::size_t kFcopyPadOffset = 36;
inline constexpr std::size_t kFcopyOffsetOffset = 40;
inline constexpr std::size_t kFcopySizeOffset = 48;
inline constexpr std::size_t kFcopyDataOffset = 52;

// IC version Linux 6.1 negotiates for fcopy (1.1).
inline constexpr std::uint16_t kFcopyIcMajor = 1;
inline constexpr std::uint16_t kFcopyIcMinor = 1;

enum class FcopyOp : std::uint32_t {
  start_file_copy = 0,
  write_to_file = 1,
  complete = 2,
  cancel = 3,
};

inline constexpr std::uint32_t kFcopyOverWrite = 0x1;   // OVER_WRITE
inline constexpr std::uint32_t kFcopyCreatePath = 0x2;  // CREATE_PATH
inline constexpr std::uint32_t kFcopyKnownFlags = kFcopyOverWrite | kFcopyCreatePath;

// IC status values (HRESULTs) in fcopy answers (from the daemon, or the kernel).
enum class FcopyStatus : std::uint32_t {
  ok = 0x00000000,              // HV_S_OK
  e_fail = 0x80004005,          // HV_E_FAIL (also: no daemon, daemon timeout)
  already_exists = 0x80070050,  // HV_ERROR_ALREADY_EXISTS (file exists, no OVER_WRITE)
  disk_full = 0x80070070,       // HV_ERROR_DISK_FULL (pwrite ENOSPC)
};

bool is_known(FcopyOp op);
std::string_view to_string(FcopyOp op);  // "START_FILE_COPY"; "UNKNOWN" otherwise

// ---- Messages --------------------------------------------------------------

// service_id0 / service_id1 of hv_fcopy_hdr ("currently unused" by Linux).
struct FcopyServiceIds {
  std::array<std::uint8_t, 16> id0{};
  std::array<std::uint8_t, 16> id1{};

  bool operator==(const FcopyServiceIds&) const = default;
};

struct FcopyStart {
  std::string file_name;  // UTF-8; at most 259 UTF-16 units on the wire
  std::string path_name;  // UTF-8; at most 259 UTF-16 units on the wire
  std::uint32_t copy_flags = 0;
  std::uint64_t file_size = 0;
  FcopyServiceIds service_ids;

  bool operator==(const FcopyStart&) const = default;
};

struct FcopyWrite {
  std::uint64_t offset = 0;
  Bytes data;  // size on the wire = data.size() <= kFcopyDataFragment
  std::uint32_t pad = 0;
  FcopyServiceIds service_ids;

  bool operator==(const FcopyWrite&) const = default;
};

struct FcopyComplete {
  FcopyServiceIds service_ids;
  bool operator==(const FcopyComplete&) const = default;
};

struct FcopyCancel {
  FcopyServiceIds service_ids;
  bool operator==(const FcopyCancel&) const = default;
};

// Alternative index == operation number.
using FcopyMessage = std::variant<FcopyStart, FcopyWrite, FcopyComplete, FcopyCancel>;

FcopyOp op_of(const FcopyMessage& msg);

// Decodes any fcopy message body (dispatching on the operation).
Result<FcopyMessage> decode_fcopy(ByteSpan body);
// Decoders for one operation (unknown_type "fcopy.operation" if it differs).
Result<FcopyStart> decode_fcopy_start(ByteSpan body);
Result<FcopyWrite> decode_fcopy_write(ByteSpan body);
Result<FcopyComplete> decode_fcopy_complete(ByteSpan body);
Result<FcopyCancel> decode_fcopy_cancel(ByteSpan body);

// Encoders write the full fixed-size structure, zero-padded. They fail (and
// write nothing) if a name is not valid UTF-8, holds U+0000, or needs more than
// 259 UTF-16 units ("fcopy_start.file_name" / "fcopy_start.path_name"), or if
// WRITE data exceeds 6144 bytes ("fcopy_write.size").
Status encode(const FcopyStart& m, ByteWriter& w);
Status encode(const FcopyWrite& m, ByteWriter& w);
void encode(const FcopyComplete& m, ByteWriter& w);
void encode(const FcopyCancel& m, ByteWriter& w);
Status encode(const FcopyMessage& m, ByteWriter& w);
Result<Bytes> encode_fcopy(const FcopyMessage& m);

// copy_flags bits Linux does not know.
inline std::uint32_t fcopy_unknown_flags(std::uint32_t copy_flags) { return copy_flags & ~kFcopyKnownFlags; }

// ---- Shared pieces (also used by fcopy_daemon) -------------------------------

namespace fcopy_detail {
FcopyServiceIds read_service_ids(ByteReader& r);
void write_service_ids(ByteWriter& w, const FcopyServiceIds& ids);
}  // namespace fcopy_detail

}  // namespace vmbh::proto
