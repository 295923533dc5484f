// Guest agent protocol: the framed request/response protocol between the host
// (conformance suite, vmbh CLI) and harness/agent/vmbh-agent on a serial port
// inside the guest. Full description in docs/agent-protocol.md.
//
// Frame (all integers little-endian):
//    0  magic u32       "VMBA" on the wire (0x41424D56)
//    4  version u8      1
//    5  type u8         1 request, 2 response, 3 error
//    6  op u16          AgentOp (an error frame carries the op of the request)
//    8  request_id u32  chosen by the client, echoed in the answer
//   12  length u32      payload bytes that follow the header (<= kAgentMaxPayload)
//   16  crc32 u32       CRC-32 (IEEE, as zlib) of header bytes 0..15 then the payload
//   20  payload
//
// Payload fields: u8/u32/u64 integers, and `str`/`blob` = u32 length + bytes,
// `list` = u32 count + that many `str`. Every payload must be consumed exactly.
//
// FrameAssembler turns a byte stream (serial reads of any size) into frames. A
// bad region (no magic, bad header, bad CRC, or a partial frame the caller gives
// up on) becomes ONE error event, after which the assembler resynchronises on the
// next magic, so a good frame after garbage is still delivered.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

// ---- Constants ---------------------------------------------------------------

inline constexpr std::uint32_t kAgentMagic = 0x41424D56;  // bytes 'V' 'M' 'B' 'A'
inline constexpr std::uint8_t kAgentVersion = 1;
inline constexpr std::size_t kAgentHeaderSize = 20;
inline constexpr std::size_t kAgentCrcOffset = 16;
inline constexpr std::uint32_t kAgentMaxPayload = 16u << 20;  // 16 MiB

// Limits the agent applies (requests may ask for less; 0 means the default).
inline constexpr std::uint32_t kAgentMaxFileData = 8u << 20;        // read_file / write_file
inline constexpr std::uint32_t kAgentMaxExecOutput = 4u << 20;      // per stream
inline constexpr std::uint32_t kAgentDefaultExecOutput = 1u << 20;  // per stream
inline constexpr std::uint32_t kAgentDefaultExecTimeoutMs = 30'000;
inline constexpr std::uint32_t kAgentMaxExecTimeoutMs = 3'600'000;

enum class FrameType : std::uint8_t { request = 1, response = 2, error = 3 };

enum class AgentOp : std::uint16_t {
  ping = 1,
  exec = 2,
  read_file = 3,
  write_file = 4,
  stat = 5,
};

// ErrorReply::code.
enum class AgentErrc : std::uint32_t {
  bad_frame = 1,    // the frame layer failed (magic, version, length, CRC, garbage)
  bad_request = 2,  // the payload does not decode; the message names the field
  unknown_op = 3,   // an op the agent does not implement
  os_error = 4,     // a system call failed; sys_errno says which error
  too_large = 5,    // the answer would exceed kAgentMaxPayload
  internal = 6,     // an agent bug
};

// ExecRequest::flags
inline constexpr std::uint32_t kExecClearEnv = 1u << 0;  // env replaces the agent's environment
inline constexpr std::uint32_t kExecRequestFlagsMask = kExecClearEnv;
// ExecResponse::flags
inline constexpr std::uint32_t kExecTimedOut = 1u << 0;          // killed (SIGKILL to its process group)
inline constexpr std::uint32_t kExecStdoutTruncated = 1u << 1;   // more output than max_stdout
inline constexpr std::uint32_t kExecStderrTruncated = 1u << 2;   // more output than max_stderr
inline constexpr std::uint32_t kExecStdinNotConsumed = 1u << 3;  // the child did not read all of stdin
inline constexpr std::uint32_t kExecResponseFlagsMask = 0xF;
// ReadFileResponse::flags
inline constexpr std::uint32_t kReadTruncated = 1u << 0;  // data stops at max_length; more follows
// WriteFileRequest::flags
inline constexpr std::uint32_t kWriteAppend = 1u << 0;
inline constexpr std::uint32_t kWriteExclusive = 1u << 1;  // fail if the file exists
inline constexpr std::uint32_t kWriteFsync = 1u << 2;
inline constexpr std::uint32_t kWriteFlagsMask = 0x7;
// StatRequest::flags
inline constexpr std::uint32_t kStatNoFollow = 1u << 0;  // lstat; link_target is filled

bool is_known(FrameType t);
bool is_known(AgentOp op);
std::string_view to_string(FrameType t);  // "request"; "UNKNOWN"
std::string_view to_string(AgentOp op);   // "exec"; "UNKNOWN"
std::string_view to_string(AgentErrc c);  // "os_error"; "UNKNOWN"

