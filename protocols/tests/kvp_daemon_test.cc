#include "vmbh/protocols/kvp_daemon.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vmbh::proto {
namespace {

Bytes zeros(std::size_t n) { return Bytes(n, std::byte{0}); }
void put8(Bytes& b, std::size_t at, std::uint8_t v) { b[at] = std::byte(v); }
void put32(Bytes& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    b[at + static_cast<std::size_t>(i)] = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_str(Bytes& b, std::size_t at, const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) b[at + i] = std::byte(static_cast<std::uint8_t>(s[i]));
}

template <class T>
Bytes enc(const T& m) {
  auto r = encode_kvp_daemon(m);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : Bytes{};
}

template <class T>
T request_ok(ByteSpan b) {
  auto r = decode_kvp_daemon_request(b);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  if (!r.ok()) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(*r));
  return std::get<T>(*r);
}

void expect_request_error(ByteSpan b, Errc code, const char* field) {
  auto r = decode_kvp_daemon_request(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, code) << r.error().message();
  EXPECT_STREQ(r.error().field, field) << r.error().message();
}

const KvpIpAddress kIp{"00:15:5D:00:01:02", kKvpAddrFamilyIpv4,   1, "10.0.0.2", "255.255.255.0",
                       "10.0.0.1",          "10.0.0.53;10.0.0.54"};

std::vector<KvpDaemonRequest> requests(KvpPool pool) {
  return {
      KvpDaemonGet{pool, "Key"},
      KvpDaemonSet{pool, "Key", "Value"},
      KvpDaemonSet{pool, "Num", "4294967295"},
      KvpDaemonDelete{pool, "Key"},
      KvpDaemonEnumerate{pool, 9},
      KvpDaemonIpInfo{KvpOperation::get_ip_info, pool,
                      KvpIpAddress{"00:15:5D:00:01:02", 0, 0, "", "", "", ""}},
      KvpDaemonIpInfo{KvpOperation::set_ip_info, pool, kIp},
  };
}

std::vector<KvpDaemonReply> replies() {
  return {
      KvpDaemonReply{KvpOperation::get, kHvSOk, "", "Value", {}},
      KvpDaemonReply{KvpOperation::set, kHvSOk, "", "", {}},
      KvpDaemonReply{KvpOperation::del, kHvSCont, "", "", {}},
      KvpDaemonReply{KvpOperation::enumerate, kHvSOk, "OSName", "Debian GNU/Linux", {}},
      KvpDaemonReply{KvpOperation::enumerate, kHvSCont, "", "", {}},
      KvpDaemonReply{KvpOperation::get_ip_info, kHvSOk, "", "",
                     KvpIpAddress{"00:15:5D:00:01:02", 3, 0, "10.0.0.2;fe80::1", "255.255.255.0;64",
                                  "10.0.0.1", "10.0.0.53"}},
      KvpDaemonReply{KvpOperation::set_ip_info, kHvGuidNotFound, "", "", {}},
  };
}

// ---- registration ----

TEST(KvpDaemon, GoldenRegistrationHandshake) {
  // daemon -> kernel: operation REGISTER1; the daemon leaves the rest of its stack
  // buffer uninitialised, so any bytes there are accepted.
  Bytes daemon = zeros(7432);
  put8(daemon, 0, 100);
  put_str(daemon, 1, "garbage\xFF");
  auto d = decode_kvp_daemon_register(daemon);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->operation, kKvpOpRegister1);
  Bytes clean = zeros(7432);
  put8(clean, 0, 100);
  EXPECT_EQ(enc(*d), clean);

  // kernel -> daemon: the same operation and the version "3.1" at the body.
  Bytes kernel = zeros(7432);
  put8(kernel, 0, 100);
  put_str(kernel, 4, "3.1");
  auto k = decode_kvp_kernel_register(kernel);
  ASSERT_TRUE(k.ok()) << k.error().message();
  EXPECT_EQ(*k, (KvpKernelRegister{100, "3.1"}));
  EXPECT_EQ(enc(KvpKernelRegister{}), kernel);
}

