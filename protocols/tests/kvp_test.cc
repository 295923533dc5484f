#include "vmbh/protocols/kvp.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vmbh::proto {
namespace {

// ---- hand-built messages (independent of the encoder) ----

Bytes zeros(std::size_t n) { return Bytes(n, std::byte{0}); }
void put8(Bytes& b, std::size_t at, std::uint8_t v) { b[at] = std::byte(v); }
void put16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = std::byte(static_cast<std::uint8_t>(v));
  b[at + 1] = std::byte(static_cast<std::uint8_t>(v >> 8));
}
void put32(Bytes& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    b[at + static_cast<std::size_t>(i)] = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
}
// ASCII as UTF-16LE units (no terminator: the buffer is zeroed).
void put_ascii16(Bytes& b, std::size_t at, const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) put16(b, at + 2 * i, static_cast<std::uint8_t>(s[i]));
}
void put_units(Bytes& b, std::size_t at, const std::vector<std::uint16_t>& units) {
  for (std::size_t i = 0; i < units.size(); ++i) put16(b, at + 2 * i, units[i]);
}

// SET of key "a", value "b" (REG_SZ) on pool EXTERNAL, as Hyper-V sends it.
Bytes golden_set_a_b() {
  Bytes b = zeros(7432);
  put8(b, 0, 1);       // operation SET
  put8(b, 1, 0);       // pool EXTERNAL
  put32(b, 4, 1);      // value_type REG_SZ
  put32(b, 8, 4);      // key_size: 'a' + NUL, in bytes
  put32(b, 12, 4);     // value_size: 'b' + NUL
  put16(b, 16, 'a');   // key
  put16(b, 528, 'b');  // value
  return b;
}

template <class T>
T decode_ok(ByteSpan b) {
  auto r = decode_kvp(b);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  if (!r.ok()) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(*r));
  return std::get<T>(*r);
}

Bytes enc(const KvpMessage& m) {
  auto r = encode_kvp(m);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : Bytes{};
}

void expect_error(ByteSpan b, Errc code, const char* field) {
  auto r = decode_kvp(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, code) << r.error().message();
  EXPECT_STREQ(r.error().field, field) << r.error().message();
}

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

const std::string kEAcute = "\xC3\xA9";        // é U+00E9
const std::string kEuro = "\xE2\x82\xAC";      // € U+20AC
const std::string kGrin = "\xF0\x9F\x98\x80";  // 😀 U+1F600 (surrogate pair D83D DE00)

std::vector<KvpMessage> one_of_each(KvpPool pool) {
  KvpIpAddress ip{"{00000000-1111-2222-3333-444444444444}",
                  kKvpAddrFamilyIpv4 | kKvpAddrFamilyIpv6,
                  1,
                  "10.0.0.2;fe80::1",
                  "255.255.255.0;64",
                  "10.0.0.1",
                  "10.0.0.53"};
  return {
      KvpGet{pool, "Key", KvpValue{}},
      KvpGet{pool, "Key", KvpValue::string("Value")},
      KvpSet{pool, "Key", KvpValue::string("Value")},
      KvpSet{pool, "Num32", KvpValue::u32(0xDEADBEEF)},
      KvpSet{pool, "Num64", KvpValue::u64(0x0123456789ABCDEFull)},
      KvpDelete{pool, "Key"},
      KvpEnumerate{pool, 7, std::nullopt},
      KvpEnumerate{pool, 2, KvpEntry{"NetworkAddressIPv4", KvpValue::string("10.0.0.2")}},
      KvpIpInfo{KvpOperation::get_ip_info, pool, KvpIpAddress{"{abc}", 0, 0, "", "", "", ""}},
      KvpIpInfo{KvpOperation::get_ip_info, pool, ip},
      KvpIpInfo{KvpOperation::set_ip_info, pool, ip},
  };
}

// ---- sizes and offsets ----

