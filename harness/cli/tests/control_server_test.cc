#include "control_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace vmbh::cli {
namespace {

std::string frame(const std::string& body) {
  std::string f(4, '\0');
  for (int i = 0; i < 4; ++i) f[i] = static_cast<char>((body.size() >> (8 * i)) & 0xff);
  return f + body;
}

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/vmbh-ctl-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/control.sock";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  int connect_client() {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }
  // Runs the server until `client_fd` has something to read, or `rounds` x 10 ms pass.
  void pump(int client_fd, int rounds = 200) {
    for (int i = 0; i < rounds; ++i) {
      std::vector<pollfd> p;
      for (int fd : server_.poll_fds()) p.push_back({fd, POLLIN, 0});
      poll(p.data(), p.size(), 10);
      for (auto& e : p)
        if (e.revents) server_.on_readable(e.fd);
      pollfd c{client_fd, POLLIN, 0};
      if (poll(&c, 1, 0) == 1) return;
    }
  }
  control::Response read_response(int fd) {
    std::string buf;
    char tmp[4096];
    control::Response r;
    while (true) {
      if (buf.size() >= 4) {
        std::uint32_t len = 0;
        for (int i = 0; i < 4; ++i) len |= std::uint32_t(static_cast<unsigned char>(buf[i])) << (8 * i);
        if (buf.size() >= 4 + len) {
          EXPECT_TRUE(r.ParseFromArray(buf.data() + 4, static_cast<int>(len)));
          return r;
        }
      }
      pump(fd);
      ssize_t n = read(fd, tmp, sizeof tmp);
      if (n <= 0) {
        ADD_FAILURE() << "connection closed before a whole response";
        return r;
      }
      buf.append(tmp, static_cast<std::size_t>(n));
    }
  }

  std::string dir_, path_;
  ControlServer server_;
};

TEST_F(ControlServerTest, AnswersEachRequestWithItsIdEvenWhenSplitAcrossWrites) {
  ASSERT_TRUE(server_.listen(path_, [](const control::Request& req, const ControlServer::Reply& reply) {
    control::Response r;
    r.mutable_status()->set_vmbus_version(req.has_get_status() ? "5.3" : "?");
    reply(r);
  }));
  int fd = connect_client();
  pump(fd, 5);  // accept
  control::Request req;
  req.set_id(42);
  req.mutable_get_status();
  std::string f = frame(req.SerializeAsString());
  ASSERT_EQ(write(fd, f.data(), 3), 3);  // a partial length prefix first
  pump(fd, 5);
  ASSERT_EQ(write(fd, f.data() + 3, f.size() - 3), static_cast<ssize_t>(f.size() - 3));
  control::Response r = read_response(fd);
  EXPECT_EQ(r.id(), 42u);
  EXPECT_EQ(r.error(), "");
  EXPECT_EQ(r.status().vmbus_version(), "5.3");
  close(fd);
}

TEST_F(ControlServerTest, GarbageIsAnsweredWithAnErrorAndOversizeFramesCloseTheConnection) {
  ASSERT_TRUE(
      server_.listen(path_, [](const control::Request&, const ControlServer::Reply& reply) { reply({}); }));
  int fd = connect_client();
  pump(fd, 5);
  std::string junk = frame(std::string("\xff\xff\xff\xff\x0f", 5));
  ASSERT_EQ(write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  control::Response r = read_response(fd);
  EXPECT_NE(r.error().find("not a vmbh.control.Request"), std::string::npos) << r.error();

  std::string huge = "\xff\xff\xff\x7f";
  ASSERT_EQ(write(fd, huge.data(), 4), 4);
  r = read_response(fd);
  EXPECT_NE(r.error().find("exceeds the 16 MiB limit"), std::string::npos) << r.error();
  pump(fd, 5);
  char c;
  EXPECT_EQ(read(fd, &c, 1), 0) << "the server closes after an oversize frame";
  EXPECT_EQ(server_.clients(), 0u);
  close(fd);
}

TEST_F(ControlServerTest, LateRepliesToADepartedClientAreDropped) {
  ControlServer::Reply saved;
  ASSERT_TRUE(server_.listen(
      path_, [&](const control::Request&, ControlServer::Reply reply) { saved = std::move(reply); }));
  int fd = connect_client();
  pump(fd, 5);
  control::Request req;
  req.set_id(1);
  req.mutable_heartbeat();
  std::string f = frame(req.SerializeAsString());
  ASSERT_EQ(write(fd, f.data(), f.size()), static_cast<ssize_t>(f.size()));
  for (int i = 0; i < 100 && !saved; ++i) pump(fd, 1);
  ASSERT_TRUE(saved);
  close(fd);
  pump(-1, 5);
  EXPECT_EQ(server_.clients(), 0u);
  int other = connect_client();  // may reuse the departed client's fd number
  pump(other, 5);
  saved(control::Response{});  // must not reach `other`
  pollfd p{other, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 50), 0);
  close(other);
}

}  // namespace
}  // namespace vmbh::cli
