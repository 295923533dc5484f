// End-to-end: the real vmbh-agent binary over a socketpair, a unix socket and a
// pty, driven by the C++ client.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client.h"
#include "server.h"

namespace vmbh::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using proto::Bytes;
using proto::ExecRequest;

Bytes b(std::string_view s) {
  Bytes out;
  for (char c : s) out.push_back(std::byte(static_cast<std::uint8_t>(c)));
  return out;
}
std::string s(const Bytes& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size()); }

// Runs vmbh-agent with the given arguments; stdin/stdout become `io_fd` unless -1.
pid_t spawn_agent(const std::vector<std::string>& args, int io_fd) {
  std::vector<std::string> argv = {VMBH_AGENT_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (io_fd >= 0) {
      ::dup2(io_fd, 0);
      ::dup2(io_fd, 1);
    }
    std::vector<char*> cargv;
    cargv.reserve(argv.size() + 1);
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits up to `limit` for pid; returns the wait status or nullopt.
std::optional<int> wait_for(pid_t pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) return st;
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

// Kills a device-mode or listening agent (they never end on their own) even when a test fails.
class KillOnExit {
 public:
  explicit KillOnExit(pid_t pid) : pid_(pid) {}
  KillOnExit(const KillOnExit&) = delete;
  KillOnExit& operator=(const KillOnExit&) = delete;
  ~KillOnExit() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (!wait_for(pid_, 5000ms)) {
      ::kill(pid_, SIGKILL);
      (void)wait_for(pid_, 5000ms);
    }
  }

 private:
  pid_t pid_;
};

class TempDir {
 public:
  TempDir() {
    std::string t = (fs::temp_directory_path() / "vmbh-agent-test-XXXXXX").string();
    path_ = ::mkdtemp(t.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// The agent in --stdio mode on one end of a socketpair.
class AgentE2E : public ::testing::Test {
 protected:
  void SetUp() override { start({"--stdio"}); }
  void start(const std::vector<std::string>& args) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_ = spawn_agent(args, sv[1]);
    ASSERT_GT(pid_, 0);
    ::close(sv[1]);
    client_.emplace(AgentClient::from_fd(sv[0]));
  }
  void TearDown() override {
    client_.reset();  // end of input: the agent exits
    if (pid_ > 0) {
      auto st = wait_for(pid_, 5000ms);
      if (!st) {
        ::kill(pid_, SIGKILL);
        (void)wait_for(pid_, 5000ms);
        ADD_FAILURE() << "agent did not exit at end of input";
      } else {
        EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "agent status " << *st;
      }
    }
  }
  AgentClient& c() { return *client_; }
  proto::ExecResponse run(const ExecRequest& req) {
    auto r = c().exec(req);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
    return r.ok() ? *r : proto::ExecResponse{};
  }

  pid_t pid_ = -1;
  std::optional<AgentClient> client_;
  TempDir tmp_;
};

TEST_F(AgentE2E, PingEchoesData) {
  auto r = c().ping(b("hello agent"));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(s(r->data), "hello agent");
  EXPECT_NE(r->agent.find("vmbh-agent"), std::string::npos);
}

TEST_F(AgentE2E, ManyPingsInARow) {
  for (int i = 0; i < 50; ++i) {
    auto r = c().ping(b(std::to_string(i)));
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(s(r->data), std::to_string(i));
  }
}

TEST_F(AgentE2E, ExecEcho) {
  auto r = run({.argv = {"/bin/echo", "hello", "world"}});
  EXPECT_EQ(r.termination, proto::ExecTermination::exited);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(s(r.stdout_data), "hello world\n");
  EXPECT_TRUE(r.stderr_data.empty());
  EXPECT_EQ(r.flags, 0u);
}

TEST_F(AgentE2E, ExecSearchesPath) {
  auto r = run({.argv = {"echo", "found"}});
  EXPECT_EQ(s(r.stdout_data), "found\n");
}

TEST_F(AgentE2E, ExecShellWithStdinStderrAndExitStatus) {
  auto r = run({.argv = {"/bin/sh", "-c", "cat; echo to-err >&2; exit 3"}, .stdin_data = b("from stdin")});
  EXPECT_EQ(r.termination, proto::ExecTermination::exited);
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(s(r.stdout_data), "from stdin");
  EXPECT_EQ(s(r.stderr_data), "to-err\n");
}

TEST_F(AgentE2E, ExecLargeStdinAndStdoutDoNotDeadlock) {
  Bytes big(3 << 20, std::byte{'a'});
  auto r = run({.argv = {"/bin/cat"}, .stdin_data = big, .max_stdout = 4 << 20});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.stdout_data.size(), big.size());
  EXPECT_FALSE(r.stdout_truncated());
}

TEST_F(AgentE2E, ExecEnvironmentAddedAndCleared) {
  auto r = run({.argv = {"/bin/sh", "-c", "echo $VMBH_X:${HOME-unset}"}, .env = {"VMBH_X=42"}});
  EXPECT_EQ(s(r.stdout_data).substr(0, 3), "42:");
  auto cleared = run({.argv = {"/bin/sh", "-c", "echo $VMBH_X:${HOME-unset}"},
                      .env = {"VMBH_X=7"},
                      .flags = proto::kExecClearEnv});
  EXPECT_EQ(s(cleared.stdout_data), "7:unset\n");
}

TEST_F(AgentE2E, ExecWorkingDirectory) {
  auto r = run({.argv = {"/bin/pwd"}, .cwd = "/"});
  EXPECT_EQ(s(r.stdout_data), "/\n");
  auto bad = c().exec({.argv = {"/bin/pwd"}, .cwd = "/nonexistent-dir"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().sys_errno, ENOENT);
  EXPECT_NE(bad.error().message.find("chdir"), std::string::npos);
}

TEST_F(AgentE2E, ExecMissingProgramIsAnOsError) {
  auto r = c().exec({.argv = {"/nonexistent/program"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ClientError::Kind::agent);
  EXPECT_EQ(r.error().code, proto::AgentErrc::os_error);
  EXPECT_EQ(r.error().sys_errno, ENOENT);
  auto p = c().exec({.argv = {"no-such-program-in-path"}});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().sys_errno, ENOENT);
  EXPECT_TRUE(c().ping().ok());
}

TEST_F(AgentE2E, ExecKilledBySignal) {
  auto r = run({.argv = {"/bin/sh", "-c", "kill -TERM $$"}});
  EXPECT_EQ(r.termination, proto::ExecTermination::signaled);
  EXPECT_EQ(r.code, SIGTERM);
  EXPECT_FALSE(r.timed_out());
}

TEST_F(AgentE2E, ExecTimeoutKillsSleep) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run({.argv = {"/bin/sleep", "100"}, .timeout_ms = 300});
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(r.timed_out());
  EXPECT_EQ(r.termination, proto::ExecTermination::signaled);
  EXPECT_EQ(r.code, SIGKILL);
  EXPECT_GE(r.duration_ms, 300u);
  EXPECT_LT(took, 5s);
  EXPECT_TRUE(c().ping().ok());
}

TEST_F(AgentE2E, ExecTimeoutKillsTheWholeProcessGroup) {
  const auto t0 = std::chrono::steady_clock::now();
  // The background sleep holds stdout open: only a group kill ends the request promptly.
  auto r = run({.argv = {"/bin/sh", "-c", "sleep 100 & echo started; sleep 100"}, .timeout_ms = 300});
  EXPECT_TRUE(r.timed_out());
  EXPECT_EQ(s(r.stdout_data), "started\n");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST_F(AgentE2E, ExecOutputTruncation) {
  auto r = run({.argv = {"/bin/sh", "-c", "head -c 100000 /dev/zero; head -c 50 /dev/zero >&2"},
                .max_stdout = 1000,
                .max_stderr = 10});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.stdout_data.size(), 1000u);
  EXPECT_EQ(r.stderr_data.size(), 10u);
  EXPECT_TRUE(r.stdout_truncated());
  EXPECT_TRUE(r.stderr_truncated());
  auto exact = run({.argv = {"/bin/sh", "-c", "printf 1234567890"}, .max_stdout = 10});
  EXPECT_EQ(s(exact.stdout_data), "1234567890");
  EXPECT_FALSE(exact.stdout_truncated());
}

TEST_F(AgentE2E, ExecUnreadStdinIsFlagged) {
  auto r = run({.argv = {"/bin/true"}, .stdin_data = Bytes(1 << 20, std::byte{'x'})});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.flags & proto::kExecStdinNotConsumed, 0u);
}

TEST_F(AgentE2E, WriteThenReadFile) {
  const std::string path = tmp_.path("f.txt");
  auto w = c().write_file(path, b("0123456789"), 0600);
  ASSERT_TRUE(w.ok()) << w.error().describe();
  EXPECT_EQ(w->written, 10u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto r = c().read_file(path);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(s(r->data), "0123456789");
  EXPECT_EQ(r->file_size, 10u);
  EXPECT_FALSE(r->truncated());
}

TEST_F(AgentE2E, ReadFileOffsetAndTruncation) {
  const std::string path = tmp_.path("g.txt");
  std::ofstream(path) << "abcdefghij";
  auto part = c().read_file(path, 2, 3);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(s(part->data), "cde");
  EXPECT_TRUE(part->truncated());
  auto tail = c().read_file(path, 7, 3);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(s(tail->data), "hij");
  EXPECT_FALSE(tail->truncated());
  auto past = c().read_file(path, 100);
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->data.empty());
}

TEST_F(AgentE2E, ReadProcFileWithZeroSize) {
  auto r = c().read_file("/proc/self/status");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->file_size, 0u);
  EXPECT_NE(s(r->data).find("Name:"), std::string::npos);
}

TEST_F(AgentE2E, ReadFileErrors) {
  auto missing = c().read_file(tmp_.path("missing"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().sys_errno, ENOENT);
  EXPECT_NE(missing.error().describe().find("No such file"), std::string::npos);
  auto dir = c().read_file("/");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error().sys_errno, EISDIR);
}

TEST_F(AgentE2E, WriteFileAppendAndExclusive) {
  const std::string path = tmp_.path("h.txt");
  ASSERT_TRUE(c().write_file(path, b("one")).ok());
  ASSERT_TRUE(c().write_file(path, b("two"), 0, proto::kWriteAppend | proto::kWriteFsync).ok());
  EXPECT_EQ(s(c().read_file(path)->data), "onetwo");
  auto excl = c().write_file(path, b("x"), 0, proto::kWriteExclusive);
  ASSERT_FALSE(excl.ok());
  EXPECT_EQ(excl.error().sys_errno, EEXIST);
  ASSERT_TRUE(c().write_file(path, b("3")).ok());  // truncates
  EXPECT_EQ(s(c().read_file(path)->data), "3");
}

TEST_F(AgentE2E, StatFileDirAndSymlink) {
  const std::string path = tmp_.path("s.txt");
  std::ofstream(path) << "12345";
  const std::string link = tmp_.path("link");
  ASSERT_EQ(::symlink(path.c_str(), link.c_str()), 0);
  auto f = c().stat(path);
  ASSERT_TRUE(f.ok()) << f.error().describe();
  EXPECT_TRUE(S_ISREG(f->mode));
  EXPECT_EQ(f->size, 5u);
  EXPECT_GT(f->mtime_ns, 0);
  auto followed = c().stat(link);
  ASSERT_TRUE(followed.ok());
  EXPECT_TRUE(S_ISREG(followed->mode));
  EXPECT_TRUE(followed->link_target.empty());
  auto l = c().stat(link, false);
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(S_ISLNK(l->mode));
  EXPECT_EQ(l->link_target, path);
  auto d = c().stat("/");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(S_ISDIR(d->mode));
  auto missing = c().stat(tmp_.path("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().sys_errno, ENOENT);
}

TEST_F(AgentE2E, GarbageIsAnsweredAndTheNextRequestWorks) {
  ASSERT_TRUE(c().send_raw(b("this is not a frame\r\n")).ok());
  auto e = c().read_frame(5000ms);
  ASSERT_TRUE(e.ok()) << e.error().describe();
  EXPECT_EQ(e->type, proto::FrameType::error);
  EXPECT_EQ(e->request_id, 0u);
  auto er = proto::decode_error_reply(e->payload);
  ASSERT_TRUE(er.ok());
  EXPECT_EQ(er->code, proto::AgentErrc::bad_frame);
  EXPECT_NE(er->message.find("frame.magic"), std::string::npos);
  auto p = c().ping(b("after garbage"));
  ASSERT_TRUE(p.ok()) << p.error().describe();
  EXPECT_EQ(s(p->data), "after garbage");
}

TEST_F(AgentE2E, CorruptedCrcIsAnsweredWithItsRequestId) {
  Bytes bad = proto::encode_request(4242, proto::PingRequest{b("x")});
  bad.back() ^= std::byte{1};
  Bytes both = bad;
  const Bytes good = proto::encode_request(4243, proto::PingRequest{b("y")});
  both.insert(both.end(), good.begin(), good.end());
  ASSERT_TRUE(c().send_raw(both).ok());
  auto e = c().read_frame(5000ms);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->type, proto::FrameType::error);
  EXPECT_EQ(e->request_id, 4242u);
  EXPECT_NE(s(e->payload).find("frame.crc32"), std::string::npos);
  auto g = c().read_frame(5000ms);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->type, proto::FrameType::response);
  EXPECT_EQ(g->request_id, 4243u);
}

TEST_F(AgentE2E, UnknownOpAndBadPayloadAndWrongType) {
  auto u = c().call(static_cast<proto::AgentOp>(77), {}, 5000ms);
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().code, proto::AgentErrc::unknown_op);
  const Bytes junk = proto::bytes_of(1, 2, 3);
  auto bp = c().call(proto::AgentOp::stat, junk, 5000ms);
  ASSERT_FALSE(bp.ok());
  EXPECT_EQ(bp.error().code, proto::AgentErrc::bad_request);
  EXPECT_NE(bp.error().message.find("stat.path"), std::string::npos);
  ASSERT_TRUE(c().send_raw(proto::encode_frame(proto::FrameType::response, 1, 99, {})).ok());
  auto wt = c().read_frame(5000ms);
  ASSERT_TRUE(wt.ok());
  EXPECT_EQ(wt->type, proto::FrameType::error);
  EXPECT_EQ(wt->request_id, 99u);
  EXPECT_TRUE(c().ping().ok());
}

