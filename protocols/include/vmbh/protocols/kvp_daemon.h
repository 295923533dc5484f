// KVP kernel<->daemon messages on /dev/vmbus/hv_kvp (Linux 6.1 drivers/hv/hv_kvp.c,
// tools/hv/hv_kvp_daemon.c).
//
// Every message is one struct hv_kvp_msg, 7432 bytes, in both directions (the
// daemon reads and writes exactly that size; the kernel rejects shorter writes).
// Strings are UTF-8, NUL-terminated inside the same fixed fields as the wire form
// (key 512 bytes, value 2048 bytes; the IP fields reuse the u16 arrays as bytes:
// adapter_id 256, ip_addr/sub_net/dns_addr 2048, gate_way 1024).
//
// Handshake: the daemon opens the device and writes {operation = REGISTER1 (100)}
// (the rest of its buffer is uninitialised stack: ignored). The kernel answers
// {operation = REGISTER1 (or REGISTER, 4, for a legacy daemon), version "3.1"}.
// Because REGISTER equals GET_IP_INFO, registration messages have their own
// decoders: the caller knows the handshake phase.
//
// Requests (kernel -> daemon) carry {operation, pool} and the converted strings:
//  - GET: key_size = UTF-8 bytes + 1, key. (value_size stays 0, so the 6.1 daemon
//    copies 0 bytes and GET answers an empty value.)
//  - SET: key_size/key, value_size = UTF-8 bytes + 1, value. REG_U32/REG_U64 values
//    arrive as decimal text; value_type is NOT copied (always 0); an unknown host
//    value_type leaves value_size 0 and the value empty.
//  - DELETE: key_size/key in hv_kvp_msg_delete. ENUMERATE: the index only.
//  - GET_IP_INFO: adapter_id and addr_family. SET_IP_INFO: every IP field.
// Replies (daemon -> kernel) overwrite the 4 header bytes with the error code
// (int, HV_S_OK / HV_S_CONT / HV_E_FAIL / HV_GUID_NOTFOUND ...), so a reply does not
// say which operation it answers: its decoder takes the operation. The kernel reads
// the body only when the error is 0: GET reads the value, ENUMERATE the key and
// value (via strlen; key_size/value_size are ignored), GET_IP_INFO the IP fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/kvp.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

inline constexpr std::size_t kKvpDaemonMessageSize = kKvpMessageSize;  // 7432
inline constexpr std::size_t kKvpDaemonOffError = 0;
inline constexpr std::size_t kKvpDaemonOffVersion = 4;  // hv_kvp_register.version[512]
inline constexpr std::size_t kKvpDaemonOffIpValue = 4;  // hv_kvp_ipaddr_value at the body
inline constexpr char kKvpKernelVersion[] = "3.1";      // HV_DRV_VERSION sent to the daemon
// The kernel converts host strings into the daemon's fields with these output
// limits (UTF-8 bytes, before the NUL): key 511, value 2047, IP strings 1024,
// gateway 512, adapter id 128.
inline constexpr std::size_t kKvpKernelToDaemonMaxIpAddrBytes = 1024;
inline constexpr std::size_t kKvpKernelToDaemonMaxGatewayBytes = 512;
inline constexpr std::size_t kKvpKernelToDaemonMaxAdapterIdBytes = 128;

// ---- Registration ----

// daemon -> kernel: only the operation byte is meaningful (4 or 100).
struct KvpDaemonRegister {
  std::uint8_t operation = kKvpOpRegister1;
  bool operator==(const KvpDaemonRegister&) const = default;
};
// kernel -> daemon: the registration answer.
struct KvpKernelRegister {
  std::uint8_t operation = kKvpOpRegister1;  // 4 or 100, echoing the daemon's choice
  std::string version = kKvpKernelVersion;
  bool operator==(const KvpKernelRegister&) const = default;
};

// ---- Requests (kernel -> daemon) ----

struct KvpDaemonGet {
  KvpPool pool = KvpPool::external;
  std::string key;
  bool operator==(const KvpDaemonGet&) const = default;
};
struct KvpDaemonSet {
  KvpPool pool = KvpPool::external;
  std::string key;
  std::string value;  // value_size 0 (unknown host type) decodes as ""
  bool operator==(const KvpDaemonSet&) const = default;
};
struct KvpDaemonDelete {
  KvpPool pool = KvpPool::external;
  std::string key;
  bool operator==(const KvpDaemonDelete&) const = default;
};
struct KvpDaemonEnumerate {
  KvpPool pool = KvpPool::external;
  std::uint32_t index = 0;
  bool operator==(const KvpDaemonEnumerate&) const = default;
};
// GET_IP_INFO / SET_IP_INFO; the strings of KvpIpAddress are the UTF-8 fields.
struct KvpDaemonIpInfo {
  KvpOperation operation = KvpOperation::get_ip_info;
  KvpPool pool = KvpPool::external;
  KvpIpAddress ip;
  bool operator==(const KvpDaemonIpInfo&) const = default;
};

using KvpDaemonRequest =
    std::variant<KvpDaemonGet, KvpDaemonSet, KvpDaemonDelete, KvpDaemonEnumerate, KvpDaemonIpInfo>;

KvpOperation kvp_operation(const KvpDaemonRequest& m);

// ---- Replies (daemon -> kernel) ----

// What the kernel reads from a reply to `operation`. With error != 0 the body is
// not read, and key/value/ip are empty.
struct KvpDaemonReply {
  KvpOperation operation = KvpOperation::get;  // context: not on the wire
  std::uint32_t error = kHvSOk;
  std::string key;    // ENUMERATE
  std::string value;  // GET, ENUMERATE
  KvpIpAddress ip;    // GET_IP_INFO
  bool operator==(const KvpDaemonReply&) const = default;
};

// ---- Decode / encode ----
// Field names: "kvp_daemon.message", "kvp_daemon.operation", "kvp_daemon.pool",
// "kvp_daemon.register.operation", "kvp_daemon.register.version",
// "kvp_daemon.get.key_size", "kvp_daemon.set.value", "kvp_daemon.ip.adapter_id",
// "kvp_daemon.reply.value", ...

Result<KvpDaemonRegister> decode_kvp_daemon_register(ByteSpan msg);
Result<KvpKernelRegister> decode_kvp_kernel_register(ByteSpan msg);
Result<KvpDaemonRequest> decode_kvp_daemon_request(ByteSpan msg);
Result<KvpDaemonReply> decode_kvp_daemon_reply(KvpOperation operation, ByteSpan msg);

// Encoders write exactly 7432 bytes, unused bytes zero (the kernel kzallocs its
// messages). Strings must be valid UTF-8 without NUL and fit with their NUL.
Result<Bytes> encode_kvp_daemon(const KvpDaemonRegister& m);
Result<Bytes> encode_kvp_daemon(const KvpKernelRegister& m);
Result<Bytes> encode_kvp_daemon(const KvpDaemonRequest& m);
Result<Bytes> encode_kvp_daemon(const KvpDaemonReply& m);

}  // namespace vmbh::proto