TEST(Kvp, StructSizesMatchLinux) {
  // hv_kvp_exchg_msg_value: 3 x u32 + key[512] + value[2048], packed.
  EXPECT_EQ(kKvpExchgValueSize, 12u + 512u + 2048u);
  EXPECT_EQ(kKvpExchgValueSize, 2572u);
  EXPECT_EQ(kKvpEnumerateBodySize, 2576u);
  EXPECT_EQ(kKvpDeleteBodySize, 516u);
  // hv_kvp_ipaddr_value: u16[128] + 2 x u8 + u16[1024] x 2 + u16[512] + u16[1024], packed.
  EXPECT_EQ(kKvpIpAddrValueSize, 256u + 2u + 2048u + 2048u + 1024u + 2048u);
  EXPECT_EQ(kKvpIpAddrValueSize, 7426u);
  // The body union is 4-aligned (hv_kvp_msg_delete holds a u32), so 7426 rounds
  // up to 7428; hv_kvp_msg = 4-byte header + 7428 = 7432 (the DESIGN.md number).
  EXPECT_EQ(kKvpBodyUnionSize, 7428u);
  EXPECT_EQ(kKvpMessageSize, 7432u);
  // hv_kvp_ip_msg has a 2-byte header and no padding.
  EXPECT_EQ(kKvpIpMessageSize, 7428u);
  EXPECT_EQ(enc(KvpSet{KvpPool::guest, "k", KvpValue::string("v")}).size(), 7432u);
  EXPECT_EQ(enc(KvpIpInfo{}).size(), 7428u);
}

TEST(Kvp, OffsetsPinned) {
  EXPECT_EQ(kKvpOffValueType, 4u);
  EXPECT_EQ(kKvpOffKeySize, 8u);
  EXPECT_EQ(kKvpOffValueSize, 12u);
  EXPECT_EQ(kKvpOffKey, 16u);
  EXPECT_EQ(kKvpOffValue, 528u);
  EXPECT_EQ(kKvpOffEnumIndex, 4u);
  EXPECT_EQ(kKvpOffEnumKeySize, 12u);
  EXPECT_EQ(kKvpOffEnumKey, 20u);
  EXPECT_EQ(kKvpOffEnumValue, 532u);
  EXPECT_EQ(kKvpOffDeleteKeySize, 4u);
  EXPECT_EQ(kKvpOffDeleteKey, 8u);
  EXPECT_EQ(kKvpIpMsgOffIpValue, 2u);
  EXPECT_EQ(kKvpIpOffAddrFamily, 256u);
  EXPECT_EQ(kKvpIpOffDhcpEnabled, 257u);
  EXPECT_EQ(kKvpIpOffIpAddr, 258u);
  EXPECT_EQ(kKvpIpOffSubNet, 2306u);
  EXPECT_EQ(kKvpIpOffGateWay, 4354u);
  EXPECT_EQ(kKvpIpOffDnsAddr, 5378u);
}

TEST(Kvp, ConstantsMatchLinux) {
  EXPECT_EQ(static_cast<int>(KvpOperation::get), 0);
  EXPECT_EQ(static_cast<int>(KvpOperation::set_ip_info), 5);
  EXPECT_EQ(static_cast<int>(KvpPool::auto_internal), 4);
  EXPECT_EQ(static_cast<std::uint32_t>(KvpValueType::sz), 1u);
  EXPECT_EQ(static_cast<std::uint32_t>(KvpValueType::u32), 4u);
  EXPECT_EQ(static_cast<std::uint32_t>(KvpValueType::u64), 8u);
  EXPECT_EQ(kKvpOpRegister, 4);
  EXPECT_EQ(kKvpOpRegister1, 100);
  EXPECT_EQ(kHvSCont, 0x80070103u);
  EXPECT_EQ(kHvEFail, 0x80004005u);
  EXPECT_EQ(kKvpMaxKeyUnits, 255u);
  EXPECT_EQ(kKvpMaxValueUnits, 1023u);
  EXPECT_EQ(kKvpKernelAnswerMaxKeyUnits, 254u);
  EXPECT_EQ(kKvpKernelAnswerMaxValueUnits, 1022u);
  EXPECT_STREQ(to_string(KvpOperation::enumerate), "ENUMERATE");
  EXPECT_STREQ(to_string(KvpPool::automatic), "AUTO");
}

