#include "vmbh/host/trace_file.h"

#include <fcntl.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vmbh::host {
namespace {

constexpr std::size_t kMagicSize = sizeof kTraceMagic - 1;

std::string errno_text() { return std::strerror(errno); }

}  // namespace

TraceWriter::TraceWriter(int fd, std::string path)
    : fd_(fd), path_(std::move(path)), out_(std::make_unique<google::protobuf::io::FileOutputStream>(fd)) {}

TraceWriter::~TraceWriter() {
  out_->Flush();
  out_.reset();
  close(fd_);
}

Result<std::unique_ptr<TraceWriter>> TraceWriter::create(const std::string& path, trace::TraceHeader header) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::fail("trace " + path + ": " + errno_text());
  std::unique_ptr<TraceWriter> w(new TraceWriter(fd, path));
  if (::write(fd, kTraceMagic, kMagicSize) != static_cast<ssize_t>(kMagicSize)) {
    return Status::fail("trace " + path + ": writing the magic: " + errno_text());
  }
  header.set_format_version(kTraceFormatVersion);
  if (!google::protobuf::util::SerializeDelimitedToZeroCopyStream(header, w->out_.get()) ||
      !w->out_->Flush()) {
    return Status::fail("trace " + path + ": writing the header failed");
  }
  return w;
}

Status TraceWriter::append(const trace::TraceRecord& record) {
  if (!google::protobuf::util::SerializeDelimitedToZeroCopyStream(record, out_.get()) || !out_->Flush()) {
    return Status::fail("trace " + path_ + ": writing record " + std::to_string(records_) + ": " +
                        std::strerror(out_->GetErrno()));
  }
  ++records_;
  return {};
}

TraceReader::TraceReader(int fd, std::string path)
    : fd_(fd), path_(std::move(path)), in_(std::make_unique<google::protobuf::io::FileInputStream>(fd)) {}

TraceReader::~TraceReader() {
  in_.reset();
  close(fd_);
}

Result<std::unique_ptr<TraceReader>> TraceReader::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::fail("trace " + path + ": " + errno_text());
  std::unique_ptr<TraceReader> r(new TraceReader(fd, path));
  char magic[kMagicSize];
  if (::read(fd, magic, kMagicSize) != static_cast<ssize_t>(kMagicSize) ||
      std::memcmp(magic, kTraceMagic, kMagicSize) != 0) {
    return Status::fail("trace " + path + ": not a vmbh trace (no VMBHTRC1 magic)");
  }
  bool clean_eof = false;
  if (!google::protobuf::util::ParseDelimitedFromZeroCopyStream(&r->header_, r->in_.get(), &clean_eof)) {
    return Status::fail("trace " + path + ": the header is missing or corrupt");
  }
  if (r->header_.format_version() != kTraceFormatVersion) {
    return Status::fail("trace " + path + ": format version " + std::to_string(r->header_.format_version()) +
                        ", this vmbh reads " + std::to_string(kTraceFormatVersion));
  }
  return r;
}

Result<bool> TraceReader::next(trace::TraceRecord& record) {
  bool clean_eof = false;
  if (!google::protobuf::util::ParseDelimitedFromZeroCopyStream(&record, in_.get(), &clean_eof)) {
    if (clean_eof) return false;
    return Status::fail("trace " + path_ + ": record " + std::to_string(index_) + " is truncated or corrupt");
  }
  ++index_;
  return true;
}

}  // namespace vmbh::host
