#include "vmbh/host/timesync_device.h"

#include <gtest/gtest.h>

#include "device_test_util.h"
#include "fake_channel_io.h"
#include "linux_ic_guest.h"

namespace vmbh::host {
namespace {

using namespace std::chrono_literals;
using testing::LinuxService;

constexpr std::uint64_t kHostTime = 133'000'000'000'000'000ULL;  // 2022
constexpr std::uint64_t kRefTime = 5'000'000;                    // 0.5 s of guest uptime

TimesyncOptions fixed_clocks() {
  TimesyncOptions o;
  o.host_clock = [] { return kHostTime; };
  o.reference_clock = [] { return kRefTime; };
  return o;
}

class TimesyncTest : public ::testing::Test {
 protected:
  TimesyncTest() : dev_(fixed_clocks()), guest_(dev_, io_, LinuxService::timesync) {
    dev_.set_clock(clock_.fn());
  }
  void open(const std::vector<proto::IcVersion>& message = {}) {
    if (!message.empty()) dev_.set_offered_versions(default_ic_framework_versions(), message);
    dev_.on_open(io_);
    ASSERT_EQ(guest_.answer_all(), 1u);
    ASSERT_TRUE(dev_.ready()) << dev_.failure();
  }
  proto::IcMessage last_sent() {
    auto m = proto::decode_ic_message(io_.sent.back().payload);
    EXPECT_TRUE(m.ok());
    return *m;
  }

  testing::TestClock clock_;
  testing::FakeChannelIo io_;
  TimesyncDevice dev_;
  testing::LinuxIcGuest guest_;
};

TEST_F(TimesyncTest, Version4SyncSendsRefDataWithTheOffsetHostTime) {
  open();
  EXPECT_EQ(dev_.message_version(), (proto::IcVersion{4, 0}));
  EXPECT_TRUE(dev_.uses_ref_layout());
  dev_.set_offset(-10'000'000);  // one second behind
  testing::Outcome<TimesyncResult> o;
  dev_.sync(o.capture());
  const auto m = last_sent();
  ASSERT_EQ(m.body.size(), proto::kTimesyncRefDataSize);
  auto d = proto::decode_timesync_ref_data(m.body);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->parenttime, kHostTime - 10'000'000);
  EXPECT_EQ(d->vmreferencetime, kRefTime);
  EXPECT_EQ(d->flags, proto::kTimesyncFlagSync);
  EXPECT_EQ(m.header.icvermsg, (proto::IcVersion{4, 0}));
  guest_.answer_all();
  ASSERT_TRUE(o.ok()) << o.message();
  EXPECT_EQ(o.value().status, proto::kHvSOk);
  EXPECT_EQ(o.value().parenttime, kHostTime - 10'000'000);
  EXPECT_TRUE(o.value().ref_layout);
  EXPECT_TRUE(testing::has_fact(dev_.facts(), "layout", "4.0 (ref data)"));
}

TEST_F(TimesyncTest, Version3AndVersion1UseTheOldLayout) {
  for (proto::IcVersion v : {proto::IcVersion{3, 0}, proto::IcVersion{1, 0}}) {
    TimesyncDevice dev(fixed_clocks());
    dev.set_offered_versions({{3, 0}, {1, 0}}, {v});
    testing::FakeChannelIo io;
    testing::LinuxIcGuest g(dev, io, LinuxService::timesync);
    dev.on_open(io);
    g.answer_all();
    ASSERT_TRUE(dev.ready()) << dev.failure();
    EXPECT_EQ(dev.message_version(), v);
    EXPECT_FALSE(dev.uses_ref_layout());
    testing::Outcome<TimesyncResult> o;
    dev.sample(o.capture());
    auto m = proto::decode_ic_message(io.sent.back().payload);
    ASSERT_TRUE(m.ok());
    ASSERT_EQ(m->body.size(), proto::kTimesyncDataSize);
    auto d = proto::decode_timesync_data(m->body);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->parenttime, kHostTime);
    EXPECT_EQ(d->flags, proto::kTimesyncFlagSample);
    g.answer_all();
    ASSERT_TRUE(o.ok()) << o.message();
    EXPECT_FALSE(o.value().ref_layout);
  }
}

TEST_F(TimesyncTest, RequestsWaitForTheNegotiatedLayout) {
  dev_.on_open(io_);
  testing::Outcome<TimesyncResult> o;
  dev_.send(proto::kTimesyncFlagProbe, o.capture());
  EXPECT_EQ(io_.sent.size(), 1u);
  guest_.answer_all();
  ASSERT_TRUE(o.ok()) << o.message();
  EXPECT_EQ(io_.sent.size(), 2u);
  EXPECT_EQ(last_sent().body.size(), proto::kTimesyncRefDataSize);
}

