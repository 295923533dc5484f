// Linux 6.1's per-packet behaviour on the heartbeat, shutdown and timesync
// channels (linux_ic_answer_in_place), against hand-written answers.
#include <gtest/gtest.h>

#include <vector>

#include "vmbh/protocols/heartbeat.h"
#include "vmbh/protocols/ic.h"
#include "vmbh/protocols/shutdown.h"
#include "vmbh/protocols/timesync.h"

namespace vmbh::proto {
namespace {

Bytes shutdown_request(std::uint32_t flags) {
  ShutdownMsg s;
  s.flags = flags;
  return encode_ic_message(make_ic_request_header(IcMsgType::shutdown, {3, 0}, {3, 2}), encode_to_bytes(s));
}

TEST(LinuxIcAnswer, HeartbeatGolden) {
  Bytes pkt = bytes_of(0x01, 0x00, 0x00, 0x00, 0x3C, 0x00, 0x00, 0x00,  //
                       0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00,
                       0x00, 0x00, 0x09, 0x03, 0x00, 0x00,              //
                       0xFF, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // seq_num 0x01020304050607FF
                       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                       0, 0, 0);
  Bytes expect = pkt;
  expect[25] = std::byte{0x05};  // icflags transaction|response
  expect[28] = std::byte{0x00};  // seq_num + 1 carries
  expect[29] = std::byte{0x08};
  LinuxIcGuestState st;
  auto a = linux_ic_answer_in_place(LinuxIcService::heartbeat, pkt, st);
  EXPECT_TRUE(a.answered);
  EXPECT_EQ(a.effect, LinuxIcEffect::heartbeat);
  EXPECT_EQ(pkt, expect);
}

TEST(LinuxIcAnswer, HeartbeatTooShortIsDropped) {
  HeartbeatMsg hb;
  Bytes full =
      encode_ic_message(make_ic_request_header(IcMsgType::heartbeat, {3, 0}, {3, 0}), encode_to_bytes(hb));
  for (std::size_t len = 0; len < 36; ++len) {
    Bytes pkt(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
    LinuxIcGuestState st;
    auto a = linux_ic_answer_in_place(LinuxIcService::heartbeat, pkt, st);
    EXPECT_FALSE(a.answered) << len;
    EXPECT_EQ(pkt, Bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len))) << len;
  }
  Bytes pkt(full.begin(), full.begin() + 36);  // seq_num only: accepted
  LinuxIcGuestState st;
  EXPECT_TRUE(linux_ic_answer_in_place(LinuxIcService::heartbeat, pkt, st).answered);
}

TEST(LinuxIcAnswer, WrongTypeGetsEFail) {
  HeartbeatMsg hb;
  Bytes pkt =
      encode_ic_message(make_ic_request_header(IcMsgType::kvp_exchange, {3, 0}, {3, 0}), encode_to_bytes(hb));
  Bytes expect = pkt;
  expect[20] = std::byte{0x05};  // status 0x80004005
  expect[21] = std::byte{0x40};
  expect[22] = std::byte{0x00};
  expect[23] = std::byte{0x80};
  expect[25] = std::byte{0x05};
  LinuxIcGuestState st;
  auto a = linux_ic_answer_in_place(LinuxIcService::heartbeat, pkt, st);
  EXPECT_TRUE(a.answered);
  EXPECT_EQ(a.effect, LinuxIcEffect::rejected);
  EXPECT_EQ(pkt, expect);
}

TEST(LinuxIcAnswer, ShutdownActionsAndStatus) {
  struct Case {
    std::uint32_t flags;
    bool hibernation;
    LinuxIcEffect effect;
    std::uint32_t status;
  };
  const std::vector<Case> cases = {
      {0, false, LinuxIcEffect::shutdown, kHvSOk},   {1, false, LinuxIcEffect::shutdown, kHvSOk},
      {2, false, LinuxIcEffect::reboot, kHvSOk},     {3, false, LinuxIcEffect::reboot, kHvSOk},
      {4, false, LinuxIcEffect::rejected, kHvEFail}, {5, true, LinuxIcEffect::hibernate, kHvSOk},
      {6, true, LinuxIcEffect::rejected, kHvEFail},  {0x80000000u, true, LinuxIcEffect::rejected, kHvEFail},
  };
  for (const Case& c : cases) {
    Bytes pkt = shutdown_request(c.flags);
    LinuxIcGuestState st;
    st.hibernation_supported = c.hibernation;
    auto a = linux_ic_answer_in_place(LinuxIcService::shutdown, pkt, st);
    EXPECT_TRUE(a.answered) << c.flags;
    EXPECT_EQ(a.effect, c.effect) << c.flags;
    auto m = decode_ic_message(pkt);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->header.status, c.status) << c.flags;
    EXPECT_EQ(m->header.icflags, kIcFlagsGuestResponse);
  }
}

