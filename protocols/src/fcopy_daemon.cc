#include "vmbh/protocols/fcopy_daemon.h"

#include <optional>
#include <type_traits>
#include <utility>

#include "vmbh/protocols/utf16.h"

namespace vmbh::proto {

namespace {

Status expect_int_size(ByteSpan msg) {
  if (msg.size() != kFcopyDaemonIntSize) {
    return Error{Errc::bad_length, "fcopy_daemon.length",
                 msg.size() < kFcopyDaemonIntSize ? msg.size() : kFcopyDaemonIntSize};
  }
  return {};
}

// A 520-byte field holding NUL-terminated UTF-8 of at most 259 bytes.
std::string read_utf8_name(ByteReader& r, const char* field, std::optional<Error>& err) {
  const std::size_t base = r.offset();
  ByteSpan raw = r.bytes(kFcopyNameFieldSize, field);
  if (!r.ok() || err) return {};
  std::size_t len = 0;
  while (len < raw.size() && raw[len] != std::byte{0}) ++len;
  if (len > kFcopyDaemonMaxNameBytes) {
    err = Error{Errc::bad_length, field, base + kFcopyDaemonMaxNameBytes};
    return {};
  }
  std::string name(reinterpret_cast<const char*>(raw.data()), len);
  auto check = utf8_to_utf16le(name, field);  // validates the UTF-8
  if (!check.ok()) {
    err = Error{Errc::bad_encoding, field, base};
    return {};
  }
  return name;
}

Status check_utf8_name(const std::string& name, const char* field) {
  if (name.size() > kFcopyDaemonMaxNameBytes) return Error{Errc::bad_length, field, kFcopyDaemonMaxNameBytes};
  auto check = utf8_to_utf16le(name, field);
  if (!check.ok()) return check.error();
  return {};
}

void write_utf8_name(ByteWriter& w, const std::string& name) {
  const std::size_t start = w.size();
  w.bytes(ByteSpan(reinterpret_cast<const std::byte*>(name.data()), name.size()));
  w.pad_to(start, kFcopyNameFieldSize);
}

Result<FcopyDaemonStart> decode_daemon_start_after_op(ByteReader& r) {
  FcopyDaemonStart m;
  std::optional<Error> err;
  m.service_ids = fcopy_detail::read_service_ids(r);
  m.file_name = read_utf8_name(r, "fcopy_daemon_start.file_name", err);
  m.path_name = read_utf8_name(r, "fcopy_daemon_start.path_name", err);
  if (err) return *err;
  m.copy_flags = r.u32("fcopy_daemon_start.copy_flags");
  m.file_size = r.u64("fcopy_daemon_start.file_size");
  r.expect_end("fcopy_daemon_start.trailing");
  return r.finish(m);
}

Result<FcopyDaemonControl> decode_daemon_control_after_op(ByteReader& r, FcopyOp op, std::size_t total) {
  FcopyDaemonControl m;
  m.op = op;
  m.service_ids = fcopy_detail::read_service_ids(r);
  if (!r.ok()) return *r.error();
  if (total > kFcopyDaemonReadSize)
    return Error{Errc::bad_length, "fcopy_daemon_control.tail", kFcopyDaemonReadSize};
  ByteSpan tail = r.rest();
  m.tail.assign(tail.begin(), tail.end());
  return m;
}

template <class T>
Result<FcopyKernelToDaemon> widen(Result<T>&& r) {
  if (!r.ok()) return r.error();
  return FcopyKernelToDaemon{std::move(r).value()};
}

}  // namespace

Result<FcopyDaemonRegister> decode_fcopy_daemon_register(ByteSpan msg) {
  if (Status s = expect_int_size(msg); !s.ok()) return s.error();
  ByteReader r(msg);
  FcopyDaemonRegister m;
  m.version = r.u32("fcopy_daemon.version");
  if (m.version != kFcopyVersion0 && m.version != kFcopyVersion1) {
    return Error{Errc::bad_version, "fcopy_daemon.version", 0};
  }
  return r.finish(m);
}

Result<FcopyDaemonReply> decode_fcopy_daemon_reply(ByteSpan msg) {
  if (Status s = expect_int_size(msg); !s.ok()) return s.error();
  ByteReader r(msg);
  FcopyDaemonReply m;
  m.status = r.u32("fcopy_daemon.status");
  return r.finish(m);
}

Result<FcopyKernelToDaemon> decode_fcopy_kernel_to_daemon(ByteSpan msg) {
  ByteReader r(msg);
  if (msg.size() == kFcopyDaemonIntSize) {
    FcopyKernelVersion v;
    v.version = r.u32("fcopy_daemon.version");
    return r.finish(FcopyKernelToDaemon{v});
  }
  const auto op = static_cast<FcopyOp>(r.u32("fcopy_daemon.operation"));
  if (!r.ok()) return *r.error();
  switch (op) {
    case FcopyOp::start_file_copy:
      return widen(decode_daemon_start_after_op(r));
    case FcopyOp::write_to_file:
      return widen(decode_fcopy_write(msg));
    case FcopyOp::complete:
    case FcopyOp::cancel:
      return widen(decode_daemon_control_after_op(r, op, msg.size()));
  }
  return Error{Errc::unknown_type, "fcopy_daemon.operation", 0};
}

void encode(const FcopyDaemonRegister& m, ByteWriter& w) { w.u32(m.version); }
void encode(const FcopyDaemonReply& m, ByteWriter& w) { w.u32(m.status); }
void encode(const FcopyKernelVersion& m, ByteWriter& w) { w.u32(m.version); }

Status encode(const FcopyDaemonStart& m, ByteWriter& w) {
  if (Status s = check_utf8_name(m.file_name, "fcopy_daemon_start.file_name"); !s.ok()) return s;
  if (Status s = check_utf8_name(m.path_name, "fcopy_daemon_start.path_name"); !s.ok()) return s;
  w.u32(static_cast<std::uint32_t>(FcopyOp::start_file_copy));
  fcopy_detail::write_service_ids(w, m.service_ids);
  write_utf8_name(w, m.file_name);
  write_utf8_name(w, m.path_name);
  w.u32(m.copy_flags);
  w.u64(m.file_size);
  return {};
}

Status encode(const FcopyDaemonControl& m, ByteWriter& w) {
  if (m.op != FcopyOp::complete && m.op != FcopyOp::cancel) {
    return Error{Errc::unknown_type, "fcopy_daemon.operation", 0};
  }
  if (m.tail.size() > kFcopyDaemonReadSize - kFcopyHdrSize) {
    return Error{Errc::bad_length, "fcopy_daemon_control.tail", kFcopyDaemonReadSize};
  }
  w.u32(static_cast<std::uint32_t>(m.op));
  fcopy_detail::write_service_ids(w, m.service_ids);
  w.bytes(m.tail);
  return {};
}

Status encode(const FcopyKernelToDaemon& m, ByteWriter& w) {
  return std::visit(
      [&w](const auto& v) -> Status {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, FcopyKernelVersion>) {
          encode(v, w);
          return {};
        } else {
          return encode(v, w);
        }
      },
      m);
}