TEST_F(TimesyncTest, SendOnAClosedChannelFails) {
  testing::Outcome<TimesyncResult> o;
  dev_.sync(o.capture());
  ASSERT_TRUE(o.result && !o.ok());
  EXPECT_NE(o.message().find("not open"), std::string::npos);
}

TEST_F(TimesyncTest, NegotiationFailureFailsWaitingRequests) {
  dev_.set_offered_versions({{3, 0}}, {{2, 0}});
  dev_.on_open(io_);
  testing::Outcome<TimesyncResult> o;
  dev_.sync(o.capture());
  guest_.answer_all();
  EXPECT_EQ(dev_.state(), IcState::failed);
  ASSERT_TRUE(o.result && !o.ok());
  EXPECT_NE(o.message().find("accepted none"), std::string::npos) << o.message();
}

TEST_F(TimesyncTest, AnswerTooShortForTheLayoutIsMalformed) {
  guest_.service_answer = [](std::span<std::byte> p) {
    proto::store_u32(p, 8 + 10, 16);  // icmsgsize 16 < 22
    return true;
  };
  open();
  testing::Outcome<TimesyncResult> o;
  dev_.sync(o.capture());
  guest_.answer_all();
  ASSERT_TRUE(o.result && !o.ok());
  EXPECT_NE(o.message().find("malformed timesync answer: timesync"), std::string::npos) << o.message();
}

TEST_F(TimesyncTest, TimeoutAndClose) {
  open();
  testing::Outcome<TimesyncResult> a, b;
  dev_.sync(a.capture());
  clock_.t += 5s;
  dev_.on_tick(clock_.t);
  EXPECT_EQ(a.message(), "timeout: timesync did not answer SYNC within 5000 ms");
  dev_.sample(b.capture());
  dev_.on_close("unload");
  EXPECT_EQ(b.message(), "timesync: channel closed: unload");
}

TEST(TimesyncClock, SystemTimeIsAfter2020) {
  EXPECT_GT(TimesyncDevice::system_hv_time(), 132'223'104'000'000'000ULL);  // 2020-01-01
}

// With a period the device behaves like Hyper-V on its own: a SYNC once the
// channel is ready, then a SAMPLE a period after each answer, one at a time.
TEST(TimesyncPeriodic, SyncOnReadyThenSamplesAPeriodAfterEachAnswer) {
  TimesyncOptions o = fixed_clocks();
  o.period = 5s;
  TimesyncDevice dev(o);
  testing::TestClock clock;
  dev.set_clock(clock.fn());
  testing::FakeChannelIo io;
  testing::LinuxIcGuest guest(dev, io, LinuxService::timesync);
  dev.on_open(io);
  ASSERT_EQ(guest.answer_all(), 1u);  // the negotiation
  ASSERT_TRUE(dev.ready()) << dev.failure();
  auto flags_of_last = [&] {
    auto m = proto::decode_ic_message(io.sent.back().payload);
    EXPECT_TRUE(m.ok());
    auto d = proto::decode_timesync_ref_data(m->body);
    EXPECT_TRUE(d.ok());
    return d.ok() ? d->flags : 0xff;
  };
  dev.on_tick(clock.t);
  ASSERT_EQ(io.sent.size(), 2u);
  EXPECT_EQ(flags_of_last(), proto::kTimesyncFlagSync);
  clock.t += 6s;
  dev.on_tick(clock.t);
  EXPECT_EQ(io.sent.size(), 2u) << "no second message while the first is unanswered";
  guest.answer_all();
  clock.t += 4s;
  dev.on_tick(clock.t);
  EXPECT_EQ(io.sent.size(), 2u) << "not before a period after the answer";
  clock.t += 1s;
  dev.on_tick(clock.t);
  ASSERT_EQ(io.sent.size(), 3u);
  EXPECT_EQ(flags_of_last(), proto::kTimesyncFlagSample);
  EXPECT_TRUE(testing::has_fact(dev.facts(), "periodic_sent", "2"));
}

TEST(TimesyncPeriodic, NoPeriodSendsNothingByItself) {
  TimesyncDevice dev(fixed_clocks());
  testing::TestClock clock;
  dev.set_clock(clock.fn());
  testing::FakeChannelIo io;
  testing::LinuxIcGuest guest(dev, io, LinuxService::timesync);
  dev.on_open(io);
  guest.answer_all();
  ASSERT_TRUE(dev.ready());
  for (int i = 0; i < 3; ++i) {
    clock.t += 1h;
    dev.on_tick(clock.t);
  }
  EXPECT_EQ(io.sent.size(), 1u);  // the negotiation only
}

}  // namespace
}  // namespace vmbh::host
