// KVP (key-value pair exchange) integration component: the message the host and
// the guest kernel exchange after the pipe and IC headers (icmsgtype 2).
//
// Two layouts share the channel (facts: Linux 6.1 include/uapi/linux/hyperv.h,
// drivers/hv/hv_kvp.c):
//  - GET, SET, DELETE, ENUMERATE: struct hv_kvp_msg, 7432 bytes: a 4-byte header
//    {operation u8, pool u8, pad u16} and a body union padded to 7428 bytes.
//  - GET_IP_INFO, SET_IP_INFO: struct hv_kvp_ip_msg, 7428 bytes: {operation u8,
//    pool u8} and hv_kvp_ipaddr_value at offset 2 (no pad).
// Keys, values and the IP strings are UTF-16LE. The guest answers in place: the
// kernel fills the received buffer and sends it back with the status in the IC
// header, so answers use the same layouts and the same structs below.
//
// key_size and value_size are BYTE counts that include the UTF-16 terminator:
// key "a" has key_size 4. That is what Linux itself writes in its answers
// (2 * (units + 1)). Linux's reader is more lenient (it passes key_size as a
// unit bound and stops at the first NUL); these decoders are strict and reject a
// size that is odd, below 2, above the field, or that disagrees with the position
// of the first NUL unit. So the longest key is 255 UTF-16 units (key_size 512) and
// the longest value 1023 units (value_size 2048). The kernel's own answers are
// shorter still: at most 254 key units and 1022 value units (kKvpKernelAnswer*).
//
// A decoder takes exactly the layout's size (7432 or 7428 bytes): fewer bytes are
// `truncated`, more are `trailing_data`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/ic.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

// ---- Operations, pools, value types, status codes ---------------------------

enum class KvpOperation : std::uint8_t {
  get = 0,
  set = 1,
  del = 2,  // KVP_OP_DELETE
  enumerate = 3,
  get_ip_info = 4,
  set_ip_info = 5,
};
inline constexpr std::uint8_t kKvpOperationCount = 6;

// Daemon registration opcodes (kernel<->daemon only; see kvp_daemon.h). 4 has the
// value of GET_IP_INFO: only the handshake phase tells the two apart.
inline constexpr std::uint8_t kKvpOpRegister = 4;     // legacy daemon, no IP injection
inline constexpr std::uint8_t kKvpOpRegister1 = 100;  // current daemon

enum class KvpPool : std::uint8_t {
  external = 0,
  guest = 1,
  automatic = 2,  // KVP_POOL_AUTO
  auto_external = 3,
  auto_internal = 4,
};
inline constexpr std::uint8_t kKvpPoolCount = 5;

// value_type. `none` (0) is not a Linux constant: it is the zeroed value part of
// request forms (GET request, ENUMERATE request) and must come with value_size 0.
enum class KvpValueType : std::uint32_t {
  none = 0,
  sz = 1,   // REG_SZ: UTF-16 string
  u32 = 4,  // REG_U32: 32-bit scalar at the start of the value field, value_size 4
  u64 = 8,  // REG_U64: 64-bit scalar, value_size 8
};

// addr_family is a bit set: the daemon ORs IPv4 and IPv6 into its GET_IP_INFO answer.
inline constexpr std::uint8_t kKvpAddrFamilyNone = 0;
inline constexpr std::uint8_t kKvpAddrFamilyIpv4 = 1;
inline constexpr std::uint8_t kKvpAddrFamilyIpv6 = 2;
inline constexpr std::uint8_t kKvpAddrFamilyMask = kKvpAddrFamilyIpv4 | kKvpAddrFamilyIpv6;

// Status codes (IC header status; also the daemon's reply error): kHv* in ic.h.

// ---- Sizes and offsets (pinned by tests) -------------------------------------

inline constexpr std::size_t kKvpMaxKeySize = 512;                          // bytes incl. terminator
inline constexpr std::size_t kKvpMaxValueSize = 2048;                       // bytes incl. terminator
inline constexpr std::size_t kKvpMaxKeyUnits = kKvpMaxKeySize / 2 - 1;      // 255
inline constexpr std::size_t kKvpMaxValueUnits = kKvpMaxValueSize / 2 - 1;  // 1023
// Linux's answers convert with an output limit of (size / 2 - 2) units.
inline constexpr std::size_t kKvpKernelAnswerMaxKeyUnits = kKvpMaxKeySize / 2 - 2;      // 254
inline constexpr std::size_t kKvpKernelAnswerMaxValueUnits = kKvpMaxValueSize / 2 - 2;  // 1022

