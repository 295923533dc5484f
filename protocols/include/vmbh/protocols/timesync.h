// Time synchronization IC body (message type 4) and Hyper-V time.
//
// Hyper-V time counts 100 ns units since 1601-01-01 00:00 UTC (the Windows
// FILETIME epoch), unsigned 64-bit.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ratio>
#include <variant>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/ic.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

// --- bodies ------------------------------------------------------------------

// Service versions up to 3.0: {parenttime u64, childtime u64, roundtriptime u64, flags u8}.
inline constexpr std::size_t kTimesyncDataSize = 25;
// Service versions above 3.0 (4.0): {parenttime u64, vmreferencetime u64, flags u8,
// leapflags u8, stratum u8, reserved[3]}.
inline constexpr std::size_t kTimesyncRefDataSize = 22;

// flags values. Linux sets its clock when bit 0 (sync) is set and otherwise
// only records the sample.
inline constexpr std::uint8_t kTimesyncFlagProbe = 0;
inline constexpr std::uint8_t kTimesyncFlagSync = 1;
inline constexpr std::uint8_t kTimesyncFlagSample = 2;
constexpr bool timesync_sets_clock(std::uint8_t flags) { return (flags & kTimesyncFlagSync) != 0; }

struct TimesyncData {
  std::uint64_t parenttime = 0;
  std::uint64_t childtime = 0;
  std::uint64_t roundtriptime = 0;
  std::uint8_t flags = 0;
  bool operator==(const TimesyncData&) const = default;
};

struct TimesyncRefData {
  std::uint64_t parenttime = 0;
  std::uint64_t vmreferencetime = 0;  // the guest's reference counter when the sample was taken
  std::uint8_t flags = 0;
  std::uint8_t leapflags = 0;
  std::uint8_t stratum = 0;
  std::array<std::uint8_t, 3> reserved{};
  bool operator==(const TimesyncRefData&) const = default;
};

// Bodies at least as long as the layout, as Linux requires ("timesync.*":
// truncated); extra bytes are ignored.
Result<TimesyncData> decode_timesync_data(ByteSpan body);
Result<TimesyncRefData> decode_timesync_ref_data(ByteSpan body);
void encode(const TimesyncData& m, ByteWriter& w);     // 25 bytes
void encode(const TimesyncRefData& m, ByteWriter& w);  // 22 bytes

// Linux reads the ref-data layout when the stored service version, as
// major << 16 | minor, is above 3.0 (so 4.0; also 3.1 or any other version
// above 3.0, and the {icmsg_vercnt, 0} Linux stores after a failed
// negotiation with more than 3 offered message versions).
constexpr bool timesync_uses_ref_data(IcVersion negotiated) {
  return negotiated.packed() > IcVersion{3, 0}.packed();
}

using TimesyncMsg = std::variant<TimesyncData, TimesyncRefData>;
Result<TimesyncMsg> decode_timesync(ByteSpan body, IcVersion negotiated);
void encode(const TimesyncMsg& m, ByteWriter& w);

// --- Hyper-V time <-> Unix time ----------------------------------------------

// 1970-01-01 in Hyper-V time: 11644473600 s * 10^7.
inline constexpr std::uint64_t kHvTimeUnixEpoch = 116444736000000000ULL;
inline constexpr std::uint64_t kHvTicksPerSecond = 10'000'000;

struct UnixTimespec {
  std::int64_t tv_sec = 0;
  std::int64_t tv_nsec = 0;  // normalized to [0, 10^9)
  bool operator==(const UnixTimespec&) const = default;
};

// Total: every Hyper-V time is a representable timespec (before 1970 the
// seconds are negative, nanoseconds still in [0, 10^9)).
UnixTimespec hv_time_to_timespec(std::uint64_t hv_time);
// nullopt if tv_nsec is outside [0, 10^9) or the time is before 1601 or after
// the last Hyper-V time (u64 max, in the year 60056). Sub-100 ns parts are
// truncated toward the past.
std::optional<std::uint64_t> timespec_to_hv_time(const UnixTimespec& ts);

// std::chrono with 100 ns ticks (exact).
using HvTicks = std::chrono::duration<std::int64_t, std::ratio<1, 10'000'000>>;
using HvSysTime = std::chrono::sys_time<HvTicks>;
// nullopt past int64 ticks since 1970 (Hyper-V times after about the year 31197).
std::optional<HvSysTime> hv_time_to_sys_time(std::uint64_t hv_time);
// nullopt before 1601-01-01.
std::optional<std::uint64_t> sys_time_to_hv_time(HvSysTime t);

// Linux's conversion of a host time sample (reftime_to_ns): u64 arithmetic
// (hv_time - epoch) * 100, which wraps for times before 1970 and after 2554.
constexpr std::uint64_t linux_hv_time_to_ns(std::uint64_t hv_time) {
  return (hv_time - kHvTimeUnixEpoch) * 100;
}

}  // namespace vmbh::proto
