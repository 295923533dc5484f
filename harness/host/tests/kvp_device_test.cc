#include "vmbh/host/kvp_device.h"

#include <gtest/gtest.h>

#include <map>

#include "device_test_util.h"
#include "fake_channel_io.h"
#include "linux_ic_guest.h"

namespace vmbh::host {
namespace {

using namespace std::chrono_literals;
using proto::KvpPool;
using testing::LinuxService;

// What hv_kvp + hv_kvp_daemon do with each request, in place: pools of
// string values, HV_S_CONT past the end of an enumeration, E_FAIL for a
// missing key.
class FakeKvpGuest {
 public:
  bool answer(std::span<std::byte> p) {
    auto m = proto::decode_ic_message(p);
    if (!m.ok()) return false;
    auto req = proto::decode_kvp(m->body);
    if (!req.ok()) return false;
    std::uint32_t status = proto::kHvSOk;
    proto::KvpMessage out = *req;
    if (auto* g = std::get_if<proto::KvpGet>(&out)) {
      auto& pool = pools[static_cast<int>(g->pool)];
      auto it = std::find_if(pool.begin(), pool.end(), [&](auto& e) { return e.first == g->key; });
      if (it == pool.end()) {
        status = proto::kHvEFail;
      } else {
        g->value = proto::KvpValue::string(it->second);
      }
    } else if (auto* s = std::get_if<proto::KvpSet>(&out)) {
      auto& pool = pools[static_cast<int>(s->pool)];
      auto it = std::find_if(pool.begin(), pool.end(), [&](auto& e) { return e.first == s->key; });
      if (it == pool.end()) {
        pool.emplace_back(s->key, s->value.text);
      } else {
        it->second = s->value.text;
      }
    } else if (auto* d = std::get_if<proto::KvpDelete>(&out)) {
      auto& pool = pools[static_cast<int>(d->pool)];
      auto it = std::find_if(pool.begin(), pool.end(), [&](auto& e) { return e.first == d->key; });
      if (it == pool.end()) {
        status = proto::kHvEFail;
      } else {
        pool.erase(it);
      }
    } else if (auto* e = std::get_if<proto::KvpEnumerate>(&out)) {
      auto& pool = pools[static_cast<int>(e->pool)];
      if (e->index == fail_at_index) {
        status = proto::kHvEFail;
      } else if (e->index >= pool.size()) {
        status = proto::kHvSCont;
      } else {
        e->entry = proto::KvpEntry{pool[e->index].first, proto::KvpValue::string(pool[e->index].second)};
      }
    } else if (auto* ip = std::get_if<proto::KvpIpInfo>(&out)) {
      if (ip->operation == proto::KvpOperation::get_ip_info) {
        ip->ip.addr_family = proto::kKvpAddrFamilyIpv4;
        ip->ip.dhcp_enabled = 1;
        ip->ip.ip_addr = "192.0.2.5";
        ip->ip.sub_net = "255.255.255.0";
        ip->ip.gate_way = "192.0.2.1";
        ip->ip.dns_addr = "192.0.2.53";
      } else {
        last_set_ip = ip->ip;
      }
    }
    if (status == proto::kHvSOk) {
      auto body = proto::encode_kvp(out);
      if (!body.ok() || body->size() != m->body.size()) return false;
      std::copy(body->begin(), body->end(), p.begin() + proto::kIcMessageHeaderSize);
    }
    testing::set_ic_status(p, status);
    return true;
  }

  std::map<int, std::vector<std::pair<std::string, std::string>>> pools;
  std::uint32_t fail_at_index = ~0u;
  std::optional<proto::KvpIpAddress> last_set_ip;
};

class KvpTest : public ::testing::Test {
 protected:
  KvpTest() : guest_(dev_, io_, LinuxService::kvp) {
    dev_.set_clock(clock_.fn());
    guest_.service_answer = [this](std::span<std::byte> p) { return daemon_.answer(p); };
  }
  void open() {
    dev_.on_open(io_);
    ASSERT_EQ(guest_.answer_all(), 1u);
    ASSERT_TRUE(dev_.ready()) << dev_.failure();
  }
  void run() {
    while (guest_.answer_all() != 0) {
    }
  }