// ---- golden messages ----

TEST(Kvp, GoldenSetKeyAValueB) {
  Bytes g = golden_set_a_b();
  auto m = decode_ok<KvpSet>(g);
  EXPECT_EQ(m, (KvpSet{KvpPool::external, "a", KvpValue::string("b")}));
  EXPECT_EQ(enc(m), g);
}

TEST(Kvp, GoldenSetU32AndU64) {
  Bytes g = zeros(7432);
  put8(g, 0, 1);
  put8(g, 1, 3);   // AUTO_EXTERNAL
  put32(g, 4, 4);  // REG_U32
  put32(g, 8, 6);
  put32(g, 12, 4);
  put_ascii16(g, 16, "n2");
  put32(g, 528, 1234567);
  auto m = decode_ok<KvpSet>(g);
  EXPECT_EQ(m, (KvpSet{KvpPool::auto_external, "n2", KvpValue::u32(1234567)}));
  EXPECT_EQ(enc(m), g);

  Bytes g64 = zeros(7432);
  put8(g64, 0, 1);
  put32(g64, 4, 8);  // REG_U64
  put32(g64, 8, 4);
  put32(g64, 12, 8);
  put_ascii16(g64, 16, "x");
  put32(g64, 528, 0x89ABCDEF);
  put32(g64, 532, 0x01234567);
  auto m64 = decode_ok<KvpSet>(g64);
  EXPECT_EQ(m64.value, KvpValue::u64(0x0123456789ABCDEFull));
  EXPECT_EQ(enc(m64), g64);
}

TEST(Kvp, GoldenGetRequestAndAnswer) {
  Bytes req = zeros(7432);
  put8(req, 0, 0);   // GET
  put8(req, 1, 1);   // GUEST
  put32(req, 8, 8);  // "Key" + NUL = 4 units = 8 bytes
  put_ascii16(req, 16, "Key");
  auto q = decode_ok<KvpGet>(req);
  EXPECT_EQ(q, (KvpGet{KvpPool::guest, "Key", KvpValue{}}));
  EXPECT_EQ(enc(q), req);

  // Linux answers in place: value_type REG_SZ, value_size 2 * (units + 1).
  Bytes ans = req;
  put32(ans, 4, 1);
  put32(ans, 12, 6);
  put_ascii16(ans, 528, "hi");
  auto a = decode_ok<KvpGet>(ans);
  EXPECT_EQ(a, (KvpGet{KvpPool::guest, "Key", KvpValue::string("hi")}));
  EXPECT_EQ(enc(a), ans);
}

TEST(Kvp, GoldenDelete) {
  Bytes g = zeros(7432);
  put8(g, 0, 2);
  put8(g, 1, 4);  // AUTO_INTERNAL
  put32(g, 4, 10);
  put_ascii16(g, 8, "gone");
  auto m = decode_ok<KvpDelete>(g);
  EXPECT_EQ(m, (KvpDelete{KvpPool::auto_internal, "gone"}));
  EXPECT_EQ(enc(m), g);
}

TEST(Kvp, GoldenEnumerateRequestAndAnswer) {
  Bytes req = zeros(7432);
  put8(req, 0, 3);
  put8(req, 1, 2);   // AUTO
  put32(req, 4, 5);  // index
  auto q = decode_ok<KvpEnumerate>(req);
  EXPECT_EQ(q, (KvpEnumerate{KvpPool::automatic, 5, std::nullopt}));
  EXPECT_EQ(enc(q), req);

  Bytes ans = req;
  put32(ans, 8, 1);    // REG_SZ
  put32(ans, 12, 14);  // "OSName" + NUL
  put32(ans, 16, 12);  // "Linux" + NUL
  put_ascii16(ans, 20, "OSName");
  put_ascii16(ans, 532, "Linux");
  auto a = decode_ok<KvpEnumerate>(ans);
  ASSERT_TRUE(a.entry.has_value());
  EXPECT_EQ(a, (KvpEnumerate{KvpPool::automatic, 5, KvpEntry{"OSName", KvpValue::string("Linux")}}));
  EXPECT_EQ(enc(a), ans);
}