inline constexpr std::size_t kKvpMaxAdapterIdUnits = 128;  // MAX_ADAPTER_ID_SIZE (u16 units)
inline constexpr std::size_t kKvpMaxIpAddrUnits = 1024;    // MAX_IP_ADDR_SIZE
inline constexpr std::size_t kKvpMaxGatewayUnits = 512;    // MAX_GATEWAY_SIZE

inline constexpr std::size_t kKvpHeaderSize = 4;            // struct hv_kvp_hdr
inline constexpr std::size_t kKvpExchgValueSize = 2572;     // struct hv_kvp_exchg_msg_value
inline constexpr std::size_t kKvpEnumerateBodySize = 2576;  // struct hv_kvp_msg_enumerate
inline constexpr std::size_t kKvpDeleteBodySize = 516;      // struct hv_kvp_msg_delete
inline constexpr std::size_t kKvpIpAddrValueSize = 7426;    // struct hv_kvp_ipaddr_value
inline constexpr std::size_t kKvpBodyUnionSize = 7428;      // hv_kvp_msg.body (7426 rounded to 4)
inline constexpr std::size_t kKvpMessageSize = 7432;        // struct hv_kvp_msg
inline constexpr std::size_t kKvpIpMessageSize = 7428;      // struct hv_kvp_ip_msg

// struct hv_kvp_msg
inline constexpr std::size_t kKvpOffOperation = 0;
inline constexpr std::size_t kKvpOffPool = 1;
inline constexpr std::size_t kKvpOffBody = 4;
// GET/SET: hv_kvp_exchg_msg_value at the body
inline constexpr std::size_t kKvpOffValueType = 4;
inline constexpr std::size_t kKvpOffKeySize = 8;
inline constexpr std::size_t kKvpOffValueSize = 12;
inline constexpr std::size_t kKvpOffKey = 16;
inline constexpr std::size_t kKvpOffValue = 528;
// ENUMERATE: index, then hv_kvp_exchg_msg_value
inline constexpr std::size_t kKvpOffEnumIndex = 4;
inline constexpr std::size_t kKvpOffEnumValueType = 8;
inline constexpr std::size_t kKvpOffEnumKeySize = 12;
inline constexpr std::size_t kKvpOffEnumValueSize = 16;
inline constexpr std::size_t kKvpOffEnumKey = 20;
inline constexpr std::size_t kKvpOffEnumValue = 532;
// DELETE
inline constexpr std::size_t kKvpOffDeleteKeySize = 4;
inline constexpr std::size_t kKvpOffDeleteKey = 8;
// struct hv_kvp_ipaddr_value, relative to its start
inline constexpr std::size_t kKvpIpOffAdapterId = 0;
inline constexpr std::size_t kKvpIpOffAddrFamily = 256;
inline constexpr std::size_t kKvpIpOffDhcpEnabled = 257;
inline constexpr std::size_t kKvpIpOffIpAddr = 258;
inline constexpr std::size_t kKvpIpOffSubNet = 2306;
inline constexpr std::size_t kKvpIpOffGateWay = 4354;
inline constexpr std::size_t kKvpIpOffDnsAddr = 5378;
// where hv_kvp_ipaddr_value starts in the host message (hv_kvp_ip_msg) and in the
// daemon message (hv_kvp_msg.body)
inline constexpr std::size_t kKvpIpMsgOffIpValue = 2;

// ---- Message structs --------------------------------------------------------

// The value part of hv_kvp_exchg_msg_value.
struct KvpValue {
  KvpValueType type = KvpValueType::none;
  std::string text;          // sz: UTF-8
  std::uint64_t number = 0;  // u32 / u64