TEST_F(AgentE2E, StaleAnswersAreSkippedByTheClient) {
  // An answer to an id nobody waits for arrives first; the client must skip it.
  ASSERT_TRUE(c().send_raw(proto::encode_request(999999, proto::PingRequest{b("stale")})).ok());
  auto r = c().ping(b("fresh"));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(s(r->data), "fresh");
}

class AgentIdleE2E : public AgentE2E {
 protected:
  void SetUp() override { start({"--stdio", "--idle-ms", "200"}); }
};

TEST_F(AgentIdleE2E, PartialFrameIsAbandonedAfterIdle) {
  const Bytes f = proto::encode_request(31, proto::PingRequest{b("half")});
  ASSERT_TRUE(c().send_raw(proto::ByteSpan(f).first(f.size() - 2)).ok());
  auto e = c().read_frame(5000ms);
  ASSERT_TRUE(e.ok()) << e.error().describe();
  EXPECT_EQ(e->type, proto::FrameType::error);
  EXPECT_EQ(e->request_id, 31u);
  EXPECT_TRUE(c().ping().ok());
}

TEST(AgentClientTest, TimeoutWhenNobodyAnswers) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  AgentClient c = AgentClient::from_fd(sv[0]);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.ping({}, 200ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ClientError::Kind::timeout);
  EXPECT_NE(r.error().describe().find("timeout"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  ::close(sv[1]);
  auto closed = c.ping({}, 1000ms);
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.error().kind, ClientError::Kind::closed);
}

