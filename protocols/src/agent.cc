#include "vmbh/protocols/agent.h"

#include <algorithm>
#include <array>
#include <utility>

namespace vmbh::proto {

namespace {

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = make_crc_table();

// The magic as it appears on the wire.
constexpr std::array<std::byte, 4> kMagicBytes = {std::byte{'V'}, std::byte{'M'}, std::byte{'B'},
                                                  std::byte{'A'}};

// ---- Field helpers -------------------------------------------------------------

void put_blob(ByteWriter& w, ByteSpan s) {
  w.u32(static_cast<std::uint32_t>(s.size()));
  w.bytes(s);
}
void put_str(ByteWriter& w, const std::string& s) {
  put_blob(w, ByteSpan(reinterpret_cast<const std::byte*>(s.data()), s.size()));
}
void put_list(ByteWriter& w, const std::vector<std::string>& list) {
  w.u32(static_cast<std::uint32_t>(list.size()));
  for (const auto& s : list) put_str(w, s);
}

Bytes get_blob(ByteReader& r, const char* field) {
  const std::uint32_t n = r.u32(field);
  ByteSpan s = r.bytes(n, field);
  return Bytes(s.begin(), s.end());
}
std::string get_str(ByteReader& r, const char* field) {
  const std::uint32_t n = r.u32(field);
  ByteSpan s = r.bytes(n, field);
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}
// A string that becomes a C string in the agent (path, argv): no NUL inside.
std::string get_cstr(ByteReader& r, const char* field, bool allow_empty) {
  std::string s = get_str(r, field);
  if (r.ok() && (s.find('\0') != std::string::npos || (!allow_empty && s.empty())))
    r.fail(Errc::bad_value, field);
  return s;
}
std::vector<std::string> get_cstr_list(ByteReader& r, const char* field) {
  const std::uint32_t n = r.u32(field);
  std::vector<std::string> out;
  // Every element takes at least its 4-byte length: a count beyond that is a lie.
  if (r.ok() && n > r.remaining() / 4) {
    r.fail(Errc::bad_length, field);
    return out;
  }
  out.reserve(n);
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) out.push_back(get_cstr(r, field, true));
  return out;
}

void check_flags(ByteReader& r, std::uint32_t flags, std::uint32_t mask, const char* field) {
  if (r.ok() && (flags & ~mask) != 0) r.fail(Errc::bad_value, field);
}

}  // namespace

bool is_known(FrameType t) {
  return t == FrameType::request || t == FrameType::response || t == FrameType::error;
}
bool is_known(AgentOp op) {
  const auto v = static_cast<std::uint16_t>(op);
  return v >= 1 && v <= 5;
}

std::string_view to_string(FrameType t) {
  switch (t) {
    case FrameType::request:
      return "request";
    case FrameType::response:
      return "response";
    case FrameType::error:
      return "error";
  }
  return "UNKNOWN";
}

std::string_view to_string(AgentOp op) {
  switch (op) {
    case AgentOp::ping:
      return "ping";
    case AgentOp::exec:
      return "exec";
    case AgentOp::read_file:
      return "read_file";
    case AgentOp::write_file:
      return "write_file";
    case AgentOp::stat:
      return "stat";
  }
  return "UNKNOWN";
}

std::string_view to_string(AgentErrc c) {
  switch (c) {
    case AgentErrc::bad_frame:
      return "bad_frame";
    case AgentErrc::bad_request:
      return "bad_request";
    case AgentErrc::unknown_op:
      return "unknown_op";
    case AgentErrc::os_error:
      return "os_error";
    case AgentErrc::too_large:
      return "too_large";
    case AgentErrc::internal:
      return "internal";
  }
  return "UNKNOWN";
}

