#include "clock_read.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace vmbh::agent {
namespace {

// The clock id of an open posix-clock character device: the kernel's
// FD_TO_CLOCKID (include/uapi/linux/time.h has no macro for it in userspace).
clockid_t fd_clock(int fd) { return static_cast<clockid_t>((~static_cast<unsigned>(fd) << 3) | 3U); }

std::int64_t to_ns(const timespec& t) { return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; }

}  // namespace

std::variant<ClockReading, std::string> read_device_clock(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "open " + path + ": " + std::strerror(errno);
  timespec dev{};
  timespec real{};
  const int rc = ::clock_gettime(fd_clock(fd), &dev);
  const int err = errno;
  ::clock_gettime(CLOCK_REALTIME, &real);
  ::close(fd);
  if (rc != 0) return "clock_gettime(" + path + "): " + std::strerror(err);
  return ClockReading{to_ns(dev), to_ns(real)};
}

std::string format_reading(const ClockReading& r) {
  return std::to_string(r.clock_ns) + " " + std::to_string(r.realtime_ns);
}

}  // namespace vmbh::agent
