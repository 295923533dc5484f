#include "vmbh/protocols/kvp.h"

#include <string_view>

#include "vmbh/protocols/utf16.h"

namespace vmbh::proto {
namespace {

// Field names of one hv_kvp_exchg_msg_value, per operation.
struct ExchgFields {
  const char* value_type;
  const char* key_size;
  const char* value_size;
  const char* key;
  const char* value;
};
constexpr ExchgFields kGetFields{"kvp.get.value_type", "kvp.get.key_size", "kvp.get.value_size",
                                 "kvp.get.key", "kvp.get.value"};
constexpr ExchgFields kSetFields{"kvp.set.value_type", "kvp.set.key_size", "kvp.set.value_size",
                                 "kvp.set.key", "kvp.set.value"};
constexpr ExchgFields kEnumFields{"kvp.enumerate.value_type", "kvp.enumerate.key_size",
                                  "kvp.enumerate.value_size", "kvp.enumerate.key", "kvp.enumerate.value"};

Error at(Error e, std::size_t base) {
  e.offset += base;
  return e;
}

std::uint16_t unit_at(ByteSpan s, std::size_t i) {
  return static_cast<std::uint16_t>(std::to_integer<std::uint16_t>(s[2 * i]) |
                                    std::to_integer<std::uint16_t>(s[2 * i + 1]) << 8);
}

// A UTF-16LE string whose byte size counts the NUL terminator. `field` is the
// fixed-size wire field, starting at `field_off` in the message.
Result<std::string> decode_sized(ByteSpan field, std::size_t field_off, std::uint32_t size,
                                 std::size_t size_off, const char* size_name, const char* text_name) {
  if (size % 2 != 0 || size < 2 || size > field.size()) return Error{Errc::bad_length, size_name, size_off};
  const std::size_t units = size / 2;  // including the terminator
  for (std::size_t i = 0; i + 1 < units; ++i) {
    if (unit_at(field, i) == 0) return Error{Errc::bad_length, size_name, size_off};  // NUL before the end
  }
  if (unit_at(field, units - 1) != 0)
    return Error{Errc::bad_length, size_name, size_off};  // no NUL at the end
  auto text = utf16le_to_utf8(field.first(2 * (units - 1)), text_name);
  if (!text) return at(text.error(), field_off);
  return text;
}

// A NUL-terminated UTF-16LE string in a fixed field (the IP strings).
Result<std::string> decode_terminated(ByteSpan field, std::size_t field_off, const char* name) {
  auto text = utf16le_terminated_to_utf8(field, name);
  if (!text) return at(text.error(), field_off);
  return text;
}

// The raw fields of hv_kvp_exchg_msg_value and their offsets in the message.
struct RawExchg {
  std::size_t base = 0;  // offset of value_type
  std::uint32_t value_type = 0;
  std::uint32_t key_size = 0;
  std::uint32_t value_size = 0;
  ByteSpan key;
  ByteSpan value;
};

void read_exchg(ByteReader& r, const ExchgFields& f, RawExchg& x) {
  x.base = r.offset();
  x.value_type = r.u32(f.value_type);
  x.key_size = r.u32(f.key_size);
  x.value_size = r.u32(f.value_size);
  x.key = r.bytes(kKvpMaxKeySize, f.key);
  x.value = r.bytes(kKvpMaxValueSize, f.value);
}

Result<std::string> decode_key(const RawExchg& x, const ExchgFields& f) {
  return decode_sized(x.key, x.base + 12, x.key_size, x.base + 4, f.key_size, f.key);
}

Result<KvpValue> decode_value(const RawExchg& x, const ExchgFields& f) {
  const std::size_t size_off = x.base + 8;
  const std::size_t value_off = x.base + 12 + kKvpMaxKeySize;
  switch (static_cast<KvpValueType>(x.value_type)) {
    case KvpValueType::none:
      if (x.value_size != 0) return Error{Errc::bad_length, f.value_size, size_off};
      return KvpValue{};
    case KvpValueType::sz: {
      auto text = decode_sized(x.value, value_off, x.value_size, size_off, f.value_size, f.value);
      if (!text) return text.error();
      return KvpValue::string(std::move(*text));
    }
    case KvpValueType::u32:
      if (x.value_size != 4) return Error{Errc::bad_length, f.value_size, size_off};
      return KvpValue::u32(load_u32(x.value, 0));
    case KvpValueType::u64:
      if (x.value_size != 8) return Error{Errc::bad_length, f.value_size, size_off};
      return KvpValue::u64(load_u64(x.value, 0));
  }
  return Error{Errc::bad_value, f.value_type, x.base};  // value_type is the first field
}

// Reads {operation, pool} and, for hv_kvp_msg layouts, the pad. Validates both.
struct Header {
  KvpOperation op{};
  KvpPool pool{};
};

Result<Header> read_header(ByteReader& r) {
  const std::uint8_t op = r.u8("kvp.operation");
  const std::uint8_t pool = r.u8("kvp.pool");
  if (r.ok() && op >= kKvpOperationCount) return Error{Errc::unknown_type, "kvp.operation", kKvpOffOperation};
  if (r.ok() && pool >= kKvpPoolCount) return Error{Errc::bad_value, "kvp.pool", kKvpOffPool};
  const auto kop = static_cast<KvpOperation>(op);
  if (kop != KvpOperation::get_ip_info && kop != KvpOperation::set_ip_info) r.skip(2, "kvp.pad");
  if (!r.ok()) return *r.error();
  return Header{kop, static_cast<KvpPool>(pool)};
}

// Skips the rest of the body union and checks the message ends there.
Status finish_message(ByteReader& r, std::size_t total) {
  if (r.ok() && r.offset() < total) r.skip(total - r.offset(), "kvp.body");
  r.expect_end("kvp.message");
  return r.status();
}

Result<KvpGet> get_body(ByteReader& r, KvpPool pool) {
  RawExchg x;
  read_exchg(r, kGetFields, x);
  if (auto st = finish_message(r, kKvpMessageSize); !st) return st.error();
  auto key = decode_key(x, kGetFields);
  if (!key) return key.error();
  auto value = decode_value(x, kGetFields);
  if (!value) return value.error();
  return KvpGet{pool, std::move(*key), std::move(*value)};
}

Result<KvpSet> set_body(ByteReader& r, KvpPool pool) {
  RawExchg x;
  read_exchg(r, kSetFields, x);
  if (auto st = finish_message(r, kKvpMessageSize); !st) return st.error();
  if (x.value_type == 0) return Error{Errc::bad_value, kSetFields.value_type, x.base};
  auto key = decode_key(x, kSetFields);
  if (!key) return key.error();
  auto value = decode_value(x, kSetFields);
  if (!value) return value.error();
  return KvpSet{pool, std::move(*key), std::move(*value)};
}

Result<KvpDelete> delete_body(ByteReader& r, KvpPool pool) {
  const std::uint32_t key_size = r.u32("kvp.delete.key_size");
  ByteSpan key_field = r.bytes(kKvpMaxKeySize, "kvp.delete.key");
  if (auto st = finish_message(r, kKvpMessageSize); !st) return st.error();
  auto key = decode_sized(key_field, kKvpOffDeleteKey, key_size, kKvpOffDeleteKeySize, "kvp.delete.key_size",
                          "kvp.delete.key");
  if (!key) return key.error();
  return KvpDelete{pool, std::move(*key)};
}

Result<KvpEnumerate> enumerate_body(ByteReader& r, KvpPool pool) {
  const std::uint32_t index = r.u32("kvp.enumerate.index");
  RawExchg x;
  read_exchg(r, kEnumFields, x);
  if (auto st = finish_message(r, kKvpMessageSize); !st) return st.error();
  KvpEnumerate m{pool, index, std::nullopt};
  if (x.key_size == 0) {
    // Request form (or an error answer, which returns the request unchanged).
    if (x.value_type != 0) return Error{Errc::bad_length, kEnumFields.key_size, x.base + 4};
    if (x.value_size != 0) return Error{Errc::bad_length, kEnumFields.key_size, x.base + 4};
    return m;
  }
  auto key = decode_key(x, kEnumFields);
  if (!key) return key.error();
  auto value = decode_value(x, kEnumFields);
  if (!value) return value.error();
  m.entry = KvpEntry{std::move(*key), std::move(*value)};
  return m;
}

Result<KvpIpInfo> ip_body(ByteReader& r, KvpOperation op, KvpPool pool) {
  constexpr std::size_t base = kKvpIpMsgOffIpValue;
  ByteSpan adapter = r.bytes(2 * kKvpMaxAdapterIdUnits, "kvp.ip.adapter_id");
  const std::uint8_t family = r.u8("kvp.ip.addr_family");
  const std::uint8_t dhcp = r.u8("kvp.ip.dhcp_enabled");
  ByteSpan ip = r.bytes(2 * kKvpMaxIpAddrUnits, "kvp.ip.ip_addr");
  ByteSpan sub = r.bytes(2 * kKvpMaxIpAddrUnits, "kvp.ip.sub_net");
  ByteSpan gw = r.bytes(2 * kKvpMaxGatewayUnits, "kvp.ip.gate_way");
  ByteSpan dns = r.bytes(2 * kKvpMaxIpAddrUnits, "kvp.ip.dns_addr");
  r.expect_end("kvp.message");
  if (!r.ok()) return *r.error();

  KvpIpInfo m{op, pool, {}};
  auto adapter_id = decode_terminated(adapter, base + kKvpIpOffAdapterId, "kvp.ip.adapter_id");
  if (!adapter_id) return adapter_id.error();
  m.ip.adapter_id = std::move(*adapter_id);
  if ((family & ~kKvpAddrFamilyMask) != 0)
    return Error{Errc::bad_value, "kvp.ip.addr_family", base + kKvpIpOffAddrFamily};
  m.ip.addr_family = family;
  if (dhcp > 1) return Error{Errc::bad_value, "kvp.ip.dhcp_enabled", base + kKvpIpOffDhcpEnabled};
  m.ip.dhcp_enabled = dhcp;
  struct Text {
    ByteSpan field;
    std::size_t off;
    const char* name;
    std::string* out;
  };
  const Text texts[] = {
      {ip, base + kKvpIpOffIpAddr, "kvp.ip.ip_addr", &m.ip.ip_addr},
      {sub, base + kKvpIpOffSubNet, "kvp.ip.sub_net", &m.ip.sub_net},
      {gw, base + kKvpIpOffGateWay, "kvp.ip.gate_way", &m.ip.gate_way},
      {dns, base + kKvpIpOffDnsAddr, "kvp.ip.dns_addr", &m.ip.dns_addr},
  };
  for (const Text& t : texts) {
    auto s = decode_terminated(t.field, t.off, t.name);
    if (!s) return s.error();
    *t.out = std::move(*s);
  }
  return m;
}

template <class T, class F>
Result<T> typed(ByteSpan body, KvpOperation want, F&& f) {
  ByteReader r(body);
  auto h = read_header(r);
  if (!h) return h.error();
  if (h->op != want) return Error{Errc::unknown_type, "kvp.operation", kKvpOffOperation};
  return f(r, *h);
}

// ---- encoding helpers ----

// Converts `s` to UTF-16LE and checks that it fits `cap_bytes` with a terminator.
Result<Bytes> to_wire_text(std::string_view s, std::size_t cap_bytes, const char* name) {
  auto u = utf8_to_utf16le(s, name);
  if (!u) return u.error();
  if (u->size() + 2 > cap_bytes) return Error{Errc::bad_length, name, 0};
  return u;
}

Status check_pool(KvpPool pool) {
  if (static_cast<std::uint8_t>(pool) >= kKvpPoolCount)
    return Error{Errc::bad_value, "kvp.pool", kKvpOffPool};
  return {};
}

void put_header(ByteWriter& w, KvpOperation op, KvpPool pool, bool pad) {
  w.u8(static_cast<std::uint8_t>(op));
  w.u8(static_cast<std::uint8_t>(pool));
  if (pad) w.u16(0);
}

// Writes hv_kvp_exchg_msg_value. A null key writes key_size 0 (ENUMERATE request).
Status put_exchg(ByteWriter& w, const std::string* key, const KvpValue& value, const ExchgFields& f) {
  Bytes key_units;
  if (key != nullptr) {
    auto k = to_wire_text(*key, kKvpMaxKeySize, f.key);
    if (!k) return k.error();
    key_units = std::move(*k);
  }
  Bytes value_bytes;
  std::uint32_t value_size = 0;
  switch (value.type) {
    case KvpValueType::none:
      break;
    case KvpValueType::sz: {
      auto v = to_wire_text(value.text, kKvpMaxValueSize, f.value);
      if (!v) return v.error();
      value_bytes = std::move(*v);
      value_size = static_cast<std::uint32_t>(value_bytes.size() + 2);
      break;
    }
    case KvpValueType::u32: {
      if (value.number > 0xFFFFFFFFu) return Error{Errc::bad_value, f.value, 0};
      ByteWriter vw(value_bytes);
      vw.u32(static_cast<std::uint32_t>(value.number));
      value_size = 4;
      break;
    }
    case KvpValueType::u64: {
      ByteWriter vw(value_bytes);
      vw.u64(value.number);
      value_size = 8;
      break;
    }
    default:
      return Error{Errc::bad_value, f.value_type, 0};
  }
  w.u32(static_cast<std::uint32_t>(value.type));
  w.u32(key != nullptr ? static_cast<std::uint32_t>(key_units.size() + 2) : 0u);
  w.u32(value_size);
  std::size_t start = w.size();
  w.bytes(key_units);
  w.pad_to(start, kKvpMaxKeySize);
  start = w.size();
  w.bytes(value_bytes);
  w.pad_to(start, kKvpMaxValueSize);
  return {};
}

}  // namespace

KvpOperation kvp_operation(const KvpMessage& m) {
  struct V {
    KvpOperation operator()(const KvpGet&) const { return KvpOperation::get; }
    KvpOperation operator()(const KvpSet&) const { return KvpOperation::set; }
    KvpOperation operator()(const KvpDelete&) const { return KvpOperation::del; }
    KvpOperation operator()(const KvpEnumerate&) const { return KvpOperation::enumerate; }
    KvpOperation operator()(const KvpIpInfo& i) const { return i.operation; }
  };
  return std::visit(V{}, m);
}

const char* to_string(KvpOperation op) {
  switch (op) {
    case KvpOperation::get:
      return "GET";
    case KvpOperation::set:
      return "SET";
    case KvpOperation::del:
      return "DELETE";
    case KvpOperation::enumerate:
      return "ENUMERATE";
    case KvpOperation::get_ip_info:
      return "GET_IP_INFO";
    case KvpOperation::set_ip_info:
      return "SET_IP_INFO";
  }
  return "?";
}

const char* to_string(KvpPool pool) {
  switch (pool) {
    case KvpPool::external:
      return "EXTERNAL";
    case KvpPool::guest:
      return "GUEST";
    case KvpPool::automatic:
      return "AUTO";
    case KvpPool::auto_external:
      return "AUTO_EXTERNAL";
    case KvpPool::auto_internal:
      return "AUTO_INTERNAL";
  }
  return "?";
}

Result<KvpMessage> decode_kvp(ByteSpan body) {
  ByteReader r(body);
  auto h = read_header(r);
  if (!h) return h.error();
  auto wrap = [](auto&& res) -> Result<KvpMessage> {
    if (!res) return res.error();
    return KvpMessage(std::move(res.value()));
  };
  switch (h->op) {
    case KvpOperation::get:
      return wrap(get_body(r, h->pool));
    case KvpOperation::set:
      return wrap(set_body(r, h->pool));
    case KvpOperation::del:
      return wrap(delete_body(r, h->pool));
    case KvpOperation::enumerate:
      return wrap(enumerate_body(r, h->pool));
    case KvpOperation::get_ip_info:
    case KvpOperation::set_ip_info:
      return wrap(ip_body(r, h->op, h->pool));
  }
  return Error{Errc::unknown_type, "kvp.operation", kKvpOffOperation};
}

Result<KvpGet> decode_kvp_get(ByteSpan body) {
  return typed<KvpGet>(body, KvpOperation::get, [](ByteReader& r, Header h) { return get_body(r, h.pool); });
}
Result<KvpSet> decode_kvp_set(ByteSpan body) {
  return typed<KvpSet>(body, KvpOperation::set, [](ByteReader& r, Header h) { return set_body(r, h.pool); });
}
Result<KvpDelete> decode_kvp_delete(ByteSpan body) {
  return typed<KvpDelete>(body, KvpOperation::del,
                          [](ByteReader& r, Header h) { return delete_body(r, h.pool); });
}
Result<KvpEnumerate> decode_kvp_enumerate(ByteSpan body) {
  return typed<KvpEnumerate>(body, KvpOperation::enumerate,
                             [](ByteReader& r, Header h) { return enumerate_body(r, h.pool); });
}
Result<KvpIpInfo> decode_kvp_ip_info(ByteSpan body) {
  ByteReader r(body);
  auto h = read_header(r);
  if (!h) return h.error();
  if (h->op != KvpOperation::get_ip_info && h->op != KvpOperation::set_ip_info) {
    return Error{Errc::unknown_type, "kvp.operation", kKvpOffOperation};
  }
  return ip_body(r, h->op, h->pool);
}

Status encode(const KvpGet& m, ByteWriter& w) {
  if (auto st = check_pool(m.pool); !st) return st;
  const std::size_t start = w.size();
  put_header(w, KvpOperation::get, m.pool, true);
  if (auto st = put_exchg(w, &m.key, m.value, kGetFields); !st) return st;
  w.pad_to(start, kKvpMessageSize);
  return {};
}

Status encode(const KvpSet& m, ByteWriter& w) {
  if (auto st = check_pool(m.pool); !st) return st;
  if (m.value.type == KvpValueType::none) return Error{Errc::bad_value, kSetFields.value_type, 0};
  const std::size_t start = w.size();
  put_header(w, KvpOperation::set, m.pool, true);
  if (auto st = put_exchg(w, &m.key, m.value, kSetFields); !st) return st;
  w.pad_to(start, kKvpMessageSize);
  return {};
}

Status encode(const KvpDelete& m, ByteWriter& w) {
  if (auto st = check_pool(m.pool); !st) return st;
  auto key = to_wire_text(m.key, kKvpMaxKeySize, "kvp.delete.key");
  if (!key) return key.error();
  const std::size_t start = w.size();
  put_header(w, KvpOperation::del, m.pool, true);
  w.u32(static_cast<std::uint32_t>(key->size() + 2));
  w.bytes(*key);
  w.pad_to(start, kKvpMessageSize);
  return {};
}

Status encode(const KvpEnumerate& m, ByteWriter& w) {
  if (auto st = check_pool(m.pool); !st) return st;
  const std::size_t start = w.size();
  put_header(w, KvpOperation::enumerate, m.pool, true);
  w.u32(m.index);
  if (m.entry) {
    if (auto st = put_exchg(w, &m.entry->key, m.entry->value, kEnumFields); !st) return st;
  } else {
    if (auto st = put_exchg(w, nullptr, KvpValue{}, kEnumFields); !st) return st;
  }
  w.pad_to(start, kKvpMessageSize);
  return {};
}

Status encode(const KvpIpInfo& m, ByteWriter& w) {
  if (m.operation != KvpOperation::get_ip_info && m.operation != KvpOperation::set_ip_info) {
    return Error{Errc::unknown_type, "kvp.operation", kKvpOffOperation};
  }
  if (auto st = check_pool(m.pool); !st) return st;
  if ((m.ip.addr_family & ~kKvpAddrFamilyMask) != 0) return Error{Errc::bad_value, "kvp.ip.addr_family", 0};
  if (m.ip.dhcp_enabled > 1) return Error{Errc::bad_value, "kvp.ip.dhcp_enabled", 0};
  struct Text {
    const std::string* s;
    std::size_t cap;
    const char* name;
  };
  const Text texts[] = {
      {&m.ip.adapter_id, 2 * kKvpMaxAdapterIdUnits, "kvp.ip.adapter_id"},
      {&m.ip.ip_addr, 2 * kKvpMaxIpAddrUnits, "kvp.ip.ip_addr"},
      {&m.ip.sub_net, 2 * kKvpMaxIpAddrUnits, "kvp.ip.sub_net"},
      {&m.ip.gate_way, 2 * kKvpMaxGatewayUnits, "kvp.ip.gate_way"},
      {&m.ip.dns_addr, 2 * kKvpMaxIpAddrUnits, "kvp.ip.dns_addr"},
  };
  Bytes units[5];
  for (std::size_t i = 0; i < 5; ++i) {
    auto u = to_wire_text(*texts[i].s, texts[i].cap, texts[i].name);
    if (!u) return u.error();
    units[i] = std::move(*u);
  }
  const std::size_t start = w.size();
  put_header(w, m.operation, m.pool, false);
  std::size_t field = w.size();
  w.bytes(units[0]);
  w.pad_to(field, texts[0].cap);
  w.u8(m.ip.addr_family);
  w.u8(m.ip.dhcp_enabled);
  for (std::size_t i = 1; i < 5; ++i) {
    field = w.size();
    w.bytes(units[i]);
    w.pad_to(field, texts[i].cap);
  }
  w.pad_to(start, kKvpIpMessageSize);
  return {};
}

Result<Bytes> encode_kvp(const KvpMessage& m) {
  Bytes out;
  out.reserve(kKvpMessageSize);
  ByteWriter w(out);
  Status st = std::visit([&w](const auto& msg) { return encode(msg, w); }, m);
  if (!st) return st.error();
  return out;
}

}  // namespace vmbh::proto
