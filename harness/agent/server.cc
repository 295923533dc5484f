#include "server.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <variant>

#include "ops.h"

namespace vmbh::agent {

namespace {

using proto::AgentErrc;
using proto::AgentOp;
using proto::Bytes;
using proto::ErrorReply;
using proto::Frame;
using proto::FrameType;

Bytes error_frame(std::uint16_t op, std::uint32_t id, const ErrorReply& e) {
  return proto::encode_frame(FrameType::error, op, id, proto::encode_payload(e));
}

template <class T>
Bytes reply_frame(const Frame& req, const Reply<T>& r) {
  if (const auto* e = std::get_if<ErrorReply>(&r)) return error_frame(req.op, req.request_id, *e);
  Bytes payload = proto::encode_payload(std::get<T>(r));
  if (payload.size() > proto::kAgentMaxPayload) {
    return error_frame(req.op, req.request_id,
                       ErrorReply{AgentErrc::too_large, 0, "the answer exceeds the maximum payload"});
  }
  return proto::encode_frame(FrameType::response, req.op, req.request_id, payload);
}

// Decodes the payload with `decode`, runs `op` on it, frames the result.
template <class DecodeFn, class OpFn>
Bytes dispatch(const Frame& f, DecodeFn decode, OpFn op) {
  auto req = decode(f.payload);
  if (!req.ok())
    return error_frame(f.op, f.request_id, ErrorReply{AgentErrc::bad_request, 0, req.error().message()});
  return reply_frame(f, op(*req));
}

}  // namespace

bool write_all(int fd, proto::ByteSpan data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w > 0) {
      done += static_cast<std::size_t>(w);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
    } else {
      return false;
    }
  }
  return true;
}

Bytes Server::handle(const Frame& f) {
  ++requests_;
  if (f.type != FrameType::request) {
    return error_frame(f.op, f.request_id,
                       ErrorReply{AgentErrc::bad_request, 0, "frame.type: the agent accepts requests only"});
  }
  switch (static_cast<AgentOp>(f.op)) {
    case AgentOp::ping:
      return dispatch(f, proto::decode_ping_request, [](const proto::PingRequest& r) {
        return Reply<proto::PingResponse>(proto::PingResponse{kAgentVersionString, r.data});
      });
    case AgentOp::exec:
      return dispatch(f, proto::decode_exec_request, run_exec);
    case AgentOp::read_file:
      return dispatch(f, proto::decode_read_file_request, read_file);
    case AgentOp::write_file:
      return dispatch(f, proto::decode_write_file_request, write_file);
    case AgentOp::stat:
      return dispatch(f, proto::decode_stat_request, stat_path);
  }
  return error_frame(f.op, f.request_id,
                     ErrorReply{AgentErrc::unknown_op, 0, "frame.op: unknown op " + std::to_string(f.op)});
}

Bytes Server::answer(const proto::AssemblerEvent& ev) {
  if (ev.frame) return handle(*ev.frame);
  ++bad_frames_;
  std::string msg = ev.error ? ev.error->message() : std::string("bad frame");
  msg += "; " + std::to_string(ev.discarded) + " bytes discarded";
  const std::uint16_t op = ev.header ? ev.header->op : 0;
  const std::uint32_t id = ev.header ? ev.header->request_id : 0;
  return error_frame(op, id, ErrorReply{AgentErrc::bad_frame, 0, msg});
}

int Server::serve(const ServeOptions& o) {
  proto::FrameAssembler assembler;
  std::byte buf[65536];
  for (;;) {
    pollfd p{o.in_fd, POLLIN, 0};
    const int timeout = assembler.buffered() > 0 ? o.idle_ms : -1;
    const int pr = ::poll(&p, 1, timeout);
    if (pr < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "vmbh-agent: poll: %s\n", std::strerror(errno));
      return 1;
    }
    if (pr == 0) {
      if (auto ev = assembler.abandon_partial()) {
        if (o.verbose) std::fprintf(stderr, "vmbh-agent: partial frame abandoned\n");
        (void)write_all(o.out_fd, answer(*ev));
      }
      continue;
    }
    const ssize_t n = ::read(o.in_fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      if (!o.device) {
        if (n < 0) std::fprintf(stderr, "vmbh-agent: read: %s\n", std::strerror(errno));
        return n < 0 ? 1 : 0;
      }
      // virtio-serial reports EOF (and POLLHUP) while the host end is closed.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    assembler.feed(proto::ByteSpan(buf, static_cast<std::size_t>(n)));
    while (auto ev = assembler.next()) {
      if (o.verbose) {
        if (ev->frame) {
          std::fprintf(stderr, "vmbh-agent: request %u op %u\n", ev->frame->request_id, ev->frame->op);
        } else {
          std::fprintf(stderr, "vmbh-agent: bad frame: %s\n", ev->error->message().c_str());
        }
      }
      if (!write_all(o.out_fd, answer(*ev))) {
        std::fprintf(stderr, "vmbh-agent: write: %s\n", std::strerror(errno));
        if (!o.device) return 1;
      }
    }
  }
}

}  // namespace vmbh::agent
