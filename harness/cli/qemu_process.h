// A child QEMU: spawned with its console (stdout+stderr) on a pipe that the
// event loop drains into a log file while watching for the image's markers,
// and a pidfd that becomes readable when it exits. Killed on destruction.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "vmbh/host/status.h"

namespace vmbh::cli {

class QemuProcess {
 public:
  QemuProcess() = default;
  QemuProcess(const QemuProcess&) = delete;
  QemuProcess& operator=(const QemuProcess&) = delete;
  ~QemuProcess();

  // Starts argv[0]; the console is appended to `console_log`.
  host::Status start(const std::vector<std::string>& argv, const std::string& console_log);

  int console_fd() const { return console_fd_; }  // -1 once QEMU closed it
  int exit_fd() const { return pidfd_; }          // readable when QEMU exited
  // Reads what the console pipe has; false at EOF.
  bool drain_console();
  // Bytes read from the console so far.
  std::uint64_t console_bytes() const { return console_bytes_; }
  // Whether `marker` appeared on the console at or after byte `since` (a
  // console_bytes() value: after a guest reset only the new boot counts).
  bool console_saw(const std::string& marker, std::uint64_t since = 0) const;
  // The last `n` bytes of the console.
  std::string console_tail(std::size_t n) const;

  bool running() const { return pid_ > 0 && !exited_; }
  std::chrono::steady_clock::time_point started() const { return started_; }
  // Collects the exit status if QEMU exited (non-blocking); true if it did.
  bool reap();
  // Exit code, or -signal when killed by one.
  int exit_status() const { return exit_status_; }
  // SIGTERM, then SIGKILL after `grace_ms`; waits for the exit.
  void stop(int grace_ms = 2000);

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int console_fd_ = -1;
  std::FILE* log_ = nullptr;
  std::string seen_;                 // console text kept for marker search and tails (bounded)
  std::uint64_t console_bytes_ = 0;  // seen_ ends at this console offset
  std::chrono::steady_clock::time_point started_{};
  bool exited_ = false;
  int exit_status_ = 0;
};

}  // namespace vmbh::cli
