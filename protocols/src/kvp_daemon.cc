#include "vmbh/protocols/kvp_daemon.h"

#include <string_view>

#include "vmbh/protocols/utf16.h"

namespace vmbh::proto {
namespace {

// Offsets in struct hv_kvp_msg (see kvp.h for the layout).
constexpr std::size_t kOffKeySize = kKvpOffKeySize;           // 8
constexpr std::size_t kOffValueSize = kKvpOffValueSize;       // 12
constexpr std::size_t kOffKey = kKvpOffKey;                   // 16
constexpr std::size_t kOffValue = kKvpOffValue;               // 528
constexpr std::size_t kOffEnumIndex = kKvpOffEnumIndex;       // 4
constexpr std::size_t kOffEnumKey = kKvpOffEnumKey;           // 20
constexpr std::size_t kOffEnumValue = kKvpOffEnumValue;       // 532
constexpr std::size_t kOffDelKeySize = kKvpOffDeleteKeySize;  // 4
constexpr std::size_t kOffDelKey = kKvpOffDeleteKey;          // 8
constexpr std::size_t kIp = kKvpDaemonOffIpValue;

std::uint8_t byte_at(ByteSpan s, std::size_t i) { return std::to_integer<std::uint8_t>(s[i]); }

Status check_size(ByteSpan msg) {
  if (msg.size() < kKvpDaemonMessageSize) return Error{Errc::truncated, "kvp_daemon.message", msg.size()};
  if (msg.size() > kKvpDaemonMessageSize) {
    return Error{Errc::trailing_data, "kvp_daemon.message", kKvpDaemonMessageSize};
  }
  return {};
}

// A NUL-terminated UTF-8 string in the field [off, off + cap) of the message.
Result<std::string> text_at(ByteSpan msg, std::size_t off, std::size_t cap, const char* name) {
  ByteSpan field = msg.subspan(off, cap);
  std::size_t len = 0;
  while (len < field.size() && byte_at(field, len) != 0) ++len;
  if (len == field.size()) return Error{Errc::bad_length, name, off + cap};  // no NUL inside the field
  std::string s(reinterpret_cast<const char*>(field.data()), len);
  auto check = utf8_to_utf16le(s, name);  // validates the UTF-8
  if (!check) return Error{check.error().code, name, off + check.error().offset};
  return s;
}

// Validates a string to encode: UTF-8, no NUL, fits `cap` with its NUL.
Status check_text(std::string_view s, std::size_t cap, const char* name) {
  auto check = utf8_to_utf16le(s, name);
  if (!check) return check.error();
  if (s.size() + 1 > cap) return Error{Errc::bad_length, name, 0};
  return {};
}

void put_u32(Bytes& out, std::size_t at, std::uint32_t v) { store_u32(out, at, v); }
void put_text(Bytes& out, std::size_t at, std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) out[at + i] = std::byte(static_cast<std::uint8_t>(s[i]));
}

Status check_pool(std::uint8_t pool, const char* name, std::size_t off) {
  if (pool >= kKvpPoolCount) return Error{Errc::bad_value, name, off};
  return {};
}

bool is_register_op(std::uint8_t op) { return op == kKvpOpRegister || op == kKvpOpRegister1; }

// The daemon-form hv_kvp_ipaddr_value at the body.
Result<KvpIpAddress> decode_ip(ByteSpan msg, const char* const names[7]) {
  KvpIpAddress ip;
  auto adapter = text_at(msg, kIp + kKvpIpOffAdapterId, 2 * kKvpMaxAdapterIdUnits, names[0]);
  if (!adapter) return adapter.error();
  ip.adapter_id = std::move(*adapter);
  ip.addr_family = byte_at(msg, kIp + kKvpIpOffAddrFamily);
  if ((ip.addr_family & ~kKvpAddrFamilyMask) != 0)
    return Error{Errc::bad_value, names[1], kIp + kKvpIpOffAddrFamily};
  ip.dhcp_enabled = byte_at(msg, kIp + kKvpIpOffDhcpEnabled);
  if (ip.dhcp_enabled > 1) return Error{Errc::bad_value, names[2], kIp + kKvpIpOffDhcpEnabled};
  struct Field {
    std::size_t off;
    std::size_t cap;
    std::string* out;
  };
  const Field fields[] = {
      {kIp + kKvpIpOffIpAddr, 2 * kKvpMaxIpAddrUnits, &ip.ip_addr},
      {kIp + kKvpIpOffSubNet, 2 * kKvpMaxIpAddrUnits, &ip.sub_net},
      {kIp + kKvpIpOffGateWay, 2 * kKvpMaxGatewayUnits, &ip.gate_way},
      {kIp + kKvpIpOffDnsAddr, 2 * kKvpMaxIpAddrUnits, &ip.dns_addr},
  };
  for (std::size_t i = 0; i < 4; ++i) {
    auto s = text_at(msg, fields[i].off, fields[i].cap, names[3 + i]);
    if (!s) return s.error();
    *fields[i].out = std::move(*s);
  }
  return ip;
}

constexpr const char* kReqIpNames[7] = {"kvp_daemon.ip.adapter_id",   "kvp_daemon.ip.addr_family",
                                        "kvp_daemon.ip.dhcp_enabled", "kvp_daemon.ip.ip_addr",
                                        "kvp_daemon.ip.sub_net",      "kvp_daemon.ip.gate_way",
                                        "kvp_daemon.ip.dns_addr"};
constexpr const char* kReplyIpNames[7] = {
    "kvp_daemon.reply.ip.adapter_id", "kvp_daemon.reply.ip.addr_family", "kvp_daemon.reply.ip.dhcp_enabled",
    "kvp_daemon.reply.ip.ip_addr",    "kvp_daemon.reply.ip.sub_net",     "kvp_daemon.reply.ip.gate_way",
    "kvp_daemon.reply.ip.dns_addr"};

Status check_ip(const KvpIpAddress& ip, const char* const names[7]) {
  if (auto st = check_text(ip.adapter_id, 2 * kKvpMaxAdapterIdUnits, names[0]); !st) return st;
  if ((ip.addr_family & ~kKvpAddrFamilyMask) != 0) return Error{Errc::bad_value, names[1], 0};
  if (ip.dhcp_enabled > 1) return Error{Errc::bad_value, names[2], 0};
  if (auto st = check_text(ip.ip_addr, 2 * kKvpMaxIpAddrUnits, names[3]); !st) return st;
  if (auto st = check_text(ip.sub_net, 2 * kKvpMaxIpAddrUnits, names[4]); !st) return st;
  if (auto st = check_text(ip.gate_way, 2 * kKvpMaxGatewayUnits, names[5]); !st) return st;
  if (auto st = check_text(ip.dns_addr, 2 * kKvpMaxIpAddrUnits, names[6]); !st) return st;
  return {};
}

void put_ip(Bytes& out, const KvpIpAddress& ip) {
  put_text(out, kIp + kKvpIpOffAdapterId, ip.adapter_id);
  out[kIp + kKvpIpOffAddrFamily] = std::byte(ip.addr_family);
  out[kIp + kKvpIpOffDhcpEnabled] = std::byte(ip.dhcp_enabled);
  put_text(out, kIp + kKvpIpOffIpAddr, ip.ip_addr);
  put_text(out, kIp + kKvpIpOffSubNet, ip.sub_net);
  put_text(out, kIp + kKvpIpOffGateWay, ip.gate_way);
  put_text(out, kIp + kKvpIpOffDnsAddr, ip.dns_addr);
}

// key_size must be strlen(key) + 1.
Result<std::string> sized_key(ByteSpan msg, std::size_t size_off, std::size_t key_off, const char* size_name,
                              const char* key_name) {
  auto key = text_at(msg, key_off, kKvpMaxKeySize, key_name);
  if (!key) return key.error();
  if (load_u32(msg, size_off) != key->size() + 1) return Error{Errc::bad_length, size_name, size_off};
  return key;
}

}  // namespace

