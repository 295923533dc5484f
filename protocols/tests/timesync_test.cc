#include "vmbh/protocols/timesync.h"

#include <gtest/gtest.h>

#include <limits>

namespace vmbh::proto {
namespace {

// Timesync v4 sample: parenttime = the Unix epoch, vmreferencetime
// 0x1122334455667788, flags sample, stratum 2.
const Bytes kTimesyncV4 =
    bytes_of(0x01, 0x00, 0x00, 0x00, 0x2A, 0x00, 0x00, 0x00,  // pipe: data, 20 + 22
             0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x04, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00,
             0x00, 0x03, 0x00, 0x00,                          // fw 3.0, type 4, msg 4.0, size 22, flags 3
             0x00, 0x80, 0x3E, 0xD5, 0xDE, 0xB1, 0x9D, 0x01,  // parenttime 116444736000000000
             0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  // vmreferencetime
             0x02, 0x00, 0x02, 0x00, 0x00, 0x00);             // flags, leapflags, stratum, reserved

// Timesync v3 sample: {parenttime, childtime 0, roundtriptime 16, flags sync}.
const Bytes kTimesyncV3 =
    bytes_of(0x01, 0x00, 0x00, 0x00, 0x2D, 0x00, 0x00, 0x00,  // pipe: data, 20 + 25
             0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x03, 0x00, 0x00, 0x00, 0x19, 0x00, 0x00, 0x00, 0x00, 0x00,
             0x00, 0x03, 0x00, 0x00,                          // fw 3.0, type 4, msg 3.0, size 25, flags 3
             0x00, 0x80, 0x3E, 0xD5, 0xDE, 0xB1, 0x9D, 0x01,  // parenttime
             0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // childtime
             0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // roundtriptime
             0x01);                                           // flags

TEST(Timesync, SizesPinned) {
  EXPECT_EQ(kTimesyncDataSize, 25u);
  EXPECT_EQ(kTimesyncRefDataSize, 22u);
  EXPECT_EQ(encode_to_bytes(TimesyncData{}).size(), 25u);
  EXPECT_EQ(encode_to_bytes(TimesyncRefData{}).size(), 22u);
  EXPECT_EQ(kTimesyncFlagProbe, 0);
  EXPECT_EQ(kTimesyncFlagSync, 1);
  EXPECT_EQ(kTimesyncFlagSample, 2);
}

TEST(Timesync, DecodesGoldenV4) {
  auto m = decode_ic_message(kTimesyncV4);
  ASSERT_TRUE(m.ok());
  auto t = decode_timesync(m->body, m->header.icvermsg);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(std::holds_alternative<TimesyncRefData>(*t));
  const auto& ref = std::get<TimesyncRefData>(*t);
  EXPECT_EQ(ref.parenttime, kHvTimeUnixEpoch);
  EXPECT_EQ(ref.vmreferencetime, 0x1122334455667788u);
  EXPECT_EQ(ref.flags, kTimesyncFlagSample);
  EXPECT_FALSE(timesync_sets_clock(ref.flags));
  EXPECT_EQ(ref.stratum, 2);
  EXPECT_EQ(hv_time_to_timespec(ref.parenttime), (UnixTimespec{0, 0}));
}

TEST(Timesync, DecodesGoldenV3) {
  auto m = decode_ic_message(kTimesyncV3);
  ASSERT_TRUE(m.ok());
  auto t = decode_timesync(m->body, m->header.icvermsg);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(std::holds_alternative<TimesyncData>(*t));
  const auto& d = std::get<TimesyncData>(*t);
  EXPECT_EQ(d.parenttime, kHvTimeUnixEpoch);
  EXPECT_EQ(d.roundtriptime, 16u);
  EXPECT_TRUE(timesync_sets_clock(d.flags));
}

TEST(Timesync, EncodersBuildGoldens) {
  TimesyncRefData ref;
  ref.parenttime = kHvTimeUnixEpoch;
  ref.vmreferencetime = 0x1122334455667788u;
  ref.flags = kTimesyncFlagSample;
  ref.stratum = 2;
  EXPECT_EQ(
      encode_ic_message(make_ic_request_header(IcMsgType::timesync, {3, 0}, {4, 0}), encode_to_bytes(ref)),
      kTimesyncV4);
  TimesyncData d;
  d.parenttime = kHvTimeUnixEpoch;
  d.roundtriptime = 16;
  d.flags = kTimesyncFlagSync;
  EXPECT_EQ(
      encode_ic_message(make_ic_request_header(IcMsgType::timesync, {3, 0}, {3, 0}), encode_to_bytes(d)),
      kTimesyncV3);
}

TEST(Timesync, LayoutChoiceFollowsLinux) {
  EXPECT_TRUE(timesync_uses_ref_data({4, 0}));
  EXPECT_TRUE(timesync_uses_ref_data({3, 1}));
  EXPECT_FALSE(timesync_uses_ref_data({3, 0}));
  EXPECT_FALSE(timesync_uses_ref_data({1, 0}));
  EXPECT_FALSE(timesync_uses_ref_data({0, 0}));
  // A v3 body decoded under 4.0 is 25 >= 22 bytes: Linux would read it as ref data.
  auto m = decode_ic_message(kTimesyncV3);
  ASSERT_TRUE(m.ok());
  auto t = decode_timesync(m->body, {4, 0});
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(std::holds_alternative<TimesyncRefData>(*t));
  // A v4 body under 3.0 is too short for the old layout.
  auto m4 = decode_ic_message(kTimesyncV4);
  ASSERT_TRUE(m4.ok());
  auto t4 = decode_timesync(m4->body, {3, 0});
  ASSERT_FALSE(t4.ok());
  EXPECT_EQ(t4.error().code, Errc::truncated);
}

TEST(Timesync, TruncationAtEveryLength) {
  TimesyncData d{1, 2, 3, 4};
  Bytes b = encode_to_bytes(d);
  for (std::size_t len = 0; len < b.size(); ++len) {
    EXPECT_FALSE(decode_timesync_data(ByteSpan(b.data(), len)).ok()) << len;
    EXPECT_FALSE(decode_timesync(ByteSpan(b.data(), len), {3, 0}).ok()) << len;
  }
  TimesyncRefData r{1, 2, 3, 4, 5, {6, 7, 8}};
  Bytes rb = encode_to_bytes(r);
  for (std::size_t len = 0; len < rb.size(); ++len) {
    EXPECT_FALSE(decode_timesync_ref_data(ByteSpan(rb.data(), len)).ok()) << len;
    EXPECT_FALSE(decode_timesync(ByteSpan(rb.data(), len), {4, 0}).ok()) << len;
  }
  auto last = decode_timesync_ref_data(ByteSpan(rb.data(), 21));
  ASSERT_FALSE(last.ok());
  EXPECT_STREQ(last.error().field, "timesync_ref.reserved");
}

TEST(Timesync, RoundTripBothLayouts) {
  TimesyncData d{~0ull, 0x1234, 0x5678, 0xFF};
  auto dd = decode_timesync_data(encode_to_bytes(d));
  ASSERT_TRUE(dd.ok());
  EXPECT_EQ(*dd, d);
  TimesyncRefData r{~0ull, 1, 2, 0x80, 0xFF, {1, 2, 3}};
  auto rr = decode_timesync_ref_data(encode_to_bytes(r));
  ASSERT_TRUE(rr.ok());
  EXPECT_EQ(*rr, r);
  TimesyncMsg v = r;
  auto vv = decode_timesync(encode_to_bytes(v), {4, 0});
  ASSERT_TRUE(vv.ok());
  EXPECT_EQ(*vv, v);
}

TEST(HvTime, KnownValues) {
  EXPECT_EQ(kHvTimeUnixEpoch, 116444736000000000ull);
  EXPECT_EQ(timespec_to_hv_time({0, 0}), 116444736000000000ull);
  // 2000-01-01T00:00:00Z = 946684800.
  EXPECT_EQ(timespec_to_hv_time({946684800, 0}), 125911584000000000ull);
  EXPECT_EQ(hv_time_to_timespec(125911584000000000ull), (UnixTimespec{946684800, 0}));
  // 1601-01-01 (Hyper-V time 0).
  EXPECT_EQ(hv_time_to_timespec(0), (UnixTimespec{-11644473600, 0}));
  EXPECT_EQ(timespec_to_hv_time({-11644473600, 0}), 0u);
  // One tick before the Unix epoch.
  EXPECT_EQ(hv_time_to_timespec(kHvTimeUnixEpoch - 1), (UnixTimespec{-1, 999999900}));
  EXPECT_EQ(timespec_to_hv_time({-1, 999999900}), kHvTimeUnixEpoch - 1);
  EXPECT_EQ(hv_time_to_timespec(kHvTimeUnixEpoch + 15), (UnixTimespec{0, 1500}));
}

TEST(HvTime, FarFutureAndLimits) {
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  UnixTimespec ts = hv_time_to_timespec(max);
  EXPECT_EQ(ts.tv_sec, 1833029933770);
  EXPECT_EQ(ts.tv_nsec, 955161500);
  EXPECT_EQ(timespec_to_hv_time(ts), max);
  EXPECT_EQ(timespec_to_hv_time({1833029933770, 955161600}), std::nullopt);  // one tick past
  EXPECT_EQ(timespec_to_hv_time({1833029933771, 0}), std::nullopt);
  EXPECT_EQ(timespec_to_hv_time({std::numeric_limits<std::int64_t>::max(), 0}), std::nullopt);
  EXPECT_EQ(timespec_to_hv_time({std::numeric_limits<std::int64_t>::min(), 0}), std::nullopt);
  EXPECT_EQ(timespec_to_hv_time({-11644473601, 999999999}), std::nullopt);  // before 1601
  EXPECT_EQ(timespec_to_hv_time({0, -1}), std::nullopt);
  EXPECT_EQ(timespec_to_hv_time({0, 1000000000}), std::nullopt);
  // Sub-100 ns parts are truncated.
  EXPECT_EQ(timespec_to_hv_time({0, 199}), kHvTimeUnixEpoch + 1);
  EXPECT_EQ(timespec_to_hv_time({-1, 99}), kHvTimeUnixEpoch - 10000000);
}

TEST(HvTime, TimespecRoundTrips) {
  const std::uint64_t samples[] = {0,
                                   1,
                                   9999999,
                                   10000000,
                                   kHvTimeUnixEpoch - 10000001,
                                   kHvTimeUnixEpoch - 1,
                                   kHvTimeUnixEpoch,
                                   kHvTimeUnixEpoch + 1,
                                   133000000000000000ull,
                                   static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
                                   std::numeric_limits<std::uint64_t>::max() - 1,
                                   std::numeric_limits<std::uint64_t>::max()};
  for (std::uint64_t hv : samples) {
    UnixTimespec ts = hv_time_to_timespec(hv);
    EXPECT_GE(ts.tv_nsec, 0);
    EXPECT_LT(ts.tv_nsec, 1000000000);
    EXPECT_EQ(ts.tv_nsec % 100, 0);
    EXPECT_EQ(timespec_to_hv_time(ts), hv) << hv;
  }
}

TEST(HvTime, ChronoConversions) {
  using namespace std::chrono;
  auto epoch = hv_time_to_sys_time(kHvTimeUnixEpoch);
  ASSERT_TRUE(epoch.has_value());
  EXPECT_EQ(epoch->time_since_epoch().count(), 0);
  EXPECT_EQ(*epoch, HvSysTime{});
  auto y2k = hv_time_to_sys_time(125911584000000000ull);
  ASSERT_TRUE(y2k.has_value());
  EXPECT_EQ(time_point_cast<seconds>(*y2k), sys_days{year{2000} / January / 1});
  auto start = hv_time_to_sys_time(0);
  ASSERT_TRUE(start.has_value());
  EXPECT_EQ(time_point_cast<seconds>(*start), sys_days{year{1601} / January / 1});
  EXPECT_EQ(sys_time_to_hv_time(*start), 0u);
  EXPECT_EQ(sys_time_to_hv_time(*start - HvTicks(1)), std::nullopt);
  EXPECT_EQ(sys_time_to_hv_time(HvSysTime(HvTicks(-1))), kHvTimeUnixEpoch - 1);
  // The largest representable chrono time and one tick past it.
  const std::uint64_t last =
      kHvTimeUnixEpoch + static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  auto far = hv_time_to_sys_time(last);
  ASSERT_TRUE(far.has_value());
  EXPECT_EQ(sys_time_to_hv_time(*far), last);
  EXPECT_EQ(hv_time_to_sys_time(last + 1), std::nullopt);
  EXPECT_EQ(hv_time_to_sys_time(std::numeric_limits<std::uint64_t>::max()), std::nullopt);
  EXPECT_EQ(sys_time_to_hv_time(HvSysTime(HvTicks(std::numeric_limits<std::int64_t>::max()))), last);
}

TEST(HvTime, LinuxConversionWrapsBefore1970) {
  EXPECT_EQ(linux_hv_time_to_ns(kHvTimeUnixEpoch), 0u);
  EXPECT_EQ(linux_hv_time_to_ns(kHvTimeUnixEpoch + 1), 100u);
  EXPECT_EQ(linux_hv_time_to_ns(kHvTimeUnixEpoch - 1), std::numeric_limits<std::uint64_t>::max() - 99);
}

}  // namespace
}  // namespace vmbh::proto
