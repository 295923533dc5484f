// Host-side client of the guest agent (docs/agent-protocol.md): connects to the
// unix socket QEMU exposes for the agent's chardev, or uses a given fd.
//
//   auto c = AgentClient::connect_unix("/run/vm/agent.sock", std::chrono::seconds(5));
//   if (!c) die(c.error().describe());
//   auto r = c->exec({.argv = {"uname", "-r"}});
//
// Every call has a timeout. Answers to other request ids (late answers to calls
// that timed out) and unsolicited error frames (the agent rejecting garbage) are
// skipped while waiting.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

#include "vmbh/protocols/agent.h"

namespace vmbh::agent {

struct ClientError {
  enum class Kind {
    io,               // connect/read/write failed
    closed,           // the channel reached end of file
    timeout,          // no answer in time
    malformed_reply,  // the answer does not decode, or is for another op
    agent,            // the agent answered with an error frame (see code, sys_errno)
  };
  Kind kind = Kind::io;
  std::string message;
  proto::AgentErrc code = proto::AgentErrc::internal;  // kind == agent
  std::int32_t sys_errno = 0;                          // kind == agent, code == os_error
  std::string describe() const;                        // "agent error os_error (errno 2): open /x: ..."
};

template <class T>
class [[nodiscard]] ClientResult {
 public:
  ClientResult(T value) : v_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  ClientResult(ClientError error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const ClientError& error() const { return std::get<1>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, ClientError> v_;
};

class AgentClient {
 public:
  using Duration = std::chrono::milliseconds;
  static constexpr Duration kDefaultTimeout{10'000};

  // Retries the connection until `timeout` (QEMU creates the socket at start-up).
  static ClientResult<AgentClient> connect_unix(const std::string& path, Duration timeout = kDefaultTimeout);
  // Takes ownership of a connected stream fd (socket, pty, pipe pair with in == out not required).
  static AgentClient from_fd(int fd) { return AgentClient(fd, fd); }
  static AgentClient from_fds(int in_fd, int out_fd) { return AgentClient(in_fd, out_fd); }

  AgentClient(AgentClient&& o) noexcept;
  AgentClient& operator=(AgentClient&& o) noexcept;
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;
  ~AgentClient();

  // Pings every `per_try` until an answer or `timeout`: bytes sent before the
  // agent opened its port are lost, so a booting guest needs retries.
  ClientResult<proto::PingResponse> wait_ready(Duration timeout, Duration per_try = Duration(250));
  ClientResult<proto::PingResponse> ping(proto::Bytes data = {}, Duration timeout = kDefaultTimeout);
  // The timeout defaults to the request's own timeout (or the agent default) plus 5 s.
  ClientResult<proto::ExecResponse> exec(const proto::ExecRequest& req, Duration timeout = Duration::zero());
  ClientResult<proto::ReadFileResponse> read_file(const std::string& path, std::uint64_t offset = 0,
                                                  std::uint32_t max_length = 0,
                                                  Duration timeout = kDefaultTimeout);
  ClientResult<proto::WriteFileResponse> write_file(const std::string& path, proto::ByteSpan data,
                                                    std::uint32_t mode = 0, std::uint32_t flags = 0,
                                                    Duration timeout = kDefaultTimeout);
  ClientResult<proto::StatResponse> stat(const std::string& path, bool follow_symlinks = true,
                                         Duration timeout = kDefaultTimeout);

  // Low level: sends a request frame and waits for the answer with its id (the
  // payload of a response frame; an error frame becomes ClientError::agent).
  ClientResult<proto::Frame> call(proto::AgentOp op, proto::ByteSpan payload, Duration timeout);
  // Sends raw bytes (tests: garbage, corrupted frames).
  ClientResult<bool> send_raw(proto::ByteSpan bytes);
  // The next frame from the agent, whatever its id (tests).
  ClientResult<proto::Frame> read_frame(Duration timeout);
  std::uint32_t next_request_id() const { return next_id_; }

 private:
  AgentClient(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {}
  template <class Resp, class Req, class Decode>
  ClientResult<Resp> typed_call(const Req& req, Decode decode, Duration timeout);

  int in_fd_ = -1;
  int out_fd_ = -1;
  std::uint32_t next_id_ = 1;
  proto::FrameAssembler assembler_;
};

}  // namespace vmbh::agent