// CRC-32 (reflected, polynomial 0xEDB88320, init and final xor 0xFFFFFFFF).
std::uint32_t crc32(ByteSpan data, std::uint32_t crc = 0);

// ---- Frames --------------------------------------------------------------------

struct FrameHeader {
  FrameType type = FrameType::request;
  std::uint16_t op = 0;  // raw: the frame layer carries ops it does not know
  std::uint32_t request_id = 0;
  std::uint32_t length = 0;
  std::uint32_t crc = 0;
  bool operator==(const FrameHeader&) const = default;
};

struct Frame {
  FrameType type = FrameType::request;
  std::uint16_t op = 0;
  std::uint32_t request_id = 0;
  Bytes payload;
  bool operator==(const Frame&) const = default;
};

// Decodes and validates the 20 header bytes (magic, version, type, length
// bound); the CRC is checked by decode_frame / the assembler.
Result<FrameHeader> decode_frame_header(ByteSpan header);
// Exactly one frame: header, payload of `length` bytes, matching CRC.
Result<Frame> decode_frame(ByteSpan data);

void encode_frame(FrameType type, std::uint16_t op, std::uint32_t request_id, ByteSpan payload, Bytes& out);
Bytes encode_frame(FrameType type, std::uint16_t op, std::uint32_t request_id, ByteSpan payload);
Bytes encode_frame(const Frame& f);

// ---- The stream assembler --------------------------------------------------------

struct AssemblerEvent {
  std::optional<Frame> frame;  // set for a good frame
  // Set for a bad region: the first problem found in it.
  std::optional<Error> error;
  std::size_t discarded = 0;  // bytes of the bad region dropped
  // The header of the bad frame when its first 20 bytes were readable (so the
  // answer can carry its request id).
  std::optional<FrameHeader> header;
  bool ok() const { return frame.has_value(); }
};

class FrameAssembler {
 public:
  explicit FrameAssembler(std::uint32_t max_payload = kAgentMaxPayload) : max_payload_(max_payload) {}

  void feed(ByteSpan chunk);
  // The next frame or bad region, or nothing until more bytes arrive.
  std::optional<AssemblerEvent> next();
  // Bytes held that do not form a complete frame yet (after next() returned nothing).
  std::size_t buffered() const { return buf_.size() - pos_; }
  // Gives up on the buffered partial frame (the caller saw no bytes for a while):
  // reports it as a bad region and resynchronises. Nothing if nothing is buffered.
  std::optional<AssemblerEvent> abandon_partial();

 private:
  bool at_magic(std::size_t at) const;
  // Drops the bad frame start at pos_ and everything up to the next magic (or
  // all but a magic prefix at the end of the buffer); returns the event.
  AssemblerEvent resync(Error error, std::optional<FrameHeader> header);
  void compact();

  Bytes buf_;
  std::size_t pos_ = 0;
  std::uint32_t max_payload_;
};

// ---- Payloads ----------------------------------------------------------------------

struct PingRequest {
  Bytes data;  // echoed back
  bool operator==(const PingRequest&) const = default;
};
struct PingResponse {
  std::string agent;  // "vmbh-agent 0.1.0 protocol 1"
  Bytes data;
  bool operator==(const PingResponse&) const = default;
};

struct ExecRequest {
  std::vector<std::string> argv{};  // argv[0] is the program; searched in PATH without a '/'
  std::vector<std::string> env{};   // "NAME=value", added to (or with kExecClearEnv, replacing) the agent's
  std::string cwd{};                // empty: the agent's working directory
  Bytes stdin_data{};               // written to the child's stdin, which is then closed
  std::uint32_t timeout_ms = 0;     // 0: kAgentDefaultExecTimeoutMs
  std::uint32_t max_stdout = 0;     // 0: kAgentDefaultExecOutput; capped at kAgentMaxExecOutput
  std::uint32_t max_stderr = 0;
  std::uint32_t flags = 0;
  bool operator==(const ExecRequest&) const = default;
};

enum class ExecTermination : std::uint8_t { exited = 0, signaled = 1 };

struct ExecResponse {
  ExecTermination termination = ExecTermination::exited;
  std::int32_t code = 0;  // exit status, or the signal number
  std::uint32_t flags = 0;
  std::uint32_t duration_ms = 0;
  Bytes stdout_data;
  Bytes stderr_data;
  bool timed_out() const { return (flags & kExecTimedOut) != 0; }
  bool stdout_truncated() const { return (flags & kExecStdoutTruncated) != 0; }
  bool stderr_truncated() const { return (flags & kExecStderrTruncated) != 0; }
  bool operator==(const ExecResponse&) const = default;
};