TEST(Kvp, GoldenGetIpInfoRequest) {
  Bytes g = zeros(7428);
  put8(g, 0, 4);
  put8(g, 1, 0);
  put_ascii16(g, 2, "00:15:5D:00:01:02");
  put8(g, 258, 1);  // addr_family IPv4
  auto r = decode_kvp_ip_info(g);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->operation, KvpOperation::get_ip_info);
  EXPECT_EQ(r->ip.adapter_id, "00:15:5D:00:01:02");
  EXPECT_EQ(r->ip.addr_family, kKvpAddrFamilyIpv4);
  EXPECT_EQ(r->ip.ip_addr, "");
  EXPECT_EQ(enc(*r), g);
}

TEST(Kvp, GoldenSetIpInfo) {
  Bytes g = zeros(7428);
  put8(g, 0, 5);
  put_ascii16(g, 2, "{AD}");
  put8(g, 258, 2);  // IPv6
  put8(g, 259, 1);  // DHCP
  put_ascii16(g, 260, "10.1.2.3");
  put_ascii16(g, 2308, "255.0.0.0");
  put_ascii16(g, 4356, "10.0.0.1");
  put_ascii16(g, 5380, "8.8.8.8");
  auto m = decode_ok<KvpIpInfo>(g);
  EXPECT_EQ(m, (KvpIpInfo{KvpOperation::set_ip_info, KvpPool::external,
                          KvpIpAddress{"{AD}", 2, 1, "10.1.2.3", "255.0.0.0", "10.0.0.1", "8.8.8.8"}}));
  EXPECT_EQ(enc(m), g);
}

// ---- round trips ----

TEST(Kvp, RoundTripEveryOperationAndPool) {
  for (std::uint8_t p = 0; p < kKvpPoolCount; ++p) {
    for (const KvpMessage& m : one_of_each(static_cast<KvpPool>(p))) {
      Bytes b = enc(m);
      auto d = decode_kvp(b);
      ASSERT_TRUE(d.ok()) << d.error().message();
      EXPECT_EQ(*d, m) << to_string(kvp_operation(m)) << " pool " << int{p};
      EXPECT_EQ(std::to_integer<int>(b[0]), static_cast<int>(kvp_operation(m)));
      EXPECT_EQ(std::to_integer<int>(b[1]), int{p});
    }
  }
}

TEST(Kvp, TypedDecodersMatchAndRejectOtherOperations) {
  Bytes set = golden_set_a_b();
  EXPECT_TRUE(decode_kvp_set(set).ok());
  for (auto r : {decode_kvp_get(set).ok(), decode_kvp_delete(set).ok(), decode_kvp_enumerate(set).ok(),
                 decode_kvp_ip_info(set).ok()}) {
    EXPECT_FALSE(r);
  }
  auto e = decode_kvp_get(set);
  EXPECT_EQ(e.error().code, Errc::unknown_type);
  EXPECT_STREQ(e.error().field, "kvp.operation");
  Bytes del = enc(KvpDelete{KvpPool::guest, "x"});
  EXPECT_TRUE(decode_kvp_delete(del).ok());
  Bytes en = enc(KvpEnumerate{KvpPool::guest, 1, std::nullopt});
  EXPECT_TRUE(decode_kvp_enumerate(en).ok());
  Bytes get = enc(KvpGet{KvpPool::guest, "x", {}});
  EXPECT_TRUE(decode_kvp_get(get).ok());
}

