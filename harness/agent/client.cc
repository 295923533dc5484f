#include "client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace vmbh::agent {

namespace {

using Clock = std::chrono::steady_clock;
using proto::Frame;
using proto::FrameType;

ClientError make_error(ClientError::Kind kind, std::string message) {
  ClientError e;
  e.kind = kind;
  e.message = std::move(message);
  return e;
}

ClientError sys_error(const std::string& what) {
  return make_error(ClientError::Kind::io, what + ": " + std::strerror(errno));
}

}  // namespace

std::string ClientError::describe() const {
  switch (kind) {
    case Kind::io:
      return "agent I/O error: " + message;
    case Kind::closed:
      return "agent channel closed: " + message;
    case Kind::timeout:
      return "agent timeout: " + message;
    case Kind::malformed_reply:
      return "malformed agent reply: " + message;
    case Kind::agent: {
      std::string s = "agent error " + std::string(proto::to_string(code));
      if (sys_errno != 0) s += " (errno " + std::to_string(sys_errno) + ")";
      return s + ": " + message;
    }
  }
  return message;
}

ClientResult<AgentClient> AgentClient::connect_unix(const std::string& path, Duration timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return make_error(ClientError::Kind::io, "socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const auto until = Clock::now() + timeout;
  for (;;) {
    const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return sys_error("socket");
    if (::connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return AgentClient(s, s);
    const int err = errno;
    ::close(s);
    if ((err != ENOENT && err != ECONNREFUSED) || Clock::now() >= until) {
      errno = err;
      return sys_error("connect " + path);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

AgentClient::AgentClient(AgentClient&& o) noexcept
    : in_fd_(std::exchange(o.in_fd_, -1)),
      out_fd_(std::exchange(o.out_fd_, -1)),
      next_id_(o.next_id_),
      assembler_(std::move(o.assembler_)) {}

AgentClient& AgentClient::operator=(AgentClient&& o) noexcept {
  if (this != &o) {
    this->~AgentClient();
    in_fd_ = std::exchange(o.in_fd_, -1);
    out_fd_ = std::exchange(o.out_fd_, -1);
    next_id_ = o.next_id_;
    assembler_ = std::move(o.assembler_);
  }
  return *this;
}

AgentClient::~AgentClient() {
  if (in_fd_ >= 0) ::close(in_fd_);
  if (out_fd_ >= 0 && out_fd_ != in_fd_) ::close(out_fd_);
  in_fd_ = out_fd_ = -1;
}

ClientResult<bool> AgentClient::send_raw(proto::ByteSpan bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    // MSG_NOSIGNAL: a closed socket is an error return, not SIGPIPE in the caller's process.
    ssize_t w = ::send(out_fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (w < 0 && errno == ENOTSOCK) w = ::write(out_fd_, bytes.data() + done, bytes.size() - done);
    if (w > 0) {
      done += static_cast<std::size_t>(w);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && errno == EAGAIN) {
      pollfd p{out_fd_, POLLOUT, 0};
      ::poll(&p, 1, 1000);
    } else if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
      return make_error(ClientError::Kind::closed, std::string("write: ") + std::strerror(errno));
    } else {
      return sys_error("write");
    }
  }
  return true;
}

ClientResult<Frame> AgentClient::read_frame(Duration timeout) {
  const auto until = Clock::now() + timeout;
  std::byte buf[65536];
  for (;;) {
    while (auto ev = assembler_.next()) {
      // Bytes that are not frames (a console sharing the line) are skipped.
      if (ev->frame) return std::move(*ev->frame);
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) {
      return make_error(ClientError::Kind::timeout,
                        "no answer within " + std::to_string(timeout.count()) + " ms");
    }
    pollfd p{in_fd_, POLLIN, 0};
    const int pr = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60'000)));
    if (pr < 0 && errno != EINTR) return sys_error("poll");
    if (pr <= 0) continue;
    const ssize_t n = ::read(in_fd_, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return sys_error("read");
    if (n == 0) return make_error(ClientError::Kind::closed, "end of file while waiting for an answer");
    assembler_.feed(proto::ByteSpan(buf, static_cast<std::size_t>(n)));
  }
}

ClientResult<Frame> AgentClient::call(proto::AgentOp op, proto::ByteSpan payload, Duration timeout) {
  const std::uint32_t id = next_id_++;
  if (next_id_ == 0) next_id_ = 1;  // 0 is "no request" in error frames
  const auto op16 = static_cast<std::uint16_t>(op);
  auto sent = send_raw(proto::encode_frame(FrameType::request, op16, id, payload));
  if (!sent) return sent.error();
  const auto until = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<Duration>(until - Clock::now());
    auto f = read_frame(std::max(left, Duration::zero()));
    if (!f) {
      ClientError e = f.error();
      if (e.kind == ClientError::Kind::timeout) {
        e.message = std::string(proto::to_string(op)) + " request " + std::to_string(id) + ": " + e.message;
      }
      return e;
    }
    if (f->request_id != id) continue;  // a late answer, or the agent rejecting garbage (id 0)
    if (f->type == FrameType::error) {
      auto er = proto::decode_error_reply(f->payload);
      if (!er) return make_error(ClientError::Kind::malformed_reply, "error frame: " + er.error().message());
      ClientError e = make_error(ClientError::Kind::agent, er->message);
      e.code = er->code;
      e.sys_errno = er->sys_errno;
      return e;
    }
    if (f->type != FrameType::response || f->op != op16) {
      return make_error(ClientError::Kind::malformed_reply,
                        "answer to request " + std::to_string(id) + " has type " +
                            std::string(proto::to_string(f->type)) + " op " + std::to_string(f->op));
    }
    return f;
  }
}

template <class Resp, class Req, class Decode>
ClientResult<Resp> AgentClient::typed_call(const Req& req, Decode decode, Duration timeout) {
  auto f = call(proto::op_of(req), proto::encode_payload(req), timeout);
  if (!f) return f.error();
  auto r = decode(f->payload);
  if (!r) return make_error(ClientError::Kind::malformed_reply, r.error().message());
  return std::move(*r);
}

ClientResult<proto::PingResponse> AgentClient::wait_ready(Duration timeout, Duration per_try) {
  const auto until = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<Duration>(until - Clock::now());
    auto r = ping({}, std::min(per_try, std::max(left, Duration(1))));
    if (r || r.error().kind != ClientError::Kind::timeout || Clock::now() >= until) return r;
  }
}

ClientResult<proto::PingResponse> AgentClient::ping(proto::Bytes data, Duration timeout) {
  return typed_call<proto::PingResponse>(proto::PingRequest{std::move(data)}, proto::decode_ping_response,
                                         timeout);
}

ClientResult<proto::ExecResponse> AgentClient::exec(const proto::ExecRequest& req, Duration timeout) {
  if (timeout == Duration::zero()) {
    const std::uint32_t t = req.timeout_ms == 0 ? proto::kAgentDefaultExecTimeoutMs : req.timeout_ms;
    timeout = Duration(t) + Duration(5000);
  }
  return typed_call<proto::ExecResponse>(req, proto::decode_exec_response, timeout);
}

ClientResult<proto::ReadFileResponse> AgentClient::read_file(const std::string& path, std::uint64_t offset,
                                                             std::uint32_t max_length, Duration timeout) {
  return typed_call<proto::ReadFileResponse>(proto::ReadFileRequest{path, offset, max_length},
                                             proto::decode_read_file_response, timeout);
}

ClientResult<proto::WriteFileResponse> AgentClient::write_file(const std::string& path, proto::ByteSpan data,
                                                               std::uint32_t mode, std::uint32_t flags,
                                                               Duration timeout) {
  proto::WriteFileRequest req{path, mode, flags, proto::Bytes(data.begin(), data.end())};
  return typed_call<proto::WriteFileResponse>(req, proto::decode_write_file_response, timeout);
}

ClientResult<proto::StatResponse> AgentClient::stat(const std::string& path, bool follow_symlinks,
                                                    Duration timeout) {
  proto::StatRequest req{path, follow_symlinks ? 0u : proto::kStatNoFollow};
  return typed_call<proto::StatResponse>(req, proto::decode_stat_response, timeout);
}

}  // namespace vmbh::agent
