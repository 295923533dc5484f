// vmbh-agent: the guest agent. Serves the protocol of docs/agent-protocol.md on
// a serial port that needs neither VMBus nor networking.
//
//   vmbh-agent [--device PATH] [--wait SECONDS] [--idle-ms N] [--verbose]
//   vmbh-agent --stdio                requests on stdin, answers on stdout (tests)
//   vmbh-agent --fd N                 requests and answers on fd N (a socketpair end)
//   vmbh-agent --listen PATH          a unix socket; serves one connection at a time
//   vmbh-agent --read-clock /dev/ptpN prints "CLOCK_NS REALTIME_NS" of a PTP device and exits
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "clock_read.h"
#include "serial.h"
#include "server.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: vmbh-agent [--device PATH] [--wait SECONDS] [--idle-ms N] [--verbose]\n"
               "       vmbh-agent --stdio | --fd N | --listen PATH\n"
               "       vmbh-agent --read-clock /dev/ptpN\n"
               "default device: %s, else the virtio port named %s, else %s\n",
               vmbh::agent::kVirtioPortPath, vmbh::agent::kVirtioPortName, vmbh::agent::kFallbackSerial);
  return 2;
}

// Children get the agent's fds 0-2 replaced; make sure they exist so pipes never land there.
void ensure_std_fds() {
  for (int fd = 0; fd < 3; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) {
      const int n = ::open("/dev/null", O_RDWR);
      if (n >= 0 && n != fd) {
        ::dup2(n, fd);
        ::close(n);
      }
    }
  }
}

int serve_listen(const std::string& path, vmbh::agent::ServeOptions o) {
  const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (s < 0 || path.size() >= sizeof addr.sun_path) {
    std::fprintf(stderr, "vmbh-agent: cannot listen on %s\n", path.c_str());
    return 1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(s, 4) != 0) {
    std::fprintf(stderr, "vmbh-agent: listen %s: %s\n", path.c_str(), std::strerror(errno));
    return 1;
  }
  std::fprintf(stderr, "vmbh-agent: listening on %s\n", path.c_str());
  vmbh::agent::Server server;
  for (;;) {
    const int c = ::accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "vmbh-agent: accept: %s\n", std::strerror(errno));
      return 1;
    }
    o.in_fd = o.out_fd = c;
    (void)server.serve(o);
    ::close(c);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string device, listen_path;
  bool stdio = false;
  int fd = -1;
  int wait_s = 30;
  vmbh::agent::ServeOptions o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--stdio") {
      stdio = true;
    } else if (a == "--verbose" || a == "-v") {
      o.verbose = true;
    } else if (a == "--device" && (v = value()) != nullptr) {
      device = v;
    } else if (a == "--fd" && (v = value()) != nullptr) {
      fd = std::atoi(v);
    } else if (a == "--listen" && (v = value()) != nullptr) {
      listen_path = v;
    } else if (a == "--wait" && (v = value()) != nullptr) {
      wait_s = std::atoi(v);
    } else if (a == "--idle-ms" && (v = value()) != nullptr) {
      o.idle_ms = std::atoi(v);
    } else if (a == "--read-clock" && (v = value()) != nullptr) {
      const auto r = vmbh::agent::read_device_clock(v);
      if (const auto* err = std::get_if<std::string>(&r)) {
        std::fprintf(stderr, "vmbh-agent: %s\n", err->c_str());
        return 1;
      }
      std::printf("%s\n", vmbh::agent::format_reading(std::get<vmbh::agent::ClockReading>(r)).c_str());
      return 0;
    } else if (a == "--version") {
      std::printf("%s\n", vmbh::agent::kAgentVersionString);
      return 0;
    } else {
      return usage();
    }
  }
  ::signal(SIGPIPE, SIG_IGN);  // a closed channel or child pipe is an error return, not death
  ensure_std_fds();

  vmbh::agent::Server server;
  if (stdio) {
    o.in_fd = 0;
    o.out_fd = 1;
    return server.serve(o);
  }
  if (fd >= 0) {
    o.in_fd = o.out_fd = fd;
    return server.serve(o);
  }
  if (!listen_path.empty()) return serve_listen(listen_path, o);

  // The device may appear a little after the agent starts (module loading).
  int dev = -1;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
  for (;;) {
    const std::string path = device.empty() ? vmbh::agent::default_device() : device;
    dev = vmbh::agent::open_serial(path);
    if (dev >= 0) {
      std::fprintf(stderr, "vmbh-agent: serving on %s\n", path.c_str());
      break;
    }
    if (std::chrono::steady_clock::now() >= until) {
      std::fprintf(stderr, "vmbh-agent: open %s: %s\n", path.c_str(), std::strerror(errno));
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  o.in_fd = o.out_fd = dev;
  o.device = true;
  return server.serve(o);
}