TEST(Kvp, NonAsciiRoundTripsAndUsesUtf16) {
  const std::string key = "cl" + kEAcute + kEuro + kGrin;
  const std::string value = kGrin + "v" + kEuro;
  Bytes b = enc(KvpSet{KvpPool::guest, key, KvpValue::string(value)});
  // key units: 'c' 'l' E9 20AC D83D DE00 NUL = 7 units = 14 bytes
  EXPECT_EQ(load_u32(b, 8), 14u);
  Bytes want = zeros(14);
  put_units(want, 0, {'c', 'l', 0xE9, 0x20AC, 0xD83D, 0xDE00, 0});
  EXPECT_EQ(Bytes(b.begin() + 16, b.begin() + 30), want);
  EXPECT_EQ(load_u32(b, 12), 10u);  // D83D DE00 'v' 20AC NUL
  auto d = decode_ok<KvpSet>(b);
  EXPECT_EQ(d.key, key);
  EXPECT_EQ(d.value.text, value);
}

// ---- limits ----

TEST(Kvp, MaximumKeyIs255UnitsKeySize512) {
  const std::string key(255, 'k');
  Bytes b = enc(KvpSet{KvpPool::external, key, KvpValue::string("v")});
  EXPECT_EQ(load_u32(b, 8), 512u);
  EXPECT_EQ(decode_ok<KvpSet>(b).key, key);
  // one unit longer does not fit with its terminator
  auto r = encode_kvp(KvpSet{KvpPool::external, std::string(256, 'k'), KvpValue::string("v")});
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().field, "kvp.set.key");
  EXPECT_EQ(r.error().code, Errc::bad_length);
}

TEST(Kvp, KeySizeAboveFieldRejected) {
  Bytes b = golden_set_a_b();
  for (std::uint16_t i = 0; i < 256; ++i) put16(b, 16 + 2 * i, 'k');  // 256 units, no NUL in the field
  put32(b, 8, 514);
  expect_error(b, Errc::bad_length, "kvp.set.key_size");
  put32(b, 8, 512);  // the size fits, but the last unit is not NUL
  expect_error(b, Errc::bad_length, "kvp.set.key_size");
  put32(b, 8, 0xFFFFFFFE);
  expect_error(b, Errc::bad_length, "kvp.set.key_size");
}

TEST(Kvp, MaximumValueIs1023UnitsValueSize2048) {
  const std::string value(1023, 'v');
  Bytes b = enc(KvpSet{KvpPool::external, "k", KvpValue::string(value)});
  EXPECT_EQ(load_u32(b, 12), 2048u);
  EXPECT_EQ(decode_ok<KvpSet>(b).value.text, value);
  auto r = encode_kvp(KvpSet{KvpPool::external, "k", KvpValue::string(std::string(1024, 'v'))});
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().field, "kvp.set.value");
  Bytes big = golden_set_a_b();
  put32(big, 12, 2050);
  expect_error(big, Errc::bad_length, "kvp.set.value_size");
}

TEST(Kvp, MaximumKeyCountsUtf16UnitsNotCharacters) {
  // 127 surrogate pairs + 1 BMP char = 255 units: the longest key.
  const std::string key = repeat(kGrin, 127) + kEuro;
  Bytes b = enc(KvpGet{KvpPool::external, key, {}});
  EXPECT_EQ(load_u32(b, 8), 512u);
  EXPECT_EQ(decode_ok<KvpGet>(b).key, key);
  EXPECT_FALSE(encode_kvp(KvpGet{KvpPool::external, repeat(kGrin, 128), {}}).ok());  // 256 units
}

TEST(Kvp, EmptyKeyHasKeySize2) {
  Bytes b = enc(KvpDelete{KvpPool::external, ""});
  EXPECT_EQ(load_u32(b, 4), 2u);
  EXPECT_EQ(decode_ok<KvpDelete>(b).key, "");
}

// ---- bad sizes, encodings and values ----

TEST(Kvp, OddKeySizeRejected) {
  Bytes b = golden_set_a_b();
  put32(b, 8, 3);
  expect_error(b, Errc::bad_length, "kvp.set.key_size");
}

