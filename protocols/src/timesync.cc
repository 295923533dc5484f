#include "vmbh/protocols/timesync.h"

#include <limits>

namespace vmbh::proto {

namespace {
constexpr std::uint64_t kNsPer100 = 100;
constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
// Valid tv_sec range of timespec_to_hv_time.
constexpr std::int64_t kMinUnixSeconds = -static_cast<std::int64_t>(kHvTimeUnixEpoch / kHvTicksPerSecond);
constexpr std::int64_t kMaxUnixSeconds = static_cast<std::int64_t>(
    (std::numeric_limits<std::uint64_t>::max() - kHvTimeUnixEpoch) / kHvTicksPerSecond);
static_assert(kHvTimeUnixEpoch % kHvTicksPerSecond == 0);
}  // namespace

Result<TimesyncData> decode_timesync_data(ByteSpan body) {
  ByteReader r(body);
  TimesyncData m;
  m.parenttime = r.u64("timesync.parenttime");
  m.childtime = r.u64("timesync.childtime");
  m.roundtriptime = r.u64("timesync.roundtriptime");
  m.flags = r.u8("timesync.flags");
  return r.finish(m);
}

Result<TimesyncRefData> decode_timesync_ref_data(ByteSpan body) {
  ByteReader r(body);
  TimesyncRefData m;
  m.parenttime = r.u64("timesync_ref.parenttime");
  m.vmreferencetime = r.u64("timesync_ref.vmreferencetime");
  m.flags = r.u8("timesync_ref.flags");
  m.leapflags = r.u8("timesync_ref.leapflags");
  m.stratum = r.u8("timesync_ref.stratum");
  r.read_into(m.reserved, "timesync_ref.reserved");
  return r.finish(m);
}

void encode(const TimesyncData& m, ByteWriter& w) {
  w.u64(m.parenttime);
  w.u64(m.childtime);
  w.u64(m.roundtriptime);
  w.u8(m.flags);
}

void encode(const TimesyncRefData& m, ByteWriter& w) {
  w.u64(m.parenttime);
  w.u64(m.vmreferencetime);
  w.u8(m.flags);
  w.u8(m.leapflags);
  w.u8(m.stratum);
  w.array(m.reserved);
}

Result<TimesyncMsg> decode_timesync(ByteSpan body, IcVersion negotiated) {
  if (timesync_uses_ref_data(negotiated)) {
    Result<TimesyncRefData> r = decode_timesync_ref_data(body);
    if (!r) return r.error();
    return TimesyncMsg{*r};
  }
  Result<TimesyncData> r = decode_timesync_data(body);
  if (!r) return r.error();
  return TimesyncMsg{*r};
}

void encode(const TimesyncMsg& m, ByteWriter& w) {
  std::visit([&](const auto& body) { encode(body, w); }, m);
}

UnixTimespec hv_time_to_timespec(std::uint64_t hv_time) {
  UnixTimespec ts;
  if (hv_time >= kHvTimeUnixEpoch) {
    const std::uint64_t d = hv_time - kHvTimeUnixEpoch;
    ts.tv_sec = static_cast<std::int64_t>(d / kHvTicksPerSecond);
    ts.tv_nsec = static_cast<std::int64_t>(d % kHvTicksPerSecond * kNsPer100);
    return ts;
  }
  const std::uint64_t d = kHvTimeUnixEpoch - hv_time;  // > 0, < 1.2e17
  const std::uint64_t q = d / kHvTicksPerSecond;
  const std::uint64_t rem = d % kHvTicksPerSecond;
  if (rem == 0) {
    ts.tv_sec = -static_cast<std::int64_t>(q);
  } else {
    ts.tv_sec = -static_cast<std::int64_t>(q) - 1;
    ts.tv_nsec = static_cast<std::int64_t>((kHvTicksPerSecond - rem) * kNsPer100);
  }
  return ts;
}

std::optional<std::uint64_t> timespec_to_hv_time(const UnixTimespec& ts) {
  if (ts.tv_nsec < 0 || static_cast<std::uint64_t>(ts.tv_nsec) >= kNsPerSecond) return std::nullopt;
  if (ts.tv_sec < kMinUnixSeconds || ts.tv_sec > kMaxUnixSeconds) return std::nullopt;
  const std::uint64_t sub = static_cast<std::uint64_t>(ts.tv_nsec) / kNsPer100;
  if (ts.tv_sec >= 0) {
    const std::uint64_t base = kHvTimeUnixEpoch + static_cast<std::uint64_t>(ts.tv_sec) * kHvTicksPerSecond;
    if (sub > std::numeric_limits<std::uint64_t>::max() - base) return std::nullopt;
    return base + sub;
  }
  // tv_sec in [kMinUnixSeconds, -1]: the result is in [0, epoch).
  return kHvTimeUnixEpoch - static_cast<std::uint64_t>(-ts.tv_sec) * kHvTicksPerSecond + sub;
}

std::optional<HvSysTime> hv_time_to_sys_time(std::uint64_t hv_time) {
  if (hv_time >= kHvTimeUnixEpoch) {
    const std::uint64_t d = hv_time - kHvTimeUnixEpoch;
    if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return HvSysTime(HvTicks(static_cast<std::int64_t>(d)));
  }
  return HvSysTime(HvTicks(-static_cast<std::int64_t>(kHvTimeUnixEpoch - hv_time)));
}

std::optional<std::uint64_t> sys_time_to_hv_time(HvSysTime t) {
  const std::int64_t c = t.time_since_epoch().count();
  if (c >= 0) return kHvTimeUnixEpoch + static_cast<std::uint64_t>(c);
  if (c < -static_cast<std::int64_t>(kHvTimeUnixEpoch)) return std::nullopt;
  return kHvTimeUnixEpoch - static_cast<std::uint64_t>(-c);
}

}  // namespace vmbh::proto