KvpOperation kvp_operation(const KvpDaemonRequest& m) {
  struct V {
    KvpOperation operator()(const KvpDaemonGet&) const { return KvpOperation::get; }
    KvpOperation operator()(const KvpDaemonSet&) const { return KvpOperation::set; }
    KvpOperation operator()(const KvpDaemonDelete&) const { return KvpOperation::del; }
    KvpOperation operator()(const KvpDaemonEnumerate&) const { return KvpOperation::enumerate; }
    KvpOperation operator()(const KvpDaemonIpInfo& i) const { return i.operation; }
  };
  return std::visit(V{}, m);
}

Result<KvpDaemonRegister> decode_kvp_daemon_register(ByteSpan msg) {
  if (auto st = check_size(msg); !st) return st.error();
  const std::uint8_t op = byte_at(msg, 0);
  if (!is_register_op(op)) return Error{Errc::unknown_type, "kvp_daemon.register.operation", 0};
  return KvpDaemonRegister{op};
}

Result<KvpKernelRegister> decode_kvp_kernel_register(ByteSpan msg) {
  if (auto st = check_size(msg); !st) return st.error();
  const std::uint8_t op = byte_at(msg, 0);
  if (!is_register_op(op)) return Error{Errc::unknown_type, "kvp_daemon.register.operation", 0};
  auto version = text_at(msg, kKvpDaemonOffVersion, kKvpMaxKeySize, "kvp_daemon.register.version");
  if (!version) return version.error();
  return KvpKernelRegister{op, std::move(*version)};
}

