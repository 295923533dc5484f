// The control socket of `vmbh serve`: accepts clients on a unix socket and
// turns length-prefixed frames into vmbh.control.Request messages
// (protocols/proto/control.proto). Answers may come later (a KVP GET waits
// for the guest); a reply for a client that has gone is dropped.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "vmbh/host/status.h"
#include "vmbh/pb/control.pb.h"

namespace vmbh::cli {

inline constexpr std::uint32_t kControlMaxFrame = 16u << 20;

// A Response carrying only an error sentence.
inline control::Response control_error(std::string message) {
  control::Response r;
  r.set_error(std::move(message));
  return r;
}

class ControlServer {
 public:
  using Reply = std::function<void(control::Response)>;
  using Handler = std::function<void(const control::Request&, Reply)>;

  ControlServer() = default;
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  ~ControlServer();

  host::Status listen(const std::string& path, Handler handler);
  // File descriptors to poll for reading: the listener and every client.
  std::vector<int> poll_fds() const;
  // Handles whatever is readable on `fd` (accept, or read and dispatch).
  void on_readable(int fd);
  // Writes what is pending to `fd`; poll for writing when wants_write().
  void on_writable(int fd);
  bool wants_write(int fd) const;
  std::size_t clients() const { return clients_.size(); }

 private:
  struct Client {
    std::string in;
    std::string out;
  };
  void accept_clients();
  void read_client(int fd);
  void drop(int fd);
  void send(int fd, std::uint64_t generation, const control::Response& r);

  int listen_fd_ = -1;
  std::string path_;
  Handler handler_;
  std::map<int, Client> clients_;
  // A reply is addressed to (fd, generation) so a reused fd never gets a
  // previous client's answer.
  std::map<int, std::uint64_t> generation_;
  std::uint64_t next_generation_ = 1;
};

}  // namespace vmbh::cli