TEST(KvpDaemon, LegacyRegisterRoundTrip) {
  Bytes b = enc(KvpKernelRegister{kKvpOpRegister, "3.1"});
  EXPECT_EQ(std::to_integer<int>(b[0]), 4);
  EXPECT_EQ(*decode_kvp_kernel_register(b), (KvpKernelRegister{4, "3.1"}));
  Bytes d = enc(KvpDaemonRegister{kKvpOpRegister});
  EXPECT_EQ(decode_kvp_daemon_register(d)->operation, 4);
}

TEST(KvpDaemon, RegisterUnknownOperationRejected) {
  for (int op : {0, 1, 5, 99, 101, 255}) {
    Bytes b = zeros(7432);
    put8(b, 0, static_cast<std::uint8_t>(op));
    auto d = decode_kvp_daemon_register(b);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, Errc::unknown_type);
    EXPECT_STREQ(d.error().field, "kvp_daemon.register.operation");
    EXPECT_FALSE(decode_kvp_kernel_register(b).ok());
  }
  EXPECT_FALSE(encode_kvp_daemon(KvpDaemonRegister{3}).ok());
}

TEST(KvpDaemon, RegisterVersionNeedsATerminator) {
  Bytes b = enc(KvpKernelRegister{});
  for (std::size_t i = 0; i < 512; ++i) put8(b, 4 + i, 'v');
  auto r = decode_kvp_kernel_register(b);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().field, "kvp_daemon.register.version");
  EXPECT_EQ(r.error().code, Errc::bad_length);
  EXPECT_TRUE(encode_kvp_daemon(KvpKernelRegister{100, std::string(511, 'v')}).ok());
  EXPECT_FALSE(encode_kvp_daemon(KvpKernelRegister{100, std::string(512, 'v')}).ok());
}

// ---- requests ----

TEST(KvpDaemon, GoldenGetRequest) {
  Bytes g = zeros(7432);
  put8(g, 0, 0);
  put8(g, 1, 1);
  put32(g, 8, 4);  // strlen("Key") + 1
  put_str(g, 16, "Key");
  EXPECT_EQ(request_ok<KvpDaemonGet>(g), (KvpDaemonGet{KvpPool::guest, "Key"}));
  EXPECT_EQ(enc(KvpDaemonRequest(KvpDaemonGet{KvpPool::guest, "Key"})), g);
}

TEST(KvpDaemon, GoldenSetRequestHasNoValueType) {
  Bytes g = zeros(7432);
  put8(g, 0, 1);
  put8(g, 1, 0);
  put32(g, 8, 2);   // "a" + NUL
  put32(g, 12, 4);  // "123" + NUL: a REG_U32 arrives as text
  put_str(g, 16, "a");
  put_str(g, 528, "123");
  KvpDaemonSet want{KvpPool::external, "a", "123"};
  EXPECT_EQ(request_ok<KvpDaemonSet>(g), want);
  EXPECT_EQ(enc(KvpDaemonRequest(want)), g);  // value_type stays 0 as in Linux
}

TEST(KvpDaemon, SetRequestWithValueSizeZeroIsAnEmptyValue) {
  // An unknown host value_type leaves value_size 0 and the value empty.
  Bytes g = enc(KvpDaemonRequest(KvpDaemonSet{KvpPool::external, "a", ""}));
  put32(g, 12, 0);
  EXPECT_EQ(request_ok<KvpDaemonSet>(g).value, "");
  put_str(g, 528, "x");  // but not with text behind it
  expect_request_error(g, Errc::bad_length, "kvp_daemon.set.value_size");
}

TEST(KvpDaemon, GoldenDeleteAndEnumerateRequests) {
  Bytes d = zeros(7432);
  put8(d, 0, 2);
  put8(d, 1, 4);
  put32(d, 4, 5);
  put_str(d, 8, "gone");
  EXPECT_EQ(request_ok<KvpDaemonDelete>(d), (KvpDaemonDelete{KvpPool::auto_internal, "gone"}));
  EXPECT_EQ(enc(KvpDaemonRequest(KvpDaemonDelete{KvpPool::auto_internal, "gone"})), d);

  Bytes e = zeros(7432);
  put8(e, 0, 3);
  put8(e, 1, 2);
  put32(e, 4, 9);
  EXPECT_EQ(request_ok<KvpDaemonEnumerate>(e), (KvpDaemonEnumerate{KvpPool::automatic, 9}));
  EXPECT_EQ(enc(KvpDaemonRequest(KvpDaemonEnumerate{KvpPool::automatic, 9})), e);
}

