#include "serial.h"

#include <dirent.h>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace vmbh::agent {

std::string default_device() {
  if (::access(kVirtioPortPath, F_OK) == 0) return kVirtioPortPath;
  if (DIR* d = ::opendir("/sys/class/virtio-ports")) {
    std::string found;
    while (const dirent* e = ::readdir(d)) {
      const std::string port = e->d_name;
      if (port.empty() || port[0] == '.') continue;
      std::ifstream in("/sys/class/virtio-ports/" + port + "/name");
      std::string name;
      std::getline(in, name);
      if (name == kVirtioPortName && ::access(("/dev/" + port).c_str(), F_OK) == 0) {
        found = "/dev/" + port;
        break;
      }
    }
    ::closedir(d);
    if (!found.empty()) return found;
  }
  return kFallbackSerial;
}

int open_serial(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return -1;
  if (::isatty(fd) != 0) {
    termios t{};
    if (::tcgetattr(fd, &t) == 0) {
      ::cfmakeraw(&t);
      t.c_cflag |= CLOCAL | CREAD;
      t.c_cflag &= ~static_cast<tcflag_t>(CRTSCTS | CSTOPB | PARENB);
      t.c_iflag &= ~static_cast<tcflag_t>(IXON | IXOFF | IXANY);
      t.c_cc[VMIN] = 1;
      t.c_cc[VTIME] = 0;
      ::cfsetispeed(&t, B115200);
      ::cfsetospeed(&t, B115200);
      if (::tcsetattr(fd, TCSANOW, &t) != 0) {
        const int err = errno;
        ::close(fd);
        errno = err;
        return -1;
      }
    }
  }
  return fd;
}

}  // namespace vmbh::agent