TEST(Kvp, ZeroKeySizeRejectedWhereAKeyIsRequired) {
  Bytes set = golden_set_a_b();
  put32(set, 8, 0);
  expect_error(set, Errc::bad_length, "kvp.set.key_size");
  Bytes get = enc(KvpGet{KvpPool::external, "a", {}});
  put32(get, 8, 0);
  expect_error(get, Errc::bad_length, "kvp.get.key_size");
  Bytes del = enc(KvpDelete{KvpPool::external, "a"});
  put32(del, 4, 0);
  expect_error(del, Errc::bad_length, "kvp.delete.key_size");
}

TEST(Kvp, KeySizeMustEndAtTheTerminator) {
  Bytes b = golden_set_a_b();
  put32(b, 8, 6);  // claims 2 units + NUL, but the NUL is the 2nd unit
  expect_error(b, Errc::bad_length, "kvp.set.key_size");
  put32(b, 8, 2);  // claims only the NUL, but unit 0 is 'a'
  expect_error(b, Errc::bad_length, "kvp.set.key_size");
}

TEST(Kvp, ValueSizeMustEndAtTheTerminator) {
  Bytes b = golden_set_a_b();
  put32(b, 12, 8);
  expect_error(b, Errc::bad_length, "kvp.set.value_size");
  put32(b, 12, 0);
  expect_error(b, Errc::bad_length, "kvp.set.value_size");
  put32(b, 12, 5);
  expect_error(b, Errc::bad_length, "kvp.set.value_size");
}

TEST(Kvp, UnpairedSurrogatesRejected) {
  Bytes hi = golden_set_a_b();
  put_units(hi, 16, {'a', 0xD83D, 'b', 0});
  put32(hi, 8, 8);
  auto r = decode_kvp(hi);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::bad_encoding);
  EXPECT_STREQ(r.error().field, "kvp.set.key");
  EXPECT_EQ(r.error().offset, 18u);  // absolute offset of the lone surrogate

  Bytes lo = golden_set_a_b();
  put_units(lo, 528, {0xDE00, 0});
  expect_error(lo, Errc::bad_encoding, "kvp.set.value");

  Bytes high_at_end = golden_set_a_b();
  put_units(high_at_end, 528, {'x', 0xD800, 0});
  put32(high_at_end, 12, 6);
  expect_error(high_at_end, Errc::bad_encoding, "kvp.set.value");
}

TEST(Kvp, EncoderRejectsInvalidUtf8AndNul) {
  auto bad = encode_kvp(KvpSet{KvpPool::external, "\xC3", KvpValue::string("v")});
  ASSERT_FALSE(bad.ok());
  EXPECT_STREQ(bad.error().field, "kvp.set.key");
  auto nul = encode_kvp(KvpGet{KvpPool::external, "k", KvpValue::string(std::string("a\0b", 3))});
  ASSERT_FALSE(nul.ok());
  EXPECT_STREQ(nul.error().field, "kvp.get.value");
  auto ip =
      encode_kvp(KvpIpInfo{KvpOperation::set_ip_info, KvpPool::external, {"a", 0, 0, "\xFF", "", "", ""}});
  ASSERT_FALSE(ip.ok());
  EXPECT_STREQ(ip.error().field, "kvp.ip.ip_addr");
}

TEST(Kvp, UnknownOperationRejected) {
  for (int op : {6, 7, 100, 255}) {
    Bytes b = golden_set_a_b();
    put8(b, 0, static_cast<std::uint8_t>(op));
    expect_error(b, Errc::unknown_type, "kvp.operation");
  }
}

TEST(Kvp, UnknownPoolRejectedForEveryOperation) {
  for (const KvpMessage& m : one_of_each(KvpPool::external)) {
    for (int pool : {5, 6, 0x80, 255}) {
      Bytes b = enc(m);
      put8(b, 1, static_cast<std::uint8_t>(pool));
      expect_error(b, Errc::bad_value, "kvp.pool");
    }
  }
  KvpSet bad{static_cast<KvpPool>(5), "k", KvpValue::string("v")};
  ASSERT_FALSE(encode_kvp(bad).ok());
  EXPECT_STREQ(encode_kvp(bad).error().field, "kvp.pool");
}