TEST(KvpDaemon, GoldenSetIpInfoRequest) {
  Bytes g = zeros(7432);
  put8(g, 0, 5);
  put_str(g, 4, kIp.adapter_id);
  put8(g, 260, 1);
  put8(g, 261, 1);
  put_str(g, 262, kIp.ip_addr);
  put_str(g, 2310, kIp.sub_net);
  put_str(g, 4358, kIp.gate_way);
  put_str(g, 5382, kIp.dns_addr);
  KvpDaemonIpInfo want{KvpOperation::set_ip_info, KvpPool::external, kIp};
  EXPECT_EQ(request_ok<KvpDaemonIpInfo>(g), want);
  EXPECT_EQ(enc(KvpDaemonRequest(want)), g);
}

TEST(KvpDaemon, RequestRoundTripEveryOperationAndPool) {
  for (std::uint8_t p = 0; p < kKvpPoolCount; ++p) {
    for (const KvpDaemonRequest& m : requests(static_cast<KvpPool>(p))) {
      Bytes b = enc(m);
      ASSERT_EQ(b.size(), 7432u);
      auto d = decode_kvp_daemon_request(b);
      ASSERT_TRUE(d.ok()) << d.error().message();
      EXPECT_EQ(*d, m);
      EXPECT_EQ(std::to_integer<int>(b[0]), static_cast<int>(kvp_operation(m)));
    }
  }
}

TEST(KvpDaemon, NonAsciiUtf8RoundTrips) {
  const std::string key = "cl\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // clé€😀
  KvpDaemonSet m{KvpPool::guest, key, key + key};
  Bytes b = enc(KvpDaemonRequest(m));
  EXPECT_EQ(load_u32(b, 8), key.size() + 1);
  EXPECT_EQ(request_ok<KvpDaemonSet>(b), m);
}

TEST(KvpDaemon, KeySizeMustMatchTheString) {
  Bytes b = enc(KvpDaemonRequest(KvpDaemonGet{KvpPool::external, "Key"}));
  put32(b, 8, 3);
  expect_request_error(b, Errc::bad_length, "kvp_daemon.get.key_size");
  put32(b, 8, 512);
  expect_request_error(b, Errc::bad_length, "kvp_daemon.get.key_size");
  Bytes d = enc(KvpDaemonRequest(KvpDaemonDelete{KvpPool::external, "Key"}));
  put32(d, 4, 0);
  expect_request_error(d, Errc::bad_length, "kvp_daemon.delete.key_size");
}

TEST(KvpDaemon, KeyLimits511BytesPlusNul) {
  const std::string key(511, 'k');
  Bytes b = enc(KvpDaemonRequest(KvpDaemonGet{KvpPool::external, key}));
  EXPECT_EQ(load_u32(b, 8), 512u);
  EXPECT_EQ(request_ok<KvpDaemonGet>(b).key, key);
  put8(b, 16 + 511, 'k');
  expect_request_error(b, Errc::bad_length, "kvp_daemon.get.key");
  auto r = encode_kvp_daemon(KvpDaemonRequest(KvpDaemonGet{KvpPool::external, std::string(512, 'k')}));
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().field, "kvp_daemon.get.key");
  EXPECT_TRUE(
      encode_kvp_daemon(KvpDaemonRequest(KvpDaemonSet{KvpPool::external, "k", std::string(2047, 'v')})).ok());
  EXPECT_FALSE(
      encode_kvp_daemon(KvpDaemonRequest(KvpDaemonSet{KvpPool::external, "k", std::string(2048, 'v')})).ok());
}

TEST(KvpDaemon, InvalidUtf8Rejected) {
  Bytes b = enc(KvpDaemonRequest(KvpDaemonSet{KvpPool::external, "ab", "v"}));
  put8(b, 17, 0xC3);  // truncated 2-byte sequence
  auto r = decode_kvp_daemon_request(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::bad_encoding);
  EXPECT_STREQ(r.error().field, "kvp_daemon.set.key");
  EXPECT_EQ(r.error().offset, 17u);
  Bytes v = enc(KvpDaemonRequest(KvpDaemonSet{KvpPool::external, "ab", "v"}));
  put_str(v, 528, "\xED\xA0\x80");  // encoded surrogate
  put32(v, 12, 4);
  expect_request_error(v, Errc::bad_encoding, "kvp_daemon.set.value");
}

