// read_file, write_file, stat.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "ops.h"

namespace vmbh::agent {

namespace {

class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// read() or pread(); EAGAIN (a FIFO or device with nothing ready) counts as end of data.
ssize_t read_at(int fd, std::byte* buf, std::size_t n, std::uint64_t offset, bool positional) {
  for (;;) {
    const ssize_t r = positional ? ::pread(fd, buf, n, static_cast<off_t>(offset)) : ::read(fd, buf, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return 0;
    return r;
  }
}

}  // namespace

Reply<proto::ReadFileResponse> read_file(const proto::ReadFileRequest& req) {
  // O_NONBLOCK: a FIFO without writer must not hang the agent.
  ScopedFd fd(::open(req.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (fd.get() < 0) return os_error(errno, "open " + req.path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return os_error(errno, "fstat " + req.path);
  if (S_ISDIR(st.st_mode)) return os_error(EISDIR, "read " + req.path);
  const std::uint32_t limit =
      std::min(req.max_length == 0 ? proto::kAgentMaxFileData : req.max_length, proto::kAgentMaxFileData);
  // Regular files are read with pread at the offset; others (proc, devices) sequentially after skipping.
  const bool positional = S_ISREG(st.st_mode) && req.offset > 0;
  std::uint64_t pos = req.offset;
  if (!positional && req.offset > 0 && ::lseek(fd.get(), static_cast<off_t>(req.offset), SEEK_SET) < 0) {
    return os_error(errno, "seek " + req.path);
  }

  proto::ReadFileResponse resp;
  resp.file_size = static_cast<std::uint64_t>(st.st_size);
  // Read one byte more than asked for, to tell "exactly at the end" from "truncated".
  const std::size_t want = static_cast<std::size_t>(limit) + 1;
  std::size_t have = 0;
  resp.data.resize(
      std::min<std::size_t>(want, S_ISREG(st.st_mode) ? static_cast<std::size_t>(st.st_size) + 1 : 65536));
  for (;;) {
    if (have == resp.data.size()) {
      if (have >= want) break;
      resp.data.resize(std::min(want, have * 2 + 4096));
    }
    const ssize_t r = read_at(fd.get(), resp.data.data() + have, resp.data.size() - have, pos, positional);
    if (r < 0) return os_error(errno, "read " + req.path);
    if (r == 0) break;
    have += static_cast<std::size_t>(r);
    pos += static_cast<std::uint64_t>(r);
  }
  if (have > limit) {
    have = limit;
    resp.flags |= proto::kReadTruncated;
  }
  resp.data.resize(have);
  return resp;
}

Reply<proto::WriteFileResponse> write_file(const proto::WriteFileRequest& req) {
  if (req.data.size() > proto::kAgentMaxFileData) {
    return proto::ErrorReply{proto::AgentErrc::too_large, 0, "write_file.data: more than the agent accepts"};
  }
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY;
  flags |= (req.flags & proto::kWriteAppend) != 0 ? O_APPEND : O_TRUNC;
  if ((req.flags & proto::kWriteExclusive) != 0) flags |= O_EXCL;
  ScopedFd fd(::open(req.path.c_str(), flags, 0644));
  if (fd.get() < 0) return os_error(errno, "open " + req.path);
  std::size_t done = 0;
  while (done < req.data.size()) {
    const ssize_t w = ::write(fd.get(), req.data.data() + done, req.data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return os_error(errno, "write " + req.path);
    done += static_cast<std::size_t>(w);
  }
  if (req.mode != 0 && ::fchmod(fd.get(), static_cast<mode_t>(req.mode)) != 0) {
    return os_error(errno, "chmod " + req.path);
  }
  if ((req.flags & proto::kWriteFsync) != 0 && ::fsync(fd.get()) != 0)
    return os_error(errno, "fsync " + req.path);
  return proto::WriteFileResponse{done};
}

Reply<proto::StatResponse> stat_path(const proto::StatRequest& req) {
  const bool no_follow = (req.flags & proto::kStatNoFollow) != 0;
  struct stat st {};
  const int r = no_follow ? ::lstat(req.path.c_str(), &st) : ::stat(req.path.c_str(), &st);
  if (r != 0) return os_error(errno, (no_follow ? "lstat " : "stat ") + req.path);
  proto::StatResponse resp;
  resp.mode = st.st_mode;
  resp.uid = st.st_uid;
  resp.gid = st.st_gid;
  resp.nlink = static_cast<std::uint32_t>(st.st_nlink);
  resp.size = static_cast<std::uint64_t>(st.st_size);
  resp.inode = st.st_ino;
  resp.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (S_ISLNK(st.st_mode)) {
    std::string target(4096, '\0');
    const ssize_t n = ::readlink(req.path.c_str(), target.data(), target.size());
    if (n < 0) return os_error(errno, "readlink " + req.path);
    target.resize(static_cast<std::size_t>(n));
    resp.link_target = std::move(target);
  }
  return resp;
}

}  // namespace vmbh::agent
