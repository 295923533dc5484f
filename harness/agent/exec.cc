// exec: fork/execve with pipes, poll, output caps and a mandatory timeout.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "ops.h"

namespace vmbh::agent {

namespace {

using Clock = std::chrono::steady_clock;
using proto::ExecRequest;
using proto::ExecResponse;

// After the child exits, output still in flight is read for this long; a
// grandchild that keeps the pipes open does not hold the answer back longer.
constexpr auto kExitGrace = std::chrono::milliseconds(200);

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

bool make_pipe(Fd& r, Fd& w) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return false;
  r.reset(p[0]);
  w.reset(p[1]);
  return true;
}

void set_nonblock(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

std::string env_name(const std::string& entry) { return entry.substr(0, entry.find('=')); }

std::vector<std::string> child_env(const ExecRequest& req) {
  std::vector<std::string> env;
  if ((req.flags & proto::kExecClearEnv) == 0) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  }
  for (const auto& add : req.env) {
    const std::string name = env_name(add);
    auto it = std::find_if(env.begin(), env.end(), [&](const std::string& e) { return env_name(e) == name; });
    if (it != env.end()) {
      *it = add;
    } else {
      env.push_back(add);
    }
  }
  return env;
}

// execvpe-like lookup, done before fork with the child's PATH.
std::string find_program(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : env) {
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    // Built with append: g++ 12 reports a false -Wrestrict for `dir + "/" + name`.
    std::string candidate;
    if (end == start) {
      candidate.append(".");
    } else {
      candidate.append(path, start, end - start);
    }
    candidate.append("/").append(name);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return {};
}

std::vector<char*> c_array(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// What the child reports through the CLOEXEC pipe when it cannot exec.
struct ChildFailure {
  int stage;  // 1 chdir, 2 execve
  int err;
};

[[noreturn]] void child(const std::string& program, char* const argv[], char* const envp[],
                        const std::string& cwd, int in_r, int out_w, int err_w, int report_w) {
  ::setpgid(0, 0);
  ::dup2(in_r, 0);
  ::dup2(out_w, 1);
  ::dup2(err_w, 2);
  ::signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ChildFailure f{0, 0};
  if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
    f = {1, errno};
  } else {
    ::execve(program.c_str(), argv, envp);
    f = {2, errno};
  }
  const ssize_t ignored = ::write(report_w, &f, sizeof f);  // nothing to do if the parent is gone
  (void)ignored;
  ::_exit(127);
}

// Reads what is available from fd into out (up to cap); false at EOF or error.
bool drain(int fd, proto::Bytes& out, std::uint32_t cap, bool& truncated) {
  std::byte buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      const std::size_t room = cap > out.size() ? cap - out.size() : 0;
      const std::size_t take = std::min(room, static_cast<std::size_t>(n));
      out.insert(out.end(), buf, buf + take);
      if (take < static_cast<std::size_t>(n)) truncated = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    return false;
  }
}

}  // namespace

proto::ErrorReply os_error(int err, const std::string& what) {
  return proto::ErrorReply{proto::AgentErrc::os_error, err, what + ": " + std::strerror(err)};
}