  testing::TestClock clock_;
  testing::FakeChannelIo io_;
  KvpDevice dev_;
  FakeKvpGuest daemon_;
  testing::LinuxIcGuest guest_;
};

TEST_F(KvpTest, NegotiatesEachLinuxVersion) {
  open();
  EXPECT_EQ(dev_.message_version(), (proto::IcVersion{4, 0}));
  for (proto::IcVersion v : {proto::IcVersion{3, 0}, proto::IcVersion{1, 0}}) {
    KvpDevice dev;
    dev.set_offered_versions({{1, 0}}, {v});
    testing::FakeChannelIo io;
    testing::LinuxIcGuest g(dev, io, LinuxService::kvp);
    dev.on_open(io);
    g.answer_all();
    ASSERT_TRUE(dev.ready()) << dev.failure();
    EXPECT_EQ(dev.message_version(), v);
  }
}

TEST_F(KvpTest, SetGetDeleteOnEveryPool) {
  open();
  for (std::uint8_t p = 0; p < proto::kKvpPoolCount; ++p) {
    const auto pool = static_cast<KvpPool>(p);
    testing::Outcome<KvpResult> set, get, del, get_again;
    dev_.set(pool, "key" + std::to_string(p), proto::KvpValue::string("value"), set.capture());
    dev_.get(pool, "key" + std::to_string(p), get.capture());
    dev_.del(pool, "key" + std::to_string(p), del.capture());
    dev_.get(pool, "key" + std::to_string(p), get_again.capture());
    run();
    ASSERT_TRUE(set.ok() && get.ok() && del.ok() && get_again.ok());
    EXPECT_EQ(set.value().status, proto::kHvSOk);
    ASSERT_TRUE(get.value().value.has_value()) << "pool " << int(p);
    EXPECT_EQ(get.value().value->text, "value");
    EXPECT_EQ(del.value().status, proto::kHvSOk);
    EXPECT_EQ(get_again.value().status, proto::kHvEFail);
    EXPECT_FALSE(get_again.value().value.has_value());
  }
  EXPECT_TRUE(testing::has_fact(dev_.facts(), "operations", "20"));
}

TEST_F(KvpTest, OneOperationInFlightAtATime) {
  open();
  testing::Outcome<KvpResult> a, b, c;
  dev_.set(KvpPool::external, "a", proto::KvpValue::string("1"), a.capture());
  dev_.set(KvpPool::external, "b", proto::KvpValue::string("2"), b.capture());
  dev_.get(KvpPool::external, "a", c.capture());
  EXPECT_EQ(io_.sent.size(), 2u);
  EXPECT_EQ(dev_.pending(), 3u);
  ASSERT_TRUE(guest_.answer_next());
  EXPECT_TRUE(a.ok());
  EXPECT_FALSE(b.result.has_value());
  EXPECT_EQ(io_.sent.size(), 3u);
  run();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value().value->text, "1");
}

TEST_F(KvpTest, EnumerateByIndexAndToTheEnd) {
  daemon_.pools[2] = {{"OSName", "Debian"}, {"OSMajorVersion", "12"}, {"ProcessorArchitecture", "x86_64"}};
  open();
  testing::Outcome<KvpResult> one, past;
  dev_.enumerate(KvpPool::automatic, 1, one.capture());
  dev_.enumerate(KvpPool::automatic, 3, past.capture());
  run();
  ASSERT_TRUE(one.ok() && past.ok());
  ASSERT_TRUE(one.value().entry.has_value());
  EXPECT_EQ(one.value().entry->key, "OSMajorVersion");
  EXPECT_EQ(one.value().entry->value.text, "12");
  EXPECT_EQ(past.value().status, proto::kHvSCont);
  EXPECT_FALSE(past.value().entry.has_value());

  testing::Outcome<std::vector<proto::KvpEntry>> all;
  dev_.enumerate_all(KvpPool::automatic, all.capture());
  run();
  ASSERT_TRUE(all.ok()) << all.message();
  ASSERT_EQ(all.value().size(), 3u);
  EXPECT_EQ(all.value()[2].key, "ProcessorArchitecture");

  daemon_.fail_at_index = 1;
  testing::Outcome<std::vector<proto::KvpEntry>> failed;
  dev_.enumerate_all(KvpPool::automatic, failed.capture());
  run();
  EXPECT_EQ(failed.message(), "kvp: guest answered ENUMERATE pool AUTO index 1 with 0x80004005 (HV_E_FAIL)");
}

TEST_F(KvpTest, IpInfo) {
  open();
  testing::Outcome<KvpResult> get, set;
  dev_.get_ip_info("{3f1c0b2a-0000-4000-8000-000000000001}", proto::kKvpAddrFamilyIpv4, get.capture());
  proto::KvpIpAddress ip;
  ip.adapter_id = "{3f1c0b2a-0000-4000-8000-000000000001}";
  ip.addr_family = proto::kKvpAddrFamilyIpv4;
  ip.ip_addr = "198.51.100.7";
  ip.sub_net = "255.255.255.0";
  dev_.set_ip_info(ip, set.capture());
  run();
  ASSERT_TRUE(get.ok()) << get.message();
  ASSERT_TRUE(get.value().ip.has_value());
  EXPECT_EQ(get.value().ip->ip_addr, "192.0.2.5");
  EXPECT_EQ(get.value().ip->dns_addr, "192.0.2.53");
  ASSERT_TRUE(set.ok()) << set.message();
  EXPECT_EQ(set.value().status, proto::kHvSOk);
  ASSERT_TRUE(daemon_.last_set_ip.has_value());
  EXPECT_EQ(daemon_.last_set_ip->ip_addr, "198.51.100.7");
  // The IP messages are 7428 bytes, the others 7432.
  auto m = proto::decode_ic_message(io_.sent.back().payload);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->body.size(), proto::kKvpIpMessageSize);
}

