#include "vmbh/host/shutdown_device.h"

#include <gtest/gtest.h>

#include "device_test_util.h"
#include "fake_channel_io.h"
#include "linux_ic_guest.h"

namespace vmbh::host {
namespace {

using namespace std::chrono_literals;
using testing::LinuxService;

class ShutdownTest : public ::testing::Test {
 protected:
  ShutdownTest() : guest_(dev_, io_, LinuxService::shutdown) { dev_.set_clock(clock_.fn()); }
  void open() {
    dev_.on_open(io_);
    ASSERT_EQ(guest_.answer_all(), 1u);
    ASSERT_TRUE(dev_.ready()) << dev_.failure();
  }
  std::uint32_t sent_flags() {
    auto m = proto::decode_ic_message(io_.sent.back().payload);
    EXPECT_TRUE(m.ok());
    auto s = proto::decode_shutdown(m->body);
    EXPECT_TRUE(s.ok());
    return s->flags;
  }

  testing::TestClock clock_;
  testing::FakeChannelIo io_;
  ShutdownDevice dev_;
  testing::LinuxIcGuest guest_;
};

TEST_F(ShutdownTest, NegotiatesEachLinuxVersion) {
  const std::vector<std::pair<std::vector<proto::IcVersion>, proto::IcVersion>> cases = {
      {{{3, 2}, {3, 1}, {3, 0}, {1, 0}}, {3, 2}},
      {{{3, 1}}, {3, 1}},
      {{{3, 0}, {1, 0}}, {3, 0}},
      {{{1, 0}}, {1, 0}},
  };
  for (const auto& [offer, expected] : cases) {
    ShutdownDevice dev;
    dev.set_offered_versions({{1, 0}}, offer);  // framework too: old only
    testing::FakeChannelIo io;
    testing::LinuxIcGuest g(dev, io, LinuxService::shutdown);
    dev.on_open(io);
    g.answer_all();
    ASSERT_TRUE(dev.ready()) << dev.failure();
    EXPECT_EQ(dev.message_version(), expected);
    EXPECT_EQ(dev.framework_version(), (proto::IcVersion{1, 0}));
  }
}

TEST_F(ShutdownTest, EachActionWithAndWithoutForce) {
  open();
  struct Case {
    void (ShutdownDevice::*fn)(bool, Done<std::uint32_t>);
    bool force;
    std::uint32_t flags;
  };
  for (const Case& c : {Case{&ShutdownDevice::shutdown, false, 0}, Case{&ShutdownDevice::shutdown, true, 1},
                        Case{&ShutdownDevice::reboot, false, 2}, Case{&ShutdownDevice::reboot, true, 3}}) {
    testing::Outcome<std::uint32_t> o;
    (dev_.*c.fn)(c.force, o.capture());
    EXPECT_EQ(sent_flags(), c.flags);
    guest_.answer_all();
    ASSERT_TRUE(o.ok()) << o.message();
    EXPECT_EQ(o.value(), proto::kHvSOk);
  }
  // Hibernation: E_FAIL unless the guest supports it.
  testing::Outcome<std::uint32_t> h;
  dev_.hibernate(false, h.capture());
  EXPECT_EQ(sent_flags(), 4u);
  guest_.answer_all();
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h.value(), proto::kHvEFail);
  guest_.state.hibernation_supported = true;
  testing::Outcome<std::uint32_t> hf;
  dev_.hibernate(true, hf.capture());
  EXPECT_EQ(sent_flags(), 5u);
  guest_.answer_all();
  ASSERT_TRUE(hf.ok());
  EXPECT_EQ(hf.value(), proto::kHvSOk);
  EXPECT_TRUE(testing::has_fact(dev_.facts(), "last_request", "hibernate (force)"));
  EXPECT_TRUE(testing::has_fact(dev_.facts(), "last_status", "0x00000000 (HV_S_OK)"));
}

TEST_F(ShutdownTest, InvalidFlagsAreRejectedByTheGuest) {
  open();
  testing::Outcome<std::uint32_t> o;
  ShutdownParams p;
  p.flags = 6;
  p.display_message = "bad";
  dev_.request(p, o.capture());
  guest_.answer_all();
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o.value(), proto::kHvEFail);
  EXPECT_TRUE(io_.noted("guest answered flags 6 with 0x80004005 (HV_E_FAIL)"));
}

TEST_F(ShutdownTest, DisplayMessageThatDoesNotFitFailsLocally) {
  open();
  testing::Outcome<std::uint32_t> o;
  ShutdownParams p;
  p.display_message = std::string(1100, 'x');
  dev_.request(p, o.capture());
  ASSERT_TRUE(o.result && !o.ok());
  EXPECT_NE(o.message().find("display message"), std::string::npos) << o.message();
  EXPECT_EQ(io_.sent.size(), 1u);
}

TEST_F(ShutdownTest, TimeoutAndClose) {
  open();
  testing::Outcome<std::uint32_t> a, b;
  dev_.shutdown(false, a.capture());
  clock_.t += 10s;
  dev_.on_tick(clock_.t);
  EXPECT_EQ(a.message(), "timeout: shutdown did not answer shutdown within 10000 ms");
  dev_.reboot(true, b.capture());
  dev_.on_close("guest reset");
  EXPECT_EQ(b.message(), "shutdown: channel closed: guest reset");
}

TEST_F(ShutdownTest, TruncatedRequestIsDroppedByLinuxAndTimesOut) {
  // A guest that reads a shorter body than 2060 bytes drops the packet: the
  // host sees a timeout, not a status.
  guest_.service_answer = [](std::span<std::byte>) { return false; };
  open();
  testing::Outcome<std::uint32_t> a;
  dev_.shutdown(false, a.capture());
  guest_.answer_all();
  EXPECT_FALSE(a.result.has_value());
  dev_.set_timeout(1s);
  clock_.t += 10s;
  dev_.on_tick(clock_.t);
  EXPECT_NE(a.message().find("timeout"), std::string::npos);
}

}  // namespace
}  // namespace vmbh::host
