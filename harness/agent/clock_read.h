// Reads a POSIX clock the guest's tools cannot: the dynamic clock of a PTP
// device (/dev/ptpN), next to CLOCK_REALTIME. The conformance suite compares
// hv_utils' "hyperv" PTP clock with host time through this.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

namespace vmbh::agent {

struct ClockReading {
  std::int64_t clock_ns = 0;     // the device's clock
  std::int64_t realtime_ns = 0;  // CLOCK_REALTIME, read right after it
};

// The reading, or an error naming the path and the failing call.
std::variant<ClockReading, std::string> read_device_clock(const std::string& path);

// "CLOCK_NS REALTIME_NS" (nanoseconds since the epoch).
std::string format_reading(const ClockReading& r);

}  // namespace vmbh::agent
