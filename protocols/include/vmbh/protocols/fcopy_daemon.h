// Messages between the Linux 6.1 fcopy driver (drivers/hv/hv_fcopy.c) and
// hv_fcopy_daemon (tools/hv/hv_fcopy_daemon.c) on /dev/vmbus/hv_fcopy. One
// read() or write() carries one message. (Linux 6.12 has no fcopy driver; its
// hv_fcopy_uio_daemon reads the VMBus ring itself and speaks the wire format of
// fcopy.h directly.)
//
// Handshake: the daemon writes an int version (FCOPY_VERSION_0 = 0 or
// FCOPY_VERSION_1 = 1; the kernel rejects anything else with EINVAL). For
// version 1 the kernel answers with a u32 = FCOPY_CURRENT_VERSION (1); the
// daemon checks only that 4 bytes arrive.
//
// kernel -> daemon requests:
//   - START: an hv_start_fcopy-sized (1088-byte) buffer, zeroed, with the names
//     CONVERTED to UTF-8 in place of the UTF-16 fields: each name is at most 259
//     bytes followed by NUL (utf16s_to_utf8s with maxout 259 drops characters that
//     do not fit and unpaired surrogates). Service ids are zero; copy_flags and
//     file_size are copied from the host.
//   - WRITE: the host's hv_do_fcopy verbatim, always 6196 bytes.
//   - COMPLETE, CANCEL (and unknown operations): the kernel sends recv_len bytes
//     starting at the fcopy header, where recv_len is the whole packet length
//     including the 28 bytes of pipe + IC header; so the daemon gets the host
//     message plus 28 more bytes of the kernel's receive buffer (stale data). A
//     CANCEL faked before hibernation is exactly the 36-byte header. The daemon
//     reads into a 6196-byte buffer, so a longer message fails its read().
// daemon -> kernel reply: an int status (4 bytes), forwarded to the host as the
// IC status: 0, HV_E_FAIL, HV_ERROR_ALREADY_EXISTS (START without OVER_WRITE on
// an existing file), HV_ERROR_DISK_FULL (WRITE hit ENOSPC). The kernel tells
// registration from reply by its state, not by content, hence two decoders.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/fcopy.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

inline constexpr std::uint32_t kFcopyVersion0 = 0;  // FCOPY_VERSION_0: no kernel answer
inline constexpr std::uint32_t kFcopyVersion1 = 1;  // FCOPY_VERSION_1 = FCOPY_CURRENT_VERSION
inline constexpr std::size_t kFcopyDaemonIntSize = 4;
// Longest UTF-8 name the kernel writes (W_MAX_PATH - 1 bytes, then NUL).
inline constexpr std::size_t kFcopyDaemonMaxNameBytes = kFcopyMaxPath - 1;
// The daemon's read buffer (a union of the message structures) = sizeof(hv_do_fcopy).
inline constexpr std::size_t kFcopyDaemonReadSize = kFcopyWriteSize;
// Bytes of pipe + IC header the kernel's COMPLETE/CANCEL forwarding over-reads.
inline constexpr std::size_t kFcopyDaemonControlOverread = 28;

// daemon -> kernel: registration (0 or 1).
struct FcopyDaemonRegister {
  std::uint32_t version = kFcopyVersion1;
  bool operator==(const FcopyDaemonRegister&) const = default;
};

// daemon -> kernel: result of a request, any int (FcopyStatus values in practice).
struct FcopyDaemonReply {
  std::uint32_t status = 0;
  bool operator==(const FcopyDaemonReply&) const = default;
};

// kernel -> daemon: answer to version-1 registration.
struct FcopyKernelVersion {
  std::uint32_t version = kFcopyVersion1;
  bool operator==(const FcopyKernelVersion&) const = default;
};

// kernel -> daemon: START with UTF-8 names.
struct FcopyDaemonStart {
  std::string file_name;  // UTF-8, <= 259 bytes
  std::string path_name;  // UTF-8, <= 259 bytes
  std::uint32_t copy_flags = 0;
  std::uint64_t file_size = 0;
  FcopyServiceIds service_ids;  // zero from Linux

  bool operator==(const FcopyDaemonStart&) const = default;
};

// kernel -> daemon: COMPLETE or CANCEL, with whatever followed the header.
struct FcopyDaemonControl {
  FcopyOp op = FcopyOp::complete;  // complete or cancel
  FcopyServiceIds service_ids;
  Bytes tail;  // bytes after the 36-byte header (host bytes + 28 stale bytes)

  bool operator==(const FcopyDaemonControl&) const = default;
};

// kernel -> daemon; WRITE is the host's FcopyWrite unchanged.
using FcopyKernelToDaemon =
    std::variant<FcopyKernelVersion, FcopyDaemonStart, FcopyWrite, FcopyDaemonControl>;

// 4 bytes exactly (bad_length "fcopy_daemon.length"); version 0 or 1 (bad_version
// "fcopy_daemon.version").
Result<FcopyDaemonRegister> decode_fcopy_daemon_register(ByteSpan msg);
// 4 bytes exactly; any value.
Result<FcopyDaemonReply> decode_fcopy_daemon_reply(ByteSpan msg);
// 4 bytes: the kernel's version (any value, as the daemon accepts any).
// Otherwise dispatch on the operation: START exactly 1088 bytes with NUL-terminated
// UTF-8 names of at most 259 bytes ("fcopy_daemon_start.file_name"/"path_name":
// bad_length if longer or unterminated, bad_encoding if not UTF-8); WRITE as
// decode_fcopy_write; COMPLETE/CANCEL 36..6196 bytes; other operations
// unknown_type "fcopy_daemon.operation".
Result<FcopyKernelToDaemon> decode_fcopy_kernel_to_daemon(ByteSpan msg);

void encode(const FcopyDaemonRegister& m, ByteWriter& w);
void encode(const FcopyDaemonReply& m, ByteWriter& w);
void encode(const FcopyKernelVersion& m, ByteWriter& w);
// Fails if a name is longer than 259 bytes, holds NUL or is not UTF-8.
Status encode(const FcopyDaemonStart& m, ByteWriter& w);
// Fails if op is not COMPLETE/CANCEL or the message would exceed 6196 bytes.
Status encode(const FcopyDaemonControl& m, ByteWriter& w);
Status encode(const FcopyKernelToDaemon& m, ByteWriter& w);
Result<Bytes> encode_fcopy_kernel_to_daemon(const FcopyKernelToDaemon& m);

// Models the kernel's conversion of a host START for the daemon: UTF-8 names cut
// to 259 bytes by dropping each character that no longer fits (later, shorter
// characters may still fit, as in utf16s_to_utf8s), service ids zeroed.
FcopyDaemonStart fcopy_daemon_start_from_host(const FcopyStart& host);

}  // namespace vmbh::proto