TEST(AgentClientTest, MalformedReplyIsReported) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  AgentClient c = AgentClient::from_fd(sv[0]);
  // A fake agent answers request 1 with an undecodable ping response.
  const Bytes reply = proto::encode_frame(proto::FrameType::response, 1, 1, proto::bytes_of(9, 9));
  ASSERT_EQ(::write(sv[1], reply.data(), reply.size()), static_cast<ssize_t>(reply.size()));
  auto r = c.ping({}, 2000ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ClientError::Kind::malformed_reply);
  ::close(sv[1]);
}

TEST(AgentListen, UnixSocketServesOneConnectionAfterAnother) {
  TempDir tmp;
  const std::string sock = tmp.path("agent.sock");
  const pid_t pid = spawn_agent({"--listen", sock}, -1);
  ASSERT_GT(pid, 0);
  KillOnExit guard(pid);
  for (int i = 0; i < 2; ++i) {
    auto c = AgentClient::connect_unix(sock, 5000ms);
    ASSERT_TRUE(c.ok()) << c.error().describe();
    auto r = c->exec({.argv = {"/bin/echo", "via socket"}});
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(s(r->stdout_data), "via socket\n");
  }
}

TEST(AgentDevice, ServesOnAPtyInRawMode) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(master, 0);
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  const std::string slave = ::ptsname(master);
  // Raw before the agent starts, so nothing is echoed or line-buffered meanwhile.
  const int s_fd = ::open(slave.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(s_fd, 0);
  termios t{};
  ASSERT_EQ(::tcgetattr(s_fd, &t), 0);
  ::cfmakeraw(&t);
  ASSERT_EQ(::tcsetattr(s_fd, TCSANOW, &t), 0);
  const pid_t pid = spawn_agent({"--device", slave, "--wait", "2"}, -1);
  ASSERT_GT(pid, 0);
  KillOnExit guard(pid);
  AgentClient c = AgentClient::from_fd(master);
  auto ready = c.wait_ready(5000ms, 100ms);
  ASSERT_TRUE(ready.ok()) << ready.error().describe();
  auto p = c.ping(b("over a tty"), 5000ms);
  ASSERT_TRUE(p.ok()) << p.error().describe();
  EXPECT_EQ(s(p->data), "over a tty");
  // Bytes that a cooked tty would translate (CR, NL, ^C, ^D) pass unchanged.
  const Bytes binary = proto::bytes_of('\r', '\n', 3, 4, 0x7f, 0, 0x11, 0x13);
  auto bin = c.ping(binary, 5000ms);
  ASSERT_TRUE(bin.ok()) << bin.error().describe();
  EXPECT_EQ(bin->data, binary);
  auto r = c.exec({.argv = {"/bin/sh", "-c", "printf 'a\\nb\\n'"}});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(s(r->stdout_data), "a\nb\n");
  ::close(s_fd);
}

