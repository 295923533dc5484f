// The agent's request loop: bytes in, frames through the assembler, one
// request at a time, one answer per frame or bad region.
#pragma once

#include <cstdint>
#include <string>

#include "vmbh/protocols/agent.h"

namespace vmbh::agent {

inline constexpr const char* kAgentVersionString = "vmbh-agent 0.1.0 protocol 1";

struct ServeOptions {
  int in_fd = 0;
  int out_fd = 1;
  // A serial device: end of file means "host side not connected", so wait and
  // keep serving instead of returning.
  bool device = false;
  // A partial frame with no new byte for this long is answered as malformed.
  int idle_ms = 2000;
  bool verbose = false;
};

class Server {
 public:
  // The answer (a whole frame) to one assembler event.
  proto::Bytes answer(const proto::AssemblerEvent& ev);
  proto::Bytes handle(const proto::Frame& f);
  // Serves until end of input (not in device mode). Returns 0 at end of input, 1 on an I/O error.
  int serve(const ServeOptions& o);

  std::uint64_t requests() const { return requests_; }
  std::uint64_t bad_frames() const { return bad_frames_; }

 private:
  std::uint64_t requests_ = 0;
  std::uint64_t bad_frames_ = 0;
};

// Writes all of data to fd (waiting on POLLOUT for non-blocking fds); false on error.
bool write_all(int fd, proto::ByteSpan data);

}  // namespace vmbh::agent