Result<KvpDaemonRequest> decode_kvp_daemon_request(ByteSpan msg) {
  if (msg.size() >= 1 && byte_at(msg, 0) >= kKvpOperationCount) {
    return Error{Errc::unknown_type, "kvp_daemon.operation", 0};
  }
  if (auto st = check_size(msg); !st) return st.error();
  const auto op = static_cast<KvpOperation>(byte_at(msg, 0));
  const std::uint8_t pool_byte = byte_at(msg, 1);
  if (auto st = check_pool(pool_byte, "kvp_daemon.pool", 1); !st) return st.error();
  const auto pool = static_cast<KvpPool>(pool_byte);
  switch (op) {
    case KvpOperation::get: {
      auto key = sized_key(msg, kOffKeySize, kOffKey, "kvp_daemon.get.key_size", "kvp_daemon.get.key");
      if (!key) return key.error();
      return KvpDaemonRequest(KvpDaemonGet{pool, std::move(*key)});
    }
    case KvpOperation::set: {
      auto key = sized_key(msg, kOffKeySize, kOffKey, "kvp_daemon.set.key_size", "kvp_daemon.set.key");
      if (!key) return key.error();
      auto value = text_at(msg, kOffValue, kKvpMaxValueSize, "kvp_daemon.set.value");
      if (!value) return value.error();
      const std::uint32_t value_size = load_u32(msg, kOffValueSize);
      if (value_size != value->size() + 1 && !(value_size == 0 && value->empty())) {
        return Error{Errc::bad_length, "kvp_daemon.set.value_size", kOffValueSize};
      }
      return KvpDaemonRequest(KvpDaemonSet{pool, std::move(*key), std::move(*value)});
    }
    case KvpOperation::del: {
      auto key =
          sized_key(msg, kOffDelKeySize, kOffDelKey, "kvp_daemon.delete.key_size", "kvp_daemon.delete.key");
      if (!key) return key.error();
      return KvpDaemonRequest(KvpDaemonDelete{pool, std::move(*key)});
    }
    case KvpOperation::enumerate:
      return KvpDaemonRequest(KvpDaemonEnumerate{pool, load_u32(msg, kOffEnumIndex)});
    case KvpOperation::get_ip_info:
    case KvpOperation::set_ip_info: {
      auto ip = decode_ip(msg, kReqIpNames);
      if (!ip) return ip.error();
      return KvpDaemonRequest(KvpDaemonIpInfo{op, pool, std::move(*ip)});
    }
  }
  return Error{Errc::unknown_type, "kvp_daemon.operation", 0};
}

Result<KvpDaemonReply> decode_kvp_daemon_reply(KvpOperation operation, ByteSpan msg) {
  if (static_cast<std::uint8_t>(operation) >= kKvpOperationCount) {
    return Error{Errc::unknown_type, "kvp_daemon.operation", 0};
  }
  if (auto st = check_size(msg); !st) return st.error();
  KvpDaemonReply r;
  r.operation = operation;
  r.error = load_u32(msg, kKvpDaemonOffError);
  if (r.error != kHvSOk) return r;  // the kernel forwards the error and reads nothing else
  switch (operation) {
    case KvpOperation::get: {
      auto value = text_at(msg, kOffValue, kKvpMaxValueSize, "kvp_daemon.reply.value");
      if (!value) return value.error();
      r.value = std::move(*value);
      break;
    }
    case KvpOperation::enumerate: {
      auto key = text_at(msg, kOffEnumKey, kKvpMaxKeySize, "kvp_daemon.reply.key");
      if (!key) return key.error();
      auto value = text_at(msg, kOffEnumValue, kKvpMaxValueSize, "kvp_daemon.reply.value");
      if (!value) return value.error();
      r.key = std::move(*key);
      r.value = std::move(*value);
      break;
    }
    case KvpOperation::get_ip_info: {
      auto ip = decode_ip(msg, kReplyIpNames);
      if (!ip) return ip.error();
      r.ip = std::move(*ip);
      break;
    }
    case KvpOperation::set:
    case KvpOperation::del:
    case KvpOperation::set_ip_info:
      break;
  }
  return r;
}

Result<Bytes> encode_kvp_daemon(const KvpDaemonRegister& m) {
  if (!is_register_op(m.operation)) return Error{Errc::unknown_type, "kvp_daemon.register.operation", 0};
  Bytes out(kKvpDaemonMessageSize);
  out[0] = std::byte(m.operation);
  return out;
}