  static KvpValue string(std::string s) { return {KvpValueType::sz, std::move(s), 0}; }
  static KvpValue u32(std::uint32_t v) { return {KvpValueType::u32, {}, v}; }
  static KvpValue u64(std::uint64_t v) { return {KvpValueType::u64, {}, v}; }
  bool operator==(const KvpValue&) const = default;
};

// GET: the host sends the key (value none); the guest answers with the value
// (Linux: always REG_SZ).
struct KvpGet {
  KvpPool pool = KvpPool::external;
  std::string key;
  KvpValue value;
  bool operator==(const KvpGet&) const = default;
};

// SET: key and a typed value; the guest's answer is the request unchanged.
struct KvpSet {
  KvpPool pool = KvpPool::external;
  std::string key;
  KvpValue value;  // never none
  bool operator==(const KvpSet&) const = default;
};

// DELETE: {key_size u32, key[512]} at the body; the answer is the request unchanged.
struct KvpDelete {
  KvpPool pool = KvpPool::external;
  std::string key;
  bool operator==(const KvpDelete&) const = default;
};

struct KvpEntry {
  std::string key;
  KvpValue value;
  bool operator==(const KvpEntry&) const = default;
};

// ENUMERATE: the host sends an index with a zeroed value part (entry absent:
// value_type, key_size and value_size all 0); the guest answers with the key and
// value at that index, or with an error status and the request unchanged.
struct KvpEnumerate {
  KvpPool pool = KvpPool::external;
  std::uint32_t index = 0;
  std::optional<KvpEntry> entry;
  bool operator==(const KvpEnumerate&) const = default;
};

// hv_kvp_ipaddr_value with its strings as UTF-8. Each UTF-16 field must hold a NUL
// unit, so the longest strings are 127 / 1023 / 511 / 1023 units.
struct KvpIpAddress {
  std::string adapter_id;
  std::uint8_t addr_family = kKvpAddrFamilyNone;  // bit set, <= 3
  std::uint8_t dhcp_enabled = 0;                  // 0 or 1
  std::string ip_addr;
  std::string sub_net;
  std::string gate_way;
  std::string dns_addr;
  bool operator==(const KvpIpAddress&) const = default;
};

// GET_IP_INFO (host sends adapter_id and addr_family, the guest answers with the
// addresses) and SET_IP_INFO (host sends everything, answer unchanged).
struct KvpIpInfo {
  KvpOperation operation = KvpOperation::get_ip_info;  // get_ip_info or set_ip_info
  KvpPool pool = KvpPool::external;
  KvpIpAddress ip;
  bool operator==(const KvpIpInfo&) const = default;
};

using KvpMessage = std::variant<KvpGet, KvpSet, KvpDelete, KvpEnumerate, KvpIpInfo>;

KvpOperation kvp_operation(const KvpMessage& m);
const char* to_string(KvpOperation op);
const char* to_string(KvpPool pool);

// ---- Decode / encode --------------------------------------------------------

// `body` is the message after the pipe and IC headers. Dispatches on the
// operation byte; errors name the field ("kvp.operation", "kvp.pool",
// "kvp.set.key_size", "kvp.ip.dns_addr", ...).
Result<KvpMessage> decode_kvp(ByteSpan body);
// Typed decoders: also reject a message of another operation ("kvp.operation").
Result<KvpGet> decode_kvp_get(ByteSpan body);
Result<KvpSet> decode_kvp_set(ByteSpan body);
Result<KvpDelete> decode_kvp_delete(ByteSpan body);
Result<KvpEnumerate> decode_kvp_enumerate(ByteSpan body);
Result<KvpIpInfo> decode_kvp_ip_info(ByteSpan body);  // GET_IP_INFO or SET_IP_INFO

// Encoders produce Linux's layout with every unused byte zero. They fail (naming
// the field) on a string that is not valid UTF-8, holds a NUL, or does not fit,
// and on values the decoders would reject; `w` may then hold a partial message.
Result<Bytes> encode_kvp(const KvpMessage& m);
Status encode(const KvpGet& m, ByteWriter& w);
Status encode(const KvpSet& m, ByteWriter& w);
Status encode(const KvpDelete& m, ByteWriter& w);
Status encode(const KvpEnumerate& m, ByteWriter& w);
Status encode(const KvpIpInfo& m, ByteWriter& w);

}  // namespace vmbh::proto