TEST(KvpDaemon, RequestUnknownOperationAndPoolRejected) {
  Bytes b = enc(KvpDaemonRequest(KvpDaemonEnumerate{KvpPool::external, 0}));
  put8(b, 0, 6);
  expect_request_error(b, Errc::unknown_type, "kvp_daemon.operation");
  put8(b, 0, 100);  // registration is not a request
  expect_request_error(b, Errc::unknown_type, "kvp_daemon.operation");
  put8(b, 0, 3);
  put8(b, 1, 5);
  expect_request_error(b, Errc::bad_value, "kvp_daemon.pool");
}

TEST(KvpDaemon, IpFieldsValidated) {
  Bytes b = enc(KvpDaemonRequest(KvpDaemonIpInfo{KvpOperation::set_ip_info, KvpPool::external, kIp}));
  Bytes fam = b;
  put8(fam, 260, 8);
  expect_request_error(fam, Errc::bad_value, "kvp_daemon.ip.addr_family");
  Bytes dhcp = b;
  put8(dhcp, 261, 2);
  expect_request_error(dhcp, Errc::bad_value, "kvp_daemon.ip.dhcp_enabled");
  Bytes gw = b;
  for (std::size_t i = 0; i < 1024; ++i) put8(gw, 4358 + i, '1');
  expect_request_error(gw, Errc::bad_length, "kvp_daemon.ip.gate_way");
  Bytes ad = b;
  for (std::size_t i = 0; i < 256; ++i) put8(ad, 4 + i, 'A');
  expect_request_error(ad, Errc::bad_length, "kvp_daemon.ip.adapter_id");
}

// ---- replies ----

TEST(KvpDaemon, GoldenGetAndEnumerateReplies) {
  Bytes get = zeros(7432);  // error HV_S_OK, value at the GET value field
  put_str(get, 528, "hello");
  auto g = decode_kvp_daemon_reply(KvpOperation::get, get);
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(*g, (KvpDaemonReply{KvpOperation::get, 0, "", "hello", {}}));
  EXPECT_EQ(enc(*g), get);

  Bytes en = zeros(7432);  // key/value at the ENUMERATE fields, sizes left 0
  put32(en, 4, 1);         // the index the daemon leaves in place is ignored
  put_str(en, 20, "OSMajorVersion");
  put_str(en, 532, "6");
  auto e = decode_kvp_daemon_reply(KvpOperation::enumerate, en);
  ASSERT_TRUE(e.ok()) << e.error().message();
  EXPECT_EQ(*e, (KvpDaemonReply{KvpOperation::enumerate, 0, "OSMajorVersion", "6", {}}));
  put32(en, 4, 0);
  EXPECT_EQ(enc(*e), en);
}

TEST(KvpDaemon, ErrorReplyBodyIsNotRead) {
  Bytes b = zeros(7432);
  put32(b, 0, kHvSCont);
  for (std::size_t i = 4; i < b.size(); ++i) put8(b, i, 0xFF);  // no terminators, invalid UTF-8
  for (std::uint8_t op = 0; op < kKvpOperationCount; ++op) {
    auto r = decode_kvp_daemon_reply(static_cast<KvpOperation>(op), b);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->error, kHvSCont);
    EXPECT_EQ(r->value, "");
  }
  put32(b, 0, 0);
  EXPECT_FALSE(decode_kvp_daemon_reply(KvpOperation::get, b).ok());
  EXPECT_TRUE(decode_kvp_daemon_reply(KvpOperation::set, b).ok());  // SET's body is never read
}

TEST(KvpDaemon, GoldenGetIpInfoReply) {
  Bytes g = zeros(7432);
  put_str(g, 4, "00:15:5D:00:01:02");
  put8(g, 260, 3);  // the daemon ORs IPv4 | IPv6
  put_str(g, 262, "10.0.0.2;fe80::1");
  put_str(g, 2310, "255.255.255.0;64");
  put_str(g, 4358, "10.0.0.1");
  put_str(g, 5382, "10.0.0.53");
  auto r = decode_kvp_daemon_reply(KvpOperation::get_ip_info, g);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, replies()[5]);
  EXPECT_EQ(enc(*r), g);
  Bytes bad = g;
  put8(bad, 260, 4);
  EXPECT_STREQ(decode_kvp_daemon_reply(KvpOperation::get_ip_info, bad).error().field,
               "kvp_daemon.reply.ip.addr_family");
}