TEST(Kvp, UnknownValueTypeRejected) {
  for (std::uint32_t t : {2u, 3u, 5u, 7u, 0x100u, 0xFFFFFFFFu}) {
    Bytes b = golden_set_a_b();
    put32(b, 4, t);
    auto r = decode_kvp(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::bad_value);
    EXPECT_STREQ(r.error().field, "kvp.set.value_type");
    EXPECT_EQ(r.error().offset, 4u);
  }
}

TEST(Kvp, SetWithoutValueTypeRejected) {
  Bytes b = golden_set_a_b();
  put32(b, 4, 0);
  put32(b, 12, 0);
  expect_error(b, Errc::bad_value, "kvp.set.value_type");
  EXPECT_FALSE(encode_kvp(KvpSet{KvpPool::external, "k", KvpValue{}}).ok());
}

TEST(Kvp, ScalarValueSizesChecked) {
  Bytes u32 = enc(KvpSet{KvpPool::external, "k", KvpValue::u32(1)});
  put32(u32, 12, 8);
  expect_error(u32, Errc::bad_length, "kvp.set.value_size");
  Bytes u64 = enc(KvpSet{KvpPool::external, "k", KvpValue::u64(1)});
  put32(u64, 12, 4);
  expect_error(u64, Errc::bad_length, "kvp.set.value_size");
  EXPECT_FALSE(encode_kvp(KvpSet{KvpPool::external, "k", KvpValue{KvpValueType::u32, {}, 1ull << 32}}).ok());
}

TEST(Kvp, GetRequestValueSizeWithoutTypeRejected) {
  Bytes b = enc(KvpGet{KvpPool::external, "k", {}});
  put32(b, 12, 2);
  expect_error(b, Errc::bad_length, "kvp.get.value_size");
}

TEST(Kvp, EnumerateRequestMustHaveAZeroValuePart) {
  Bytes b = enc(KvpEnumerate{KvpPool::automatic, 0, std::nullopt});
  put32(b, 8, 1);  // value_type without a key
  expect_error(b, Errc::bad_length, "kvp.enumerate.key_size");
  Bytes c = enc(KvpEnumerate{KvpPool::automatic, 0, std::nullopt});
  put32(c, 16, 2);
  expect_error(c, Errc::bad_length, "kvp.enumerate.key_size");
}

TEST(Kvp, EnumerateAnswerFieldsNamed) {
  Bytes b = enc(KvpEnumerate{KvpPool::automatic, 0, KvpEntry{"k", KvpValue::string("v")}});
  put32(b, 16, 3);
  expect_error(b, Errc::bad_length, "kvp.enumerate.value_size");
  put32(b, 16, 4);
  put16(b, 20, 0xDC00);
  expect_error(b, Errc::bad_encoding, "kvp.enumerate.key");
}

TEST(Kvp, BytesAfterTheTerminatorAreIgnored) {
  // Linux writes answers without clearing the rest of the field.
  Bytes b = golden_set_a_b();
  put16(b, 20, 'z');
  put16(b, 532, 'z');
  EXPECT_EQ(decode_ok<KvpSet>(b), (KvpSet{KvpPool::external, "a", KvpValue::string("b")}));
  put16(b, 2, 0xFFFF);  // the header pad is ignored as well
  EXPECT_TRUE(decode_kvp(b).ok());
}

TEST(Kvp, IpStringsNeedATerminatorInsideTheirField) {
  KvpIpInfo m{KvpOperation::set_ip_info, KvpPool::external,
              KvpIpAddress{std::string(127, 'a'), 1, 0, std::string(1023, '1'), std::string(1023, '2'),
                           std::string(511, '3'), std::string(1023, '4')}};
  Bytes b = enc(m);
  EXPECT_EQ(decode_ok<KvpIpInfo>(b), m);
  Bytes full = b;
  put16(full, 2 + 254, 'a');  // adapter_id: 128 units, no NUL
  expect_error(full, Errc::bad_encoding, "kvp.ip.adapter_id");
  Bytes gw = b;
  put16(gw, 4356 + 1022, '3');
  expect_error(gw, Errc::bad_encoding, "kvp.ip.gate_way");
  Bytes dns = b;
  put16(dns, 5380 + 2046, '4');
  expect_error(dns, Errc::bad_encoding, "kvp.ip.dns_addr");
  m.ip.gate_way = std::string(512, '3');
  auto r = encode_kvp(m);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().field, "kvp.ip.gate_way");
}

