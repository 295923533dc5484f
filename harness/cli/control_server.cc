#include "control_server.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vmbh::cli {

ControlServer::~ControlServer() {
  for (auto& [fd, c] : clients_) close(fd);
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(path_.c_str());
  }
}

host::Status ControlServer::listen(const std::string& path, Handler handler) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    return host::Status::fail("control socket path too long (" + std::to_string(path.size()) +
                              " bytes): " + path);
  }
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) return host::Status::fail(std::string("socket: ") + std::strerror(errno));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  unlink(path.c_str());
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 8) != 0) {
    return host::Status::fail("control socket " + path + ": " + std::strerror(errno));
  }
  path_ = path;
  handler_ = std::move(handler);
  return {};
}

std::vector<int> ControlServer::poll_fds() const {
  std::vector<int> fds{listen_fd_};
  for (const auto& [fd, c] : clients_) fds.push_back(fd);
  return fds;
}

void ControlServer::on_readable(int fd) {
  if (fd == listen_fd_) {
    accept_clients();
  } else if (clients_.count(fd) != 0) {
    read_client(fd);
  }
}

void ControlServer::accept_clients() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    clients_[fd] = Client{};
    generation_[fd] = next_generation_++;
  }
}

void ControlServer::read_client(int fd) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      clients_[fd].in.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    drop(fd);  // EOF or error
    return;
  }
  // Whole frames only; a handler may answer at once and touch clients_.
  for (;;) {
    auto it = clients_.find(fd);
    if (it == clients_.end()) return;
    std::string& in = it->second.in;
    if (in.size() < 4) return;
    std::uint32_t len = 0;
    for (int i = 0; i < 4; ++i) len |= std::uint32_t(static_cast<unsigned char>(in[i])) << (8 * i);
    if (len > kControlMaxFrame) {
      send(fd, generation_[fd],
           control_error("control: frame of " + std::to_string(len) +
                         " bytes exceeds the 16 MiB limit; closing"));
      on_writable(fd);
      drop(fd);
      return;
    }
    if (in.size() < 4 + std::size_t{len}) return;
    control::Request req;
    bool parsed = req.ParseFromArray(in.data() + 4, static_cast<int>(len));
    in.erase(0, 4 + std::size_t{len});
    std::uint64_t gen = generation_[fd];
    if (!parsed) {
      send(fd, gen, control_error("control: request is not a vmbh.control.Request"));
      continue;
    }
    std::uint64_t id = req.id();
    handler_(req, [this, fd, gen, id](control::Response r) {
      r.set_id(id);
      send(fd, gen, r);
    });
  }
}

void ControlServer::send(int fd, std::uint64_t generation, const control::Response& r) {
  auto g = generation_.find(fd);
  if (g == generation_.end() || g->second != generation) return;  // that client left
  std::string body = r.SerializeAsString();
  std::string frame(4, '\0');
  for (int i = 0; i < 4; ++i) frame[i] = static_cast<char>((body.size() >> (8 * i)) & 0xff);
  clients_[fd].out += frame + body;
  on_writable(fd);
}

bool ControlServer::wants_write(int fd) const {
  auto it = clients_.find(fd);
  return it != clients_.end() && !it->second.out.empty();
}

void ControlServer::on_writable(int fd) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  std::string& out = it->second.out;
  while (!out.empty()) {
    ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    drop(fd);
    return;
  }
}

void ControlServer::drop(int fd) {
  close(fd);
  clients_.erase(fd);
  generation_.erase(fd);
}

}  // namespace vmbh::cli