TEST(AgentBinary, VersionAndUsage) {
  EXPECT_NE(std::string(kAgentVersionString).find("protocol 1"), std::string::npos);
  const pid_t pid = spawn_agent({"--bogus-option"}, -1);
  auto st = wait_for(pid, 5000ms);
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(WIFEXITED(*st));
  EXPECT_EQ(WEXITSTATUS(*st), 2);
}

TEST(AgentBinary, IsStaticWhenBuiltWithoutSanitizers) {
  if (!VMBH_AGENT_STATIC) GTEST_SKIP() << "sanitizer build: the agent is linked dynamically";
  std::ifstream in(VMBH_AGENT_BINARY, std::ios::binary);
  std::vector<unsigned char> elf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(elf.size(), 64u);
  auto u16 = [&](std::size_t at) { return static_cast<unsigned>(elf[at] | elf[at + 1] << 8); };
  auto u64 = [&](std::size_t at) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | elf[at + static_cast<std::size_t>(i)];
    return v;
  };
  ASSERT_EQ(elf[4], 2);  // ELFCLASS64
  const std::uint64_t phoff = u64(32);
  const unsigned phentsize = u16(54), phnum = u16(56);
  for (unsigned i = 0; i < phnum; ++i) {
    const std::size_t at = phoff + std::size_t{i} * phentsize;
    ASSERT_LE(at + 4, elf.size());
    const unsigned type = u16(at);
    EXPECT_NE(type, 3u) << "PT_INTERP: the agent needs a dynamic loader";
    EXPECT_NE(type, 2u) << "PT_DYNAMIC: the agent is dynamically linked";
  }
}

}  // namespace
}  // namespace vmbh::agent