TEST(Kvp, IpFlagsValidated) {
  Bytes b = enc(KvpIpInfo{KvpOperation::set_ip_info, KvpPool::external, {"a", 1, 1, "x", "y", "z", "w"}});
  Bytes fam = b;
  put8(fam, 258, 4);
  expect_error(fam, Errc::bad_value, "kvp.ip.addr_family");
  put8(fam, 258, 3);  // IPv4 | IPv6 is allowed
  EXPECT_TRUE(decode_kvp(fam).ok());
  Bytes dhcp = b;
  put8(dhcp, 259, 2);
  expect_error(dhcp, Errc::bad_value, "kvp.ip.dhcp_enabled");
  Bytes sur = b;
  put16(sur, 260, 0xD800);
  expect_error(sur, Errc::bad_encoding, "kvp.ip.ip_addr");
}

// ---- truncation and trailing data ----

TEST(Kvp, TruncationAtEveryLengthIsRejected) {
  for (const KvpMessage& m : one_of_each(KvpPool::guest)) {
    Bytes b = enc(m);
    for (std::size_t n = 0; n < b.size(); ++n) {
      auto r = decode_kvp(ByteSpan(b).first(n));
      ASSERT_FALSE(r.ok()) << to_string(kvp_operation(m)) << " prefix " << n;
      ASSERT_EQ(r.error().code, Errc::truncated) << to_string(kvp_operation(m)) << " prefix " << n;
    }
  }
}

TEST(Kvp, TruncationNamesTheField) {
  Bytes b = golden_set_a_b();
  auto at = [&](std::size_t n) { return std::string(decode_kvp(ByteSpan(b).first(n)).error().field); };
  EXPECT_EQ(at(0), "kvp.operation");
  EXPECT_EQ(at(1), "kvp.pool");
  EXPECT_EQ(at(3), "kvp.pad");
  EXPECT_EQ(at(6), "kvp.set.value_type");
  EXPECT_EQ(at(9), "kvp.set.key_size");
  EXPECT_EQ(at(13), "kvp.set.value_size");
  EXPECT_EQ(at(100), "kvp.set.key");
  EXPECT_EQ(at(600), "kvp.set.value");
  EXPECT_EQ(at(3000), "kvp.body");
  Bytes ip = enc(KvpIpInfo{});
  EXPECT_STREQ(decode_kvp(ByteSpan(ip).first(259)).error().field, "kvp.ip.dhcp_enabled");
  EXPECT_STREQ(decode_kvp(ByteSpan(ip).first(5000)).error().field, "kvp.ip.gate_way");
}

TEST(Kvp, TrailingDataRejected) {
  for (const KvpMessage& m : one_of_each(KvpPool::external)) {
    Bytes b = enc(m);
    b.push_back(std::byte{0});
    auto r = decode_kvp(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::trailing_data);
    EXPECT_STREQ(r.error().field, "kvp.message");
  }
  // An IP message in the 7432-byte hv_kvp_msg size is not accepted either.
  Bytes ip = enc(KvpIpInfo{});
  ip.resize(7432);
  EXPECT_EQ(decode_kvp(ip).error().code, Errc::trailing_data);
}

TEST(Kvp, ErrorMessageNamesField) {
  Bytes b = golden_set_a_b();
  put32(b, 8, 3);
  const std::string msg = decode_kvp(b).error().message();
  EXPECT_NE(msg.find("kvp.set.key_size"), std::string::npos) << msg;
}

}  // namespace
}  // namespace vmbh::proto