Result<Bytes> encode_kvp_daemon(const KvpKernelRegister& m) {
  if (!is_register_op(m.operation)) return Error{Errc::unknown_type, "kvp_daemon.register.operation", 0};
  if (auto st = check_text(m.version, kKvpMaxKeySize, "kvp_daemon.register.version"); !st) return st.error();
  Bytes out(kKvpDaemonMessageSize);
  out[0] = std::byte(m.operation);
  put_text(out, kKvpDaemonOffVersion, m.version);
  return out;
}

Result<Bytes> encode_kvp_daemon(const KvpDaemonRequest& m) {
  const KvpOperation op = kvp_operation(m);
  if (static_cast<std::uint8_t>(op) >= kKvpOperationCount)
    return Error{Errc::unknown_type, "kvp_daemon.operation", 0};
  Bytes out(kKvpDaemonMessageSize);
  out[0] = std::byte(static_cast<std::uint8_t>(op));
  if (const auto* g = std::get_if<KvpDaemonGet>(&m)) {
    if (auto st = check_text(g->key, kKvpMaxKeySize, "kvp_daemon.get.key"); !st) return st.error();
    out[1] = std::byte(static_cast<std::uint8_t>(g->pool));
    put_u32(out, kOffKeySize, static_cast<std::uint32_t>(g->key.size() + 1));
    put_text(out, kOffKey, g->key);
  } else if (const auto* s = std::get_if<KvpDaemonSet>(&m)) {
    if (auto st = check_text(s->key, kKvpMaxKeySize, "kvp_daemon.set.key"); !st) return st.error();
    if (auto st = check_text(s->value, kKvpMaxValueSize, "kvp_daemon.set.value"); !st) return st.error();
    out[1] = std::byte(static_cast<std::uint8_t>(s->pool));
    put_u32(out, kOffKeySize, static_cast<std::uint32_t>(s->key.size() + 1));
    put_u32(out, kOffValueSize, static_cast<std::uint32_t>(s->value.size() + 1));
    put_text(out, kOffKey, s->key);
    put_text(out, kOffValue, s->value);
  } else if (const auto* d = std::get_if<KvpDaemonDelete>(&m)) {
    if (auto st = check_text(d->key, kKvpMaxKeySize, "kvp_daemon.delete.key"); !st) return st.error();
    out[1] = std::byte(static_cast<std::uint8_t>(d->pool));
    put_u32(out, kOffDelKeySize, static_cast<std::uint32_t>(d->key.size() + 1));
    put_text(out, kOffDelKey, d->key);
  } else if (const auto* e = std::get_if<KvpDaemonEnumerate>(&m)) {
    out[1] = std::byte(static_cast<std::uint8_t>(e->pool));
    put_u32(out, kOffEnumIndex, e->index);
  } else if (const auto* ip = std::get_if<KvpDaemonIpInfo>(&m)) {
    if (auto st = check_ip(ip->ip, kReqIpNames); !st) return st.error();
    out[1] = std::byte(static_cast<std::uint8_t>(ip->pool));
    put_ip(out, ip->ip);
  }
  if (auto st = check_pool(std::to_integer<std::uint8_t>(out[1]), "kvp_daemon.pool", 1); !st)
    return st.error();
  return out;
}

Result<Bytes> encode_kvp_daemon(const KvpDaemonReply& m) {
  if (static_cast<std::uint8_t>(m.operation) >= kKvpOperationCount) {
    return Error{Errc::unknown_type, "kvp_daemon.operation", 0};
  }
  Bytes out(kKvpDaemonMessageSize);
  put_u32(out, kKvpDaemonOffError, m.error);
  switch (m.operation) {
    case KvpOperation::get:
      if (auto st = check_text(m.value, kKvpMaxValueSize, "kvp_daemon.reply.value"); !st) return st.error();
      put_text(out, kOffValue, m.value);
      break;
    case KvpOperation::enumerate:
      if (auto st = check_text(m.key, kKvpMaxKeySize, "kvp_daemon.reply.key"); !st) return st.error();
      if (auto st = check_text(m.value, kKvpMaxValueSize, "kvp_daemon.reply.value"); !st) return st.error();
      put_text(out, kOffEnumKey, m.key);
      put_text(out, kOffEnumValue, m.value);
      break;
    case KvpOperation::get_ip_info:
      if (auto st = check_ip(m.ip, kReplyIpNames); !st) return st.error();
      put_ip(out, m.ip);
      break;
    case KvpOperation::set:
    case KvpOperation::del:
    case KvpOperation::set_ip_info:
      break;
  }
  return out;
}

}  // namespace vmbh::proto