struct ReadFileRequest {
  std::string path;
  std::uint64_t offset = 0;
  std::uint32_t max_length = 0;  // 0: kAgentMaxFileData
  bool operator==(const ReadFileRequest&) const = default;
};
struct ReadFileResponse {
  std::uint64_t file_size = 0;  // st_size at open (0 for most /proc and /sys files)
  std::uint32_t flags = 0;
  Bytes data;
  bool truncated() const { return (flags & kReadTruncated) != 0; }
  bool operator==(const ReadFileResponse&) const = default;
};

struct WriteFileRequest {
  std::string path;
  std::uint32_t mode = 0;  // permission bits set after writing; 0: leave (0644 when created)
  std::uint32_t flags = 0;
  Bytes data;
  bool operator==(const WriteFileRequest&) const = default;
};
struct WriteFileResponse {
  std::uint64_t written = 0;
  bool operator==(const WriteFileResponse&) const = default;
};

struct StatRequest {
  std::string path;
  std::uint32_t flags = 0;
  bool operator==(const StatRequest&) const = default;
};
struct StatResponse {
  std::uint32_t mode = 0;  // st_mode: file type and permission bits
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint32_t nlink = 0;
  std::uint64_t size = 0;
  std::uint64_t inode = 0;
  std::int64_t mtime_ns = 0;  // nanoseconds since the epoch
  std::string link_target;    // for a symlink with kStatNoFollow
  bool operator==(const StatResponse&) const = default;
};

struct ErrorReply {
  AgentErrc code = AgentErrc::internal;
  std::int32_t sys_errno = 0;  // Linux errno for os_error, else 0
  std::string message;         // "open /nope: No such file or directory", "exec.argv: bad_value at offset 4"
  bool operator==(const ErrorReply&) const = default;
};

// Encoders append the payload bytes; decoders consume the payload exactly and
// name the failing field ("exec.argv", "stat.flags").
void encode(const PingRequest& m, ByteWriter& w);
void encode(const PingResponse& m, ByteWriter& w);
void encode(const ExecRequest& m, ByteWriter& w);
void encode(const ExecResponse& m, ByteWriter& w);
void encode(const ReadFileRequest& m, ByteWriter& w);
void encode(const ReadFileResponse& m, ByteWriter& w);
void encode(const WriteFileRequest& m, ByteWriter& w);
void encode(const WriteFileResponse& m, ByteWriter& w);
void encode(const StatRequest& m, ByteWriter& w);
void encode(const StatResponse& m, ByteWriter& w);
void encode(const ErrorReply& m, ByteWriter& w);

template <class T>
Bytes encode_payload(const T& m) {
  Bytes out;
  ByteWriter w(out);
  encode(m, w);
  return out;
}

Result<PingRequest> decode_ping_request(ByteSpan payload);
Result<PingResponse> decode_ping_response(ByteSpan payload);
Result<ExecRequest> decode_exec_request(ByteSpan payload);
Result<ExecResponse> decode_exec_response(ByteSpan payload);
Result<ReadFileRequest> decode_read_file_request(ByteSpan payload);
Result<ReadFileResponse> decode_read_file_response(ByteSpan payload);
Result<WriteFileRequest> decode_write_file_request(ByteSpan payload);
Result<WriteFileResponse> decode_write_file_response(ByteSpan payload);
Result<StatRequest> decode_stat_request(ByteSpan payload);
Result<StatResponse> decode_stat_response(ByteSpan payload);
Result<ErrorReply> decode_error_reply(ByteSpan payload);

// The op each request/response type travels with.
constexpr AgentOp op_of(const PingRequest&) { return AgentOp::ping; }
constexpr AgentOp op_of(const ExecRequest&) { return AgentOp::exec; }
constexpr AgentOp op_of(const ReadFileRequest&) { return AgentOp::read_file; }
constexpr AgentOp op_of(const WriteFileRequest&) { return AgentOp::write_file; }
constexpr AgentOp op_of(const StatRequest&) { return AgentOp::stat; }

// A whole request frame for a typed request.
template <class T>
Bytes encode_request(std::uint32_t request_id, const T& m) {
  return encode_frame(FrameType::request, static_cast<std::uint16_t>(op_of(m)), request_id,
                      encode_payload(m));
}

}  // namespace vmbh::proto
