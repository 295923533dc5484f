#include "qemu_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace vmbh::cli {

namespace {
// Console text kept in memory: markers come early, tails are short.
constexpr std::size_t kSeenLimit = 1 << 20;

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }
}  // namespace

QemuProcess::~QemuProcess() {
  stop(500);
  if (console_fd_ >= 0) close(console_fd_);
  if (pidfd_ >= 0) close(pidfd_);
  if (log_) std::fclose(log_);
}

host::Status QemuProcess::start(const std::vector<std::string>& argv, const std::string& console_log) {
  log_ = std::fopen(console_log.c_str(), "ab");
  if (!log_) return host::Status::fail(errno_text(("cannot open " + console_log).c_str()));
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return host::Status::fail(errno_text("pipe"));

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int rc = posix_spawn(&pid_, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pipefd[1]);
  if (rc != 0) {
    close(pipefd[0]);
    pid_ = -1;
    return host::Status::fail("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  started_ = std::chrono::steady_clock::now();
  console_fd_ = pipefd[0];
  fcntl(console_fd_, F_SETFL, O_NONBLOCK);
  pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd_ < 0) return host::Status::fail(errno_text("pidfd_open"));
  return {};
}

bool QemuProcess::drain_console() {
  if (console_fd_ < 0) return false;
  char buf[65536];
  for (;;) {
    ssize_t n = read(console_fd_, buf, sizeof buf);
    if (n > 0) {
      std::fwrite(buf, 1, static_cast<std::size_t>(n), log_);
      std::fflush(log_);
      seen_.append(buf, static_cast<std::size_t>(n));
      console_bytes_ += static_cast<std::uint64_t>(n);
      if (seen_.size() > kSeenLimit) seen_.erase(0, seen_.size() - kSeenLimit / 2);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    close(console_fd_);
    console_fd_ = -1;
    return false;
  }
}

bool QemuProcess::console_saw(const std::string& marker, std::uint64_t since) const {
  const std::uint64_t base = console_bytes_ - seen_.size();  // offset of seen_[0]
  const std::size_t from = since > base ? static_cast<std::size_t>(since - base) : 0;
  return from <= seen_.size() && seen_.find(marker, from) != std::string::npos;
}

std::string QemuProcess::console_tail(std::size_t n) const {
  return seen_.size() <= n ? seen_ : seen_.substr(seen_.size() - n);
}

bool QemuProcess::reap() {
  if (pid_ <= 0 || exited_) return exited_;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r != pid_) return false;
  exited_ = true;
  exit_status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
  return true;
}

void QemuProcess::stop(int grace_ms) {
  if (pid_ <= 0 || reap()) return;
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (reap()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  int st = 0;
  waitpid(pid_, &st, 0);
  exited_ = true;
  exit_status_ = -SIGKILL;
}

}  // namespace vmbh::cli