TEST(LinuxIcAnswer, ShutdownShortBodyDropped) {
  Bytes pkt = shutdown_request(0);
  pkt.pop_back();
  Bytes before = pkt;
  LinuxIcGuestState st;
  EXPECT_FALSE(linux_ic_answer_in_place(LinuxIcService::shutdown, pkt, st).answered);
  EXPECT_EQ(pkt, before);
}

TEST(LinuxIcAnswer, NegotiateStoresVersionAndPicksTimesyncLayout) {
  LinuxIcGuestState st;  // version 0.0: the old 25-byte layout
  TimesyncRefData ref;
  ref.flags = kTimesyncFlagSync;
  Bytes sample =
      encode_ic_message(make_ic_request_header(IcMsgType::timesync, {3, 0}, {4, 0}), encode_to_bytes(ref));
  Bytes copy = sample;
  EXPECT_FALSE(linux_ic_answer_in_place(LinuxIcService::timesync, copy, st).answered);  // 22 < 25

  Bytes offer = *host_negotiate_offer(kLinuxUtilFrameworkVersions, kLinuxTimesyncVersions);
  auto a = linux_ic_answer_in_place(LinuxIcService::timesync, offer, st);
  EXPECT_TRUE(a.answered);
  EXPECT_EQ(a.effect, LinuxIcEffect::negotiated);
  EXPECT_EQ(st.service_version, (IcVersion{4, 0}));

  copy = sample;
  a = linux_ic_answer_in_place(LinuxIcService::timesync, copy, st);
  EXPECT_TRUE(a.answered);
  EXPECT_EQ(a.effect, LinuxIcEffect::time_set);
  Bytes expect = sample;
  expect[25] = std::byte{0x05};  // only icflags changes
  EXPECT_EQ(copy, expect);
}

TEST(LinuxIcAnswer, FailedNegotiationStillStoresCountAsVersion) {
  LinuxIcGuestState st;
  st.service_version = {3, 0};
  Bytes offer = *host_negotiate_offer(std::vector<IcVersion>{{3, 0}},
                                      std::vector<IcVersion>{{8, 0}, {8, 1}, {8, 2}, {8, 3}, {8, 4}});
  auto a = linux_ic_answer_in_place(LinuxIcService::timesync, offer, st);
  EXPECT_TRUE(a.answered);
  EXPECT_EQ(st.service_version, (IcVersion{5, 0}));
  EXPECT_TRUE(timesync_uses_ref_data(st.service_version));
  // Too short for selection: the stored version is kept.
  Bytes shortpkt(offer.begin(), offer.begin() + 30);
  st.service_version = {1, 0};
  EXPECT_TRUE(linux_ic_answer_in_place(LinuxIcService::timesync, shortpkt, st).answered);
  EXPECT_EQ(st.service_version, (IcVersion{1, 0}));
}

TEST(LinuxIcAnswer, TimesyncSampleV3) {
  LinuxIcGuestState st;
  st.service_version = {3, 0};
  TimesyncData d;
  d.flags = kTimesyncFlagSample;
  Bytes pkt =
      encode_ic_message(make_ic_request_header(IcMsgType::timesync, {3, 0}, {3, 0}), encode_to_bytes(d));
  auto a = linux_ic_answer_in_place(LinuxIcService::timesync, pkt, st);
  EXPECT_TRUE(a.answered);
  EXPECT_EQ(a.effect, LinuxIcEffect::time_sample);
}

TEST(LinuxIcAnswer, UnderHeaderSizeDropped) {
  for (std::size_t len = 0; len < kIcMessageHeaderSize; ++len) {
    Bytes pkt(len, std::byte{0});
    LinuxIcGuestState st;
    for (auto svc : {LinuxIcService::heartbeat, LinuxIcService::shutdown, LinuxIcService::timesync}) {
      EXPECT_FALSE(linux_ic_answer_in_place(svc, pkt, st).answered);
    }
  }
}

}  // namespace
}  // namespace vmbh::proto
