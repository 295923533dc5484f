#include "vmbh/host/heartbeat_device.h"

#include <gtest/gtest.h>

#include "device_test_util.h"
#include "fake_channel_io.h"
#include "linux_ic_guest.h"
#include "vmbh/protocols/heartbeat.h"

namespace vmbh::host {
namespace {

using namespace std::chrono_literals;
using testing::LinuxService;

class HeartbeatTest : public ::testing::Test {
 protected:
  HeartbeatTest() : guest_(dev_, io_, LinuxService::heartbeat) { dev_.set_clock(clock_.fn()); }
  void open() {
    dev_.on_open(io_);
    ASSERT_EQ(guest_.answer_all(), 1u);
    ASSERT_TRUE(dev_.ready()) << dev_.failure();
  }
  std::uint64_t sent_seq(std::size_t i) {
    auto m = proto::decode_ic_message(io_.sent.at(i).payload);
    EXPECT_TRUE(m.ok());
    auto h = proto::decode_heartbeat(m->body);
    EXPECT_TRUE(h.ok());
    return h->seq_num;
  }

  testing::TestClock clock_;
  testing::FakeChannelIo io_;
  HeartbeatDevice dev_;
  testing::LinuxIcGuest guest_;
};

TEST_F(HeartbeatTest, NegotiatesWithLinuxIncludingOldOnlyOffers) {
  open();
  EXPECT_EQ(dev_.framework_version(), (proto::IcVersion{3, 0}));
  EXPECT_EQ(dev_.message_version(), (proto::IcVersion{3, 0}));
  dev_.on_close("test");
  dev_.set_offered_versions({{1, 0}}, {{1, 0}});
  testing::FakeChannelIo io2;
  testing::LinuxIcGuest g2(dev_, io2, LinuxService::heartbeat);
  dev_.on_open(io2);
  g2.answer_all();
  ASSERT_TRUE(dev_.ready());
  EXPECT_EQ(dev_.message_version(), (proto::IcVersion{1, 0}));
  testing::Outcome<HeartbeatSample> b;
  dev_.beat(b.capture());
  g2.answer_all();
  ASSERT_TRUE(b.ok()) << b.message();
}

TEST_F(HeartbeatTest, PeriodicBeatsRecordSequenceAndLatency) {
  open();
  dev_.on_tick(clock_.t);
  ASSERT_EQ(io_.sent.size(), 2u);
  EXPECT_EQ(sent_seq(1), 0u);
  clock_.t += 3ms;
  guest_.answer_all();
  EXPECT_EQ(dev_.last_sequence(), 1u);
  EXPECT_EQ(dev_.count(), 1u);
  EXPECT_EQ(dev_.last_latency(), 3ms);
  EXPECT_TRUE(testing::has_fact(dev_.facts(), "last_latency_ms", "3.0"));
  clock_.t += 1s;
  dev_.on_tick(clock_.t);
  EXPECT_EQ(io_.sent.size(), 2u) << "not before the 2 s period";
  clock_.t += 1s;
  dev_.on_tick(clock_.t);
  ASSERT_EQ(io_.sent.size(), 3u);
  EXPECT_EQ(sent_seq(2), 1u);
  guest_.answer_all();
  EXPECT_EQ(dev_.last_sequence(), 2u);
  EXPECT_EQ(dev_.count(), 2u);
  ASSERT_EQ(dev_.history().size(), 2u);
  EXPECT_EQ(dev_.history()[1].sent, 1u);
  EXPECT_EQ(dev_.history()[1].received, 2u);
  EXPECT_TRUE(testing::has_fact(dev_.facts(), "last_sequence", "2"));
  EXPECT_TRUE(testing::has_fact(dev_.facts(), "count", "2"));
}

TEST_F(HeartbeatTest, WrongSequenceOrStatusFailsTheBeat) {
  guest_.service_answer = [](std::span<std::byte>) { return true; };  // echo without + 1
  open();
  testing::Outcome<HeartbeatSample> b;
  dev_.beat(b.capture());
  guest_.answer_all();
  ASSERT_TRUE(b.result && !b.ok());
  EXPECT_EQ(b.message(), "heartbeat: guest answered sequence 0 with 0, expected 1");
  EXPECT_EQ(dev_.missed(), 1u);
  EXPECT_EQ(dev_.history().back().received, 0u);

  guest_.service_answer = [](std::span<std::byte> p) {
    testing::set_ic_status(p, proto::kHvEFail);
    return true;
  };
  testing::Outcome<HeartbeatSample> c;
  dev_.beat(c.capture());
  guest_.answer_all();
  EXPECT_EQ(c.message(), "heartbeat: guest answered heartbeat 1 with 0x80004005 (HV_E_FAIL)");
}

TEST_F(HeartbeatTest, ShortBodyIsMalformed) {
  guest_.service_answer = [](std::span<std::byte> p) {
    proto::store_u32(p, 8 + 10, 4);  // icmsgsize 4: no room for seq_num
    return true;
  };
  open();
  testing::Outcome<HeartbeatSample> b;
  dev_.beat(b.capture());
  guest_.answer_all();
  ASSERT_TRUE(b.result && !b.ok());
  EXPECT_NE(b.message().find("heartbeat.seq_num: truncated"), std::string::npos) << b.message();
}

TEST_F(HeartbeatTest, SilentGuestTimesOutAndPeriodsAreSkippedMeanwhile) {
  open();
  dev_.on_tick(clock_.t);
  guest_.drop_all();
  clock_.t += 2s;
  dev_.on_tick(clock_.t);
  EXPECT_EQ(io_.sent.size(), 2u) << "no second request while the first is unanswered";
  EXPECT_TRUE(io_.noted("previous heartbeat still unanswered"));
  clock_.t += 3s;
  dev_.on_tick(clock_.t);  // the 5 s timeout, then the next period is due
  EXPECT_EQ(dev_.missed(), 1u);
  EXPECT_EQ(dev_.history().front().error, "timeout: heartbeat did not answer heartbeat within 5000 ms");
  EXPECT_EQ(io_.sent.size(), 3u);
}

TEST_F(HeartbeatTest, CloseFailsTheOutstandingBeat) {
  open();
  testing::Outcome<HeartbeatSample> b;
  dev_.beat(b.capture());
  dev_.on_close("rescinded");
  EXPECT_EQ(b.calls, 1);
  EXPECT_EQ(b.message(), "heartbeat: channel closed: rescinded");
  dev_.on_tick(clock_.t + 10s);
  EXPECT_EQ(b.calls, 1);
}

}  // namespace
}  // namespace vmbh::host