std::uint32_t crc32(ByteSpan data, std::uint32_t crc) {
  crc = ~crc;
  for (std::byte b : data) crc = kCrcTable[(crc ^ std::to_integer<std::uint8_t>(b)) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

// ---- Frames ----------------------------------------------------------------------

Result<FrameHeader> decode_frame_header(ByteSpan header) {
  ByteReader r(header);
  FrameHeader h;
  const std::uint32_t magic = r.u32("frame.magic");
  if (r.ok() && magic != kAgentMagic) r.fail(Errc::bad_value, "frame.magic");
  const std::uint8_t version = r.u8("frame.version");
  if (r.ok() && version != kAgentVersion) r.fail(Errc::bad_version, "frame.version");
  h.type = static_cast<FrameType>(r.u8("frame.type"));
  if (r.ok() && !is_known(h.type)) r.fail(Errc::unknown_type, "frame.type");
  h.op = r.u16("frame.op");
  h.request_id = r.u32("frame.request_id");
  h.length = r.u32("frame.length");
  if (r.ok() && h.length > kAgentMaxPayload) r.fail(Errc::bad_length, "frame.length");
  h.crc = r.u32("frame.crc32");
  return r.finish(FrameHeader(h));
}

Result<Frame> decode_frame(ByteSpan data) {
  auto h = decode_frame_header(data.first(std::min(data.size(), kAgentHeaderSize)));
  if (!h.ok()) return h.error();
  ByteReader r(data);
  r.skip(kAgentHeaderSize, "frame.header");
  ByteSpan payload = r.bytes(h->length, "frame.payload");
  r.expect_end("frame.trailing");
  if (r.ok() && crc32(payload, crc32(data.first(kAgentCrcOffset))) != h->crc) {
    return Error{Errc::bad_value, "frame.crc32", kAgentCrcOffset};
  }
  Frame f{h->type, h->op, h->request_id, Bytes(payload.begin(), payload.end())};
  return r.finish(std::move(f));
}

void encode_frame(FrameType type, std::uint16_t op, std::uint32_t request_id, ByteSpan payload, Bytes& out) {
  const std::size_t start = out.size();
  ByteWriter w(out);
  w.u32(kAgentMagic);
  w.u8(kAgentVersion);
  w.u8(static_cast<std::uint8_t>(type));
  w.u16(op);
  w.u32(request_id);
  w.u32(static_cast<std::uint32_t>(payload.size()));
  const std::uint32_t crc = crc32(payload, crc32(ByteSpan(out).subspan(start, kAgentCrcOffset)));
  w.u32(crc);
  w.bytes(payload);
}

Bytes encode_frame(FrameType type, std::uint16_t op, std::uint32_t request_id, ByteSpan payload) {
  Bytes out;
  out.reserve(kAgentHeaderSize + payload.size());
  encode_frame(type, op, request_id, payload, out);
  return out;
}

Bytes encode_frame(const Frame& f) { return encode_frame(f.type, f.op, f.request_id, f.payload); }

// ---- FrameAssembler ----------------------------------------------------------------

void FrameAssembler::feed(ByteSpan chunk) {
  compact();
  buf_.insert(buf_.end(), chunk.begin(), chunk.end());
}

void FrameAssembler::compact() {
  if (pos_ == 0) return;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ >= 4096 && pos_ * 2 >= buf_.size()) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
}

bool FrameAssembler::at_magic(std::size_t at) const {
  return buf_.size() - at >= 4 &&
         std::equal(kMagicBytes.begin(), kMagicBytes.end(), buf_.begin() + static_cast<std::ptrdiff_t>(at));
}

AssemblerEvent FrameAssembler::resync(Error error, std::optional<FrameHeader> header) {
  const std::size_t start = pos_;
  // Skip the current byte when it starts a (bad) magic, then find the next magic.
  std::size_t at = at_magic(pos_) ? pos_ + 1 : pos_;
  const auto it = std::search(buf_.begin() + static_cast<std::ptrdiff_t>(at), buf_.end(), kMagicBytes.begin(),
                              kMagicBytes.end());
  if (it != buf_.end()) {
    at = static_cast<std::size_t>(it - buf_.begin());
  } else {
    // Keep a tail that may be the start of a magic split across reads.
    at = buf_.size();
    for (std::size_t keep = 3; keep > 0; --keep) {
      if (buf_.size() - start > keep &&
          std::equal(buf_.end() - static_cast<std::ptrdiff_t>(keep), buf_.end(), kMagicBytes.begin())) {
        at = buf_.size() - keep;
        break;
      }
    }
  }
  pos_ = at;
  AssemblerEvent ev;
  ev.error = error;
  ev.discarded = at - start;
  ev.header = header;
  return ev;
}

std::optional<AssemblerEvent> FrameAssembler::next() {
  const std::size_t avail = buf_.size() - pos_;
  if (avail == 0) return std::nullopt;
  if (!at_magic(pos_)) {
    // Fewer than 4 bytes that are still a magic prefix: wait for more.
    if (avail < 4 &&
        std::equal(buf_.begin() + static_cast<std::ptrdiff_t>(pos_), buf_.end(), kMagicBytes.begin())) {
      return std::nullopt;
    }
    AssemblerEvent ev = resync(Error{Errc::bad_value, "frame.magic", 0}, std::nullopt);
    if (ev.discarded == 0) return std::nullopt;
    return ev;
  }
  if (avail < kAgentHeaderSize) return std::nullopt;
  const ByteSpan all(buf_);
  const ByteSpan head = all.subspan(pos_, kAgentHeaderSize);
  auto h = decode_frame_header(head);
  if (!h.ok()) {
    // Header fields are at fixed offsets; report the id and op so the answer can carry them.
    FrameHeader raw;
    raw.type = static_cast<FrameType>(std::to_integer<std::uint8_t>(head[5]));
    raw.op = static_cast<std::uint16_t>(load_u32(head, 4) >> 16);
    raw.request_id = load_u32(head, 8);
    raw.length = load_u32(head, 12);
    raw.crc = load_u32(head, 16);
    return resync(h.error(), raw);
  }
  if (h->length > max_payload_) return resync(Error{Errc::bad_length, "frame.length", 12}, *h);
  if (avail - kAgentHeaderSize < h->length) return std::nullopt;
  const ByteSpan payload = all.subspan(pos_ + kAgentHeaderSize, h->length);
  if (crc32(payload, crc32(head.first(kAgentCrcOffset))) != h->crc) {
    return resync(Error{Errc::bad_value, "frame.crc32", kAgentCrcOffset}, *h);
  }
  AssemblerEvent ev;
  ev.frame = Frame{h->type, h->op, h->request_id, Bytes(payload.begin(), payload.end())};
  pos_ += kAgentHeaderSize + h->length;
  return ev;
}

std::optional<AssemblerEvent> FrameAssembler::abandon_partial() {
  if (buffered() == 0) return std::nullopt;
  std::optional<FrameHeader> header;
  if (buffered() >= kAgentHeaderSize) {
    auto h = decode_frame_header(ByteSpan(buf_).subspan(pos_, kAgentHeaderSize));
    if (h.ok()) header = *h;
  }
  return resync(Error{Errc::truncated, "frame.payload", buffered()}, header);
}

// ---- Payloads -------------------------------------------------------------------------

void encode(const PingRequest& m, ByteWriter& w) { put_blob(w, m.data); }
void encode(const PingResponse& m, ByteWriter& w) {
  put_str(w, m.agent);
  put_blob(w, m.data);
}

void encode(const ExecRequest& m, ByteWriter& w) {
  put_list(w, m.argv);
  put_list(w, m.env);
  put_str(w, m.cwd);
  put_blob(w, m.stdin_data);
  w.u32(m.timeout_ms);
  w.u32(m.max_stdout);
  w.u32(m.max_stderr);
  w.u32(m.flags);
}

void encode(const ExecResponse& m, ByteWriter& w) {
  w.u8(static_cast<std::uint8_t>(m.termination));
  w.u32(static_cast<std::uint32_t>(m.code));
  w.u32(m.flags);
  w.u32(m.duration_ms);
  put_blob(w, m.stdout_data);
  put_blob(w, m.stderr_data);
}

void encode(const ReadFileRequest& m, ByteWriter& w) {
  put_str(w, m.path);
  w.u64(m.offset);
  w.u32(m.max_length);
}
void encode(const ReadFileResponse& m, ByteWriter& w) {
  w.u64(m.file_size);
  w.u32(m.flags);
  put_blob(w, m.data);
}

void encode(const WriteFileRequest& m, ByteWriter& w) {
  put_str(w, m.path);
  w.u32(m.mode);
  w.u32(m.flags);
  put_blob(w, m.data);
}
void encode(const WriteFileResponse& m, ByteWriter& w) { w.u64(m.written); }

void encode(const StatRequest& m, ByteWriter& w) {
  put_str(w, m.path);
  w.u32(m.flags);
}
void encode(const StatResponse& m, ByteWriter& w) {
  w.u32(m.mode);
  w.u32(m.uid);
  w.u32(m.gid);
  w.u32(m.nlink);
  w.u64(m.size);
  w.u64(m.inode);
  w.u64(static_cast<std::uint64_t>(m.mtime_ns));
  put_str(w, m.link_target);
}

void encode(const ErrorReply& m, ByteWriter& w) {
  w.u32(static_cast<std::uint32_t>(m.code));
  w.u32(static_cast<std::uint32_t>(m.sys_errno));
  put_str(w, m.message);
}

Result<PingRequest> decode_ping_request(ByteSpan payload) {
  ByteReader r(payload);
  PingRequest m;
  m.data = get_blob(r, "ping.data");
  r.expect_end("ping.trailing");
  return r.finish(std::move(m));
}

Result<PingResponse> decode_ping_response(ByteSpan payload) {
  ByteReader r(payload);
  PingResponse m;
  m.agent = get_str(r, "ping_response.agent");
  m.data = get_blob(r, "ping_response.data");
  r.expect_end("ping_response.trailing");
  return r.finish(std::move(m));
}

Result<ExecRequest> decode_exec_request(ByteSpan payload) {
  ByteReader r(payload);
  ExecRequest m;
  m.argv = get_cstr_list(r, "exec.argv");
  if (r.ok() && (m.argv.empty() || m.argv[0].empty())) r.fail(Errc::bad_value, "exec.argv");
  m.env = get_cstr_list(r, "exec.env");
  if (r.ok()) {
    for (const auto& e : m.env) {
      const auto eq = e.find('=');
      if (eq == std::string::npos || eq == 0) r.fail(Errc::bad_value, "exec.env");
    }
  }
  m.cwd = get_cstr(r, "exec.cwd", true);
  m.stdin_data = get_blob(r, "exec.stdin");
  m.timeout_ms = r.u32("exec.timeout_ms");
  m.max_stdout = r.u32("exec.max_stdout");
  m.max_stderr = r.u32("exec.max_stderr");
  m.flags = r.u32("exec.flags");
  check_flags(r, m.flags, kExecRequestFlagsMask, "exec.flags");
  r.expect_end("exec.trailing");
  return r.finish(std::move(m));
}

Result<ExecResponse> decode_exec_response(ByteSpan payload) {
  ByteReader r(payload);
  ExecResponse m;
  const std::uint8_t term = r.u8("exec_response.termination");
  if (r.ok() && term > 1) r.fail(Errc::bad_value, "exec_response.termination");
  m.termination = static_cast<ExecTermination>(term);
  m.code = static_cast<std::int32_t>(r.u32("exec_response.code"));
  m.flags = r.u32("exec_response.flags");
  check_flags(r, m.flags, kExecResponseFlagsMask, "exec_response.flags");
  m.duration_ms = r.u32("exec_response.duration_ms");
  m.stdout_data = get_blob(r, "exec_response.stdout");
  m.stderr_data = get_blob(r, "exec_response.stderr");
  r.expect_end("exec_response.trailing");
  return r.finish(std::move(m));
}

Result<ReadFileRequest> decode_read_file_request(ByteSpan payload) {
  ByteReader r(payload);
  ReadFileRequest m;
  m.path = get_cstr(r, "read_file.path", false);
  m.offset = r.u64("read_file.offset");
  m.max_length = r.u32("read_file.max_length");
  r.expect_end("read_file.trailing");
  return r.finish(std::move(m));
}

Result<ReadFileResponse> decode_read_file_response(ByteSpan payload) {
  ByteReader r(payload);
  ReadFileResponse m;
  m.file_size = r.u64("read_file_response.file_size");
  m.flags = r.u32("read_file_response.flags");
  check_flags(r, m.flags, kReadTruncated, "read_file_response.flags");
  m.data = get_blob(r, "read_file_response.data");
  r.expect_end("read_file_response.trailing");
  return r.finish(std::move(m));
}

Result<WriteFileRequest> decode_write_file_request(ByteSpan payload) {
  ByteReader r(payload);
  WriteFileRequest m;
  m.path = get_cstr(r, "write_file.path", false);
  m.mode = r.u32("write_file.mode");
  if (r.ok() && m.mode > 07777) r.fail(Errc::bad_value, "write_file.mode");
  m.flags = r.u32("write_file.flags");
  check_flags(r, m.flags, kWriteFlagsMask, "write_file.flags");
  m.data = get_blob(r, "write_file.data");
  r.expect_end("write_file.trailing");
  return r.finish(std::move(m));
}

Result<WriteFileResponse> decode_write_file_response(ByteSpan payload) {
  ByteReader r(payload);
  WriteFileResponse m;
  m.written = r.u64("write_file_response.written");
  r.expect_end("write_file_response.trailing");
  return r.finish(WriteFileResponse(m));
}

Result<StatRequest> decode_stat_request(ByteSpan payload) {
  ByteReader r(payload);
  StatRequest m;
  m.path = get_cstr(r, "stat.path", false);
  m.flags = r.u32("stat.flags");
  check_flags(r, m.flags, kStatNoFollow, "stat.flags");
  r.expect_end("stat.trailing");
  return r.finish(std::move(m));
}

Result<StatResponse> decode_stat_response(ByteSpan payload) {
  ByteReader r(payload);
  StatResponse m;
  m.mode = r.u32("stat_response.mode");
  m.uid = r.u32("stat_response.uid");
  m.gid = r.u32("stat_response.gid");
  m.nlink = r.u32("stat_response.nlink");
  m.size = r.u64("stat_response.size");
  m.inode = r.u64("stat_response.inode");
  m.mtime_ns = static_cast<std::int64_t>(r.u64("stat_response.mtime_ns"));
  m.link_target = get_str(r, "stat_response.link_target");
  r.expect_end("stat_response.trailing");
  return r.finish(std::move(m));
}

Result<ErrorReply> decode_error_reply(ByteSpan payload) {
  ByteReader r(payload);
  ErrorReply m;
  // Codes are kept raw: a newer agent may send codes this side does not name.
  m.code = static_cast<AgentErrc>(r.u32("error.code"));
  m.sys_errno = static_cast<std::int32_t>(r.u32("error.sys_errno"));
  m.message = get_str(r, "error.message");
  r.expect_end("error.trailing");
  return r.finish(std::move(m));
}

}  // namespace vmbh::proto