Reply<ExecResponse> run_exec(const ExecRequest& req) {
  const auto start = Clock::now();
  std::uint32_t timeout_ms = req.timeout_ms == 0 ? proto::kAgentDefaultExecTimeoutMs : req.timeout_ms;
  timeout_ms = std::min(timeout_ms, proto::kAgentMaxExecTimeoutMs);
  const std::uint32_t cap_out = std::min(
      req.max_stdout == 0 ? proto::kAgentDefaultExecOutput : req.max_stdout, proto::kAgentMaxExecOutput);
  const std::uint32_t cap_err = std::min(
      req.max_stderr == 0 ? proto::kAgentDefaultExecOutput : req.max_stderr, proto::kAgentMaxExecOutput);
  if (req.argv.empty()) return proto::ErrorReply{proto::AgentErrc::bad_request, 0, "exec.argv: empty"};

  std::vector<std::string> env = child_env(req);
  const std::string program = find_program(req.argv[0], env);
  if (program.empty()) return os_error(ENOENT, "exec " + req.argv[0] + " (not found in PATH)");
  std::vector<std::string> argv = req.argv;
  std::vector<char*> argv_c = c_array(argv);
  std::vector<char*> env_c = c_array(env);

  Fd in_r, in_w, out_r, out_w, err_r, err_w, rep_r, rep_w;
  if (!make_pipe(in_r, in_w) || !make_pipe(out_r, out_w) || !make_pipe(err_r, err_w) ||
      !make_pipe(rep_r, rep_w)) {
    return os_error(errno, "pipe");
  }
  const pid_t pid = ::fork();
  if (pid < 0) return os_error(errno, "fork");
  if (pid == 0) {
    child(program, argv_c.data(), env_c.data(), req.cwd, in_r.get(), out_w.get(), err_w.get(), rep_w.get());
  }
  ::setpgid(pid, pid);  // also done by the child: whichever runs first
  in_r.reset();
  out_w.reset();
  err_w.reset();
  rep_w.reset();

  ChildFailure failure{0, 0};
  ssize_t got;
  do {
    got = ::read(rep_r.get(), &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (failure.stage == 1) return os_error(failure.err, "chdir " + req.cwd);
    return os_error(failure.err, "execve " + program);
  }
  rep_r.reset();

  // pidfd makes the child's exit pollable; without it (old kernels) a tick re-checks.
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  set_nonblock(in_w.get());
  set_nonblock(out_r.get());
  set_nonblock(err_r.get());

  ExecResponse resp;
  bool out_trunc = false, err_trunc = false, timed_out = false, exited = false;
  int status = 0;
  std::size_t stdin_pos = 0;
  if (req.stdin_data.empty()) in_w.reset();
  const auto deadline = start + std::chrono::milliseconds(timeout_ms);
  Clock::time_point exit_time{};

  for (;;) {
    const auto now = Clock::now();
    if (!exited && !timed_out && now >= deadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      timed_out = true;
    }
    if (!exited) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        exited = true;
        exit_time = now;
      }
    }
    if (exited && out_r.get() < 0 && err_r.get() < 0) break;
    if (exited && now - exit_time >= kExitGrace) break;

    pollfd fds[4];
    int n = 0;
    auto add = [&](int fd, short ev) {
      if (fd >= 0) fds[n++] = pollfd{fd, ev, 0};
    };
    add(out_r.get(), POLLIN);
    add(err_r.get(), POLLIN);
    add(in_w.get(), POLLOUT);
    if (!exited) add(pidfd.get(), POLLIN);
    Clock::duration wait;
    if (exited) {
      wait = exit_time + kExitGrace - now;
    } else if (timed_out) {
      wait = std::chrono::milliseconds(50);
    } else {
      wait = deadline - now;
    }
    if (pidfd.get() < 0) wait = std::min<Clock::duration>(wait, std::chrono::milliseconds(20));
    const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count() + 1;
    const int pr =
        ::poll(fds, static_cast<nfds_t>(n), static_cast<int>(std::clamp<long long>(wait_ms, 0, 60'000)));
    if (pr < 0 && errno != EINTR) break;
    for (int i = 0; i < n && pr > 0; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == out_r.get()) {
        if (!drain(out_r.get(), resp.stdout_data, cap_out, out_trunc)) out_r.reset();
      } else if (fds[i].fd == err_r.get()) {
        if (!drain(err_r.get(), resp.stderr_data, cap_err, err_trunc)) err_r.reset();
      } else if (fds[i].fd == in_w.get()) {
        const auto left = req.stdin_data.size() - stdin_pos;
        const ssize_t w =
            ::write(in_w.get(), req.stdin_data.data() + stdin_pos, std::min<std::size_t>(left, 65536));
        if (w > 0) stdin_pos += static_cast<std::size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || stdin_pos == req.stdin_data.size()) in_w.reset();
      }
    }
  }
  if (!exited) {
    // Only reached when poll failed: make sure the child does not outlive the request.
    ::kill(-pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }

  if (WIFSIGNALED(status)) {
    resp.termination = proto::ExecTermination::signaled;
    resp.code = WTERMSIG(status);
  } else {
    resp.termination = proto::ExecTermination::exited;
    resp.code = WEXITSTATUS(status);
  }
  if (timed_out) resp.flags |= proto::kExecTimedOut;
  if (out_trunc) resp.flags |= proto::kExecStdoutTruncated;
  if (err_trunc) resp.flags |= proto::kExecStderrTruncated;
  if (stdin_pos < req.stdin_data.size()) resp.flags |= proto::kExecStdinNotConsumed;
  resp.duration_ms = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
  return resp;
}

}  // namespace vmbh::agent