TEST(KvpDaemon, ReplyRoundTripEveryOperation) {
  for (const KvpDaemonReply& m : replies()) {
    Bytes b = enc(m);
    ASSERT_EQ(b.size(), 7432u);
    EXPECT_EQ(load_u32(b, 0), m.error);
    auto d = decode_kvp_daemon_reply(m.operation, b);
    ASSERT_TRUE(d.ok()) << d.error().message();
    EXPECT_EQ(*d, m);
  }
}

TEST(KvpDaemon, ReplyFieldsNamed) {
  Bytes b = enc(KvpDaemonReply{KvpOperation::enumerate, 0, "k", "v", {}});
  for (std::size_t i = 0; i < 512; ++i) put8(b, 20 + i, 'k');
  auto r = decode_kvp_daemon_reply(KvpOperation::enumerate, b);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().field, "kvp_daemon.reply.key");
  Bytes v = enc(KvpDaemonReply{KvpOperation::get, 0, "", "v", {}});
  put8(v, 528, 0x80);
  EXPECT_STREQ(decode_kvp_daemon_reply(KvpOperation::get, v).error().field, "kvp_daemon.reply.value");
  EXPECT_FALSE(decode_kvp_daemon_reply(static_cast<KvpOperation>(6), v).ok());
}

// ---- sizes ----

TEST(KvpDaemon, TruncationAtEveryLengthIsRejected) {
  std::vector<Bytes> all;
  all.push_back(enc(KvpDaemonRegister{}));
  all.push_back(enc(KvpKernelRegister{}));
  for (const auto& m : requests(KvpPool::guest)) all.push_back(enc(m));
  for (std::size_t i = 0; i < all.size(); ++i) {
    for (std::size_t n = 0; n < all[i].size(); ++n) {
      ByteSpan s = ByteSpan(all[i]).first(n);
      Errc code{};
      if (i == 0) {
        code = decode_kvp_daemon_register(s).error().code;
      } else if (i == 1) {
        code = decode_kvp_kernel_register(s).error().code;
      } else {
        code = decode_kvp_daemon_request(s).error().code;
      }
      ASSERT_EQ(code, Errc::truncated) << "message " << i << " prefix " << n;
    }
  }
  for (const auto& m : replies()) {
    Bytes b = enc(m);
    for (std::size_t n = 0; n < b.size(); ++n) {
      auto r = decode_kvp_daemon_reply(m.operation, ByteSpan(b).first(n));
      ASSERT_FALSE(r.ok());
      ASSERT_EQ(r.error().code, Errc::truncated);
      ASSERT_STREQ(r.error().field, "kvp_daemon.message");
    }
  }
}

TEST(KvpDaemon, TrailingDataRejected) {
  Bytes b = enc(KvpDaemonRequest(KvpDaemonEnumerate{}));
  b.push_back(std::byte{0});
  EXPECT_EQ(decode_kvp_daemon_request(b).error().code, Errc::trailing_data);
  EXPECT_EQ(decode_kvp_daemon_reply(KvpOperation::set, b).error().code, Errc::trailing_data);
  EXPECT_EQ(decode_kvp_daemon_register(b).error().code, Errc::trailing_data);
  Bytes k = enc(KvpKernelRegister{});
  k.push_back(std::byte{0});
  EXPECT_EQ(decode_kvp_kernel_register(k).error().code, Errc::trailing_data);
}

TEST(KvpDaemon, MessageSizeIsHvKvpMsg) {
  EXPECT_EQ(kKvpDaemonMessageSize, 7432u);
  EXPECT_EQ(kKvpDaemonOffVersion, 4u);
  EXPECT_EQ(kKvpDaemonOffIpValue, 4u);
  EXPECT_STREQ(kKvpKernelVersion, "3.1");
}

}  // namespace
}  // namespace vmbh::proto