TEST_F(KvpTest, UnencodableRequestFailsLocally) {
  open();
  testing::Outcome<KvpResult> o;
  dev_.get(KvpPool::external, std::string(300, 'k'), o.capture());
  ASSERT_TRUE(o.result && !o.ok());
  EXPECT_NE(o.message().find("kvp: cannot encode GET pool"), std::string::npos) << o.message();
  EXPECT_EQ(io_.sent.size(), 1u);
}

TEST_F(KvpTest, MalformedAnswersNameTheField) {
  open();
  guest_.service_answer = [](std::span<std::byte> p) {
    p[proto::kIcMessageHeaderSize] = std::byte{9};  // operation
    return true;
  };
  testing::Outcome<KvpResult> o;
  dev_.get(KvpPool::external, "k", o.capture());
  run();
  ASSERT_TRUE(o.result && !o.ok());
  EXPECT_NE(o.message().find("malformed answer to GET pool"), std::string::npos) << o.message();
  EXPECT_NE(o.message().find("kvp.operation"), std::string::npos) << o.message();

  guest_.service_answer = [](std::span<std::byte> p) {
    p[proto::kIcMessageHeaderSize] = std::byte{1};  // SET instead of DELETE
    return true;
  };
  testing::Outcome<KvpResult> d;
  dev_.del(KvpPool::external, "k", d.capture());
  run();
  ASSERT_TRUE(d.result && !d.ok());
  // Either the SET layout does not parse or it parses as another operation: both are reported.
  EXPECT_NE(d.message().find("malformed answer to DELETE"), std::string::npos) << d.message();

  // S_OK on ENUMERATE without an entry.
  guest_.service_answer = [](std::span<std::byte>) { return true; };
  testing::Outcome<KvpResult> e;
  dev_.enumerate(KvpPool::guest, 0, e.capture());
  run();
  EXPECT_NE(e.message().find("S_OK without an entry"), std::string::npos) << e.message();
  // And the device still works.
  guest_.service_answer = [this](std::span<std::byte> p) { return daemon_.answer(p); };
  testing::Outcome<KvpResult> ok;
  dev_.set(KvpPool::guest, "k", proto::KvpValue::string("v"), ok.capture());
  run();
  EXPECT_TRUE(ok.ok()) << ok.message();
}

TEST_F(KvpTest, TimeoutCloseAndNoAnswerBeforeTheDaemon) {
  // Linux holds the negotiate packet until hv_kvp_daemon registers (or 55 s):
  // the host must wait longer than that.
  dev_.on_open(io_);
  guest_.drop_all();
  clock_.t += 60s;
  dev_.on_tick(clock_.t);
  EXPECT_EQ(dev_.state(), IcState::negotiating);
  dev_.on_close("test");
  testing::FakeChannelIo io;
  testing::LinuxIcGuest g(dev_, io, LinuxService::kvp);
  g.service_answer = [](std::span<std::byte>) { return false; };
  dev_.on_open(io);
  g.answer_all();
  ASSERT_TRUE(dev_.ready());
  testing::Outcome<KvpResult> a, b;
  dev_.get(KvpPool::external, "a", a.capture());
  dev_.get(KvpPool::external, "b", b.capture());
  g.answer_all();
  clock_.t += 35s;
  dev_.on_tick(clock_.t);
  EXPECT_EQ(a.message(), "timeout: kvp did not answer GET pool EXTERNAL within 35000 ms");
  EXPECT_EQ(b.message(), "timeout: kvp did not answer GET pool EXTERNAL within 35000 ms")
      << "queued requests time out too";
  testing::Outcome<KvpResult> c, d;
  dev_.get(KvpPool::external, "c", c.capture());
  dev_.get(KvpPool::external, "d", d.capture());
  dev_.on_close("rescind");
  EXPECT_EQ(c.message(), "kvp: channel closed: rescind");
  EXPECT_EQ(d.message(), "kvp: channel closed: rescind");
}

}  // namespace
}  // namespace vmbh::host
