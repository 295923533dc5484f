#include "clock_read.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <variant>

namespace vmbh::agent {
namespace {

TEST(ClockRead, MissingDeviceNamesThePath) {
  const auto r = read_device_clock("/nonexistent/ptp9");
  const auto* err = std::get_if<std::string>(&r);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(err->find("open /nonexistent/ptp9"), std::string::npos) << *err;
}

TEST(ClockRead, NotAClockDeviceIsAnError) {
  // /dev/null opens, but it is no posix clock: clock_gettime refuses its id.
  const auto r = read_device_clock("/dev/null");
  const auto* err = std::get_if<std::string>(&r);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(err->find("clock_gettime(/dev/null)"), std::string::npos) << *err;
}

TEST(ClockRead, PtpDeviceReadsAClock) {
  struct stat st {};
  if (::stat("/dev/ptp0", &st) != 0) GTEST_SKIP() << "no /dev/ptp0 on this machine (the guests have one)";
  const auto r = read_device_clock("/dev/ptp0");
  ASSERT_TRUE(std::holds_alternative<ClockReading>(r)) << std::get<std::string>(r);
  EXPECT_GT(std::get<ClockReading>(r).realtime_ns, 0);
}

TEST(ClockRead, FormatIsTwoNanosecondCounts) {
  EXPECT_EQ(format_reading({1700000000123456789, 1700000000123999999}),
            "1700000000123456789 1700000000123999999");
}

}  // namespace
}  // namespace vmbh::agent
