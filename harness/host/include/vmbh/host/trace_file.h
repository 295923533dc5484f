// Trace files (docs/trace-format.md): "VMBHTRC1", then length-delimited
// protobuf messages (protocols/proto/trace.proto): one TraceHeader, then
// TraceRecords. Every record is flushed as it is written, so a trace survives
// the host being killed mid-run.
#pragma once

#include <memory>
#include <string>

#include "vmbh/host/status.h"
#include "vmbh/pb/trace.pb.h"

namespace google::protobuf::io {
class FileInputStream;
class FileOutputStream;
}  // namespace google::protobuf::io

namespace vmbh::host {

inline constexpr char kTraceMagic[] = "VMBHTRC1";  // 8 bytes, no terminator on disk
inline constexpr std::uint32_t kTraceFormatVersion = 1;

class TraceWriter {
 public:
  // Creates (truncates) `path` and writes the magic and `header`.
  static Result<std::unique_ptr<TraceWriter>> create(const std::string& path, trace::TraceHeader header);
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  Status append(const trace::TraceRecord& record);
  std::uint64_t records() const { return records_; }
  const std::string& path() const { return path_; }

 private:
  TraceWriter(int fd, std::string path);
  int fd_;
  std::string path_;
  std::unique_ptr<google::protobuf::io::FileOutputStream> out_;
  std::uint64_t records_ = 0;
};

class TraceReader {
 public:
  // Opens `path` and reads the magic and the header.
  static Result<std::unique_ptr<TraceReader>> open(const std::string& path);
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  const trace::TraceHeader& header() const { return header_; }
  // The next record into `record`: true, or false at a clean end of file.
  // A record cut short (a host killed mid-write) or corrupt is an error
  // naming its index.
  Result<bool> next(trace::TraceRecord& record);

 private:
  TraceReader(int fd, std::string path);
  int fd_;
  std::string path_;
  std::unique_ptr<google::protobuf::io::FileInputStream> in_;
  trace::TraceHeader header_;
  std::uint64_t index_ = 0;
};

}  // namespace vmbh::host