Result<Bytes> encode_fcopy_kernel_to_daemon(const FcopyKernelToDaemon& m) {
  Bytes out;
  ByteWriter w(out);
  Status s = encode(m, w);
  if (!s.ok()) return s.error();
  return out;
}

namespace {

// Length of the UTF-8 sequence led by `b` (1 for stray bytes, so the loop advances).
std::size_t utf8_seq_len(unsigned char b) {
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) return 2;
  if ((b & 0xF0) == 0xE0) return 3;
  if ((b & 0xF8) == 0xF0) return 4;
  return 1;
}

std::string kernel_cut(const std::string& name) {
  std::string out;
  std::size_t budget = kFcopyDaemonMaxNameBytes;
  for (std::size_t i = 0; i < name.size() && budget > 0;) {
    std::size_t n = utf8_seq_len(static_cast<unsigned char>(name[i]));
    if (n > name.size() - i) n = name.size() - i;
    if (n <= budget) {
      out.append(name, i, n);
      budget -= n;
    }
    i += n;
  }
  return out;
}

}  // namespace

FcopyDaemonStart fcopy_daemon_start_from_host(const FcopyStart& host) {
  FcopyDaemonStart m;
  m.file_name = kernel_cut(host.file_name);
  m.path_name = kernel_cut(host.path_name);
  m.copy_flags = host.copy_flags;
  m.file_size = host.file_size;
  return m;
}

}  // namespace vmbh::proto
