#include "vmbh/host/vss_device.h"

#include <gtest/gtest.h>

#include "device_test_util.h"
#include "fake_channel_io.h"
#include "linux_ic_guest.h"

namespace vmbh::host {
namespace {

using namespace std::chrono_literals;
using testing::LinuxService;

class VssTest : public ::testing::Test {
 protected:
  VssTest() : guest_(dev_, io_, LinuxService::vss) {
    dev_.set_clock(clock_.fn());
    // Linux + hv_vss_daemon: the answer vss_linux_answer describes, status
    // as the daemon replied.
    guest_.service_answer = [this](std::span<std::byte> p) {
      auto m = proto::decode_ic_message(p);
      if (!m.ok()) return false;
      auto req = proto::decode_vss(m->body);
      if (!req.ok()) return false;
      const proto::Bytes body = proto::encode_vss(proto::vss_linux_answer(*req));
      std::copy(body.begin(), body.end(), p.begin() + proto::kIcMessageHeaderSize);
      testing::set_ic_status(p, proto::vss_linux_answer_status(req->op, daemon_registered_, daemon_error_));
      return true;
    };
  }
  void open() {
    dev_.on_open(io_);
    ASSERT_EQ(guest_.answer_all(), 1u);
    ASSERT_TRUE(dev_.ready()) << dev_.failure();
  }

  testing::TestClock clock_;
  testing::FakeChannelIo io_;
  VssDevice dev_;
  testing::LinuxIcGuest guest_;
  bool daemon_registered_ = true;
  std::uint32_t daemon_error_ = 0;
};

TEST_F(VssTest, NegotiatesVersion5AndRefusesOldOnlyOffers) {
  open();
  EXPECT_EQ(dev_.framework_version(), (proto::IcVersion{3, 0}));
  EXPECT_EQ(dev_.message_version(), (proto::IcVersion{5, 0}));
  VssDevice old;
  old.set_offered_versions({{3, 0}, {1, 0}}, {{4, 0}, {3, 0}});
  testing::FakeChannelIo io;
  testing::LinuxIcGuest g(old, io, LinuxService::vss);
  old.on_open(io);
  g.answer_all();
  EXPECT_EQ(old.state(), IcState::failed);
  VssDevice fw1;
  fw1.set_offered_versions({{1, 0}}, {{5, 0}});  // Linux's VSS takes framework 3.0 only
  testing::FakeChannelIo io2;
  testing::LinuxIcGuest g2(fw1, io2, LinuxService::vss);
  fw1.on_open(io2);
  g2.answer_all();
  EXPECT_EQ(fw1.state(), IcState::failed);
}

TEST_F(VssTest, FreezeThawHotBackup) {
  open();
  testing::Outcome<VssResult> f, t, h;
  dev_.freeze(f.capture());
  dev_.thaw(t.capture());
  dev_.hot_backup(h.capture());
  EXPECT_EQ(io_.sent.size(), 2u) << "one operation in flight";
  while (guest_.answer_all() != 0) {
  }
  ASSERT_TRUE(f.ok() && t.ok() && h.ok()) << f.message() << t.message() << h.message();
  EXPECT_EQ(f.value().op, proto::VssOp::freeze);
  EXPECT_EQ(f.value().status, proto::kHvSOk);
  EXPECT_EQ(t.value().op, proto::VssOp::thaw);
  EXPECT_EQ(h.value().flags, proto::kVssHbuNoAutoRecovery);
  EXPECT_TRUE(testing::has_fact(dev_.facts(), "last", "HOT_BACKUP: 0x00000000 (HV_S_OK)"));
}

TEST_F(VssTest, DaemonFailureAndMissingDaemonSurfaceAsStatus) {
  open();
  daemon_error_ = proto::kHvEFail;
  testing::Outcome<VssResult> f;
  dev_.freeze(f.capture());
  guest_.answer_all();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f.value().status, proto::kHvEFail);
  EXPECT_FALSE(f.value().ok());
  daemon_registered_ = false;
  testing::Outcome<VssResult> t;
  dev_.thaw(t.capture());
  guest_.answer_all();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value().status, proto::kHvEFail);
  // Kernel-answered operations do not need the daemon.
  testing::Outcome<VssResult> dm;
  dev_.request(proto::VssOp::get_dm_info, 7, dm.capture());
  guest_.answer_all();
  ASSERT_TRUE(dm.ok());
  EXPECT_EQ(dm.value().status, proto::kHvSOk);
  EXPECT_EQ(dm.value().flags, 0u);
}

TEST_F(VssTest, MalformedAnswers) {
  open();
  guest_.service_answer = [](std::span<std::byte> p) {
    p[proto::kIcMessageHeaderSize] = std::byte{9};  // operation 9
    return true;
  };
  testing::Outcome<VssResult> f;
  dev_.freeze(f.capture());
  guest_.answer_all();
  ASSERT_TRUE(f.result && !f.ok());
  EXPECT_NE(f.message().find("vss: malformed answer to FREEZE: vss.operation: unknown_type"),
            std::string::npos)
      << f.message();
  guest_.service_answer = [](std::span<std::byte> p) {
    p[proto::kIcMessageHeaderSize] = std::byte{6};  // THAW
    return true;
  };
  testing::Outcome<VssResult> g;
  dev_.freeze(g.capture());
  guest_.answer_all();
  EXPECT_EQ(g.message(), "vss: guest answered FREEZE with operation THAW");
}

TEST_F(VssTest, FreezeHasTheLongTimeout) {
  open();
  testing::Outcome<VssResult> f, t;
  dev_.freeze(f.capture());
  clock_.t += 15min;
  dev_.on_tick(clock_.t);
  EXPECT_FALSE(f.result.has_value());
  clock_.t += 1min;
  dev_.on_tick(clock_.t);
  EXPECT_EQ(f.message(), "timeout: vss did not answer FREEZE within 960000 ms");
  dev_.thaw(t.capture());  // the next operation goes out after a timeout
  EXPECT_EQ(io_.sent.size(), 3u);
  dev_.on_close("gone");
  EXPECT_EQ(t.message(), "vss: channel closed: gone");
}

}  // namespace
}  // namespace vmbh::host
