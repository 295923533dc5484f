#include "vmbh/protocols/fcopy.h"

#include <optional>
#include <type_traits>
#include <utility>

#include "vmbh/protocols/utf16.h"

namespace vmbh::proto {

bool is_known(FcopyOp op) {
  return static_cast<std::uint32_t>(op) <= static_cast<std::uint32_t>(FcopyOp::cancel);
}

std::string_view to_string(FcopyOp op) {
  switch (op) {
    case FcopyOp::start_file_copy:
      return "START_FILE_COPY";
    case FcopyOp::write_to_file:
      return "WRITE_TO_FILE";
    case FcopyOp::complete:
      return "COMPLETE_FCOPY";
    case FcopyOp::cancel:
      return "CANCEL_FCOPY";
  }
  return "UNKNOWN";
}

FcopyOp op_of(const FcopyMessage& msg) { return static_cast<FcopyOp>(msg.index()); }

namespace fcopy_detail {

FcopyServiceIds read_service_ids(ByteReader& r) {
  FcopyServiceIds ids;
  r.read_into(ids.id0, "fcopy.service_id0");
  r.read_into(ids.id1, "fcopy.service_id1");
  return ids;
}

void write_service_ids(ByteWriter& w, const FcopyServiceIds& ids) {
  w.array(ids.id0);
  w.array(ids.id1);
}

}  // namespace fcopy_detail

namespace {

using fcopy_detail::read_service_ids;
using fcopy_detail::write_service_ids;

// Reads a fixed 260-unit UTF-16LE name field; the terminator must be inside it.
std::string read_name(ByteReader& r, const char* field, std::optional<Error>& err) {
  const std::size_t base = r.offset();
  ByteSpan raw = r.bytes(kFcopyNameFieldSize, field);
  if (!r.ok() || err) return {};
  auto text = utf16le_terminated_to_utf8(raw, field);
  if (!text.ok()) {
    err = Error{text.error().code, field, base + text.error().offset};
    return {};
  }
  return std::move(text).value();
}

Result<FcopyStart> decode_start_after_op(ByteReader& r) {
  FcopyStart m;
  std::optional<Error> err;
  m.service_ids = read_service_ids(r);
  m.file_name = read_name(r, "fcopy_start.file_name", err);
  m.path_name = read_name(r, "fcopy_start.path_name", err);
  if (err) return *err;
  m.copy_flags = r.u32("fcopy_start.copy_flags");
  m.file_size = r.u64("fcopy_start.file_size");
  r.expect_end("fcopy_start.trailing");
  return r.finish(std::move(m));
}

Result<FcopyWrite> decode_write_after_op(ByteReader& r) {
  FcopyWrite m;
  m.service_ids = read_service_ids(r);
  m.pad = r.u32("fcopy_write.pad");
  m.offset = r.u64("fcopy_write.offset");
  const std::uint32_t size = r.u32("fcopy_write.size");
  if (r.ok() && size > kFcopyDataFragment)
    return Error{Errc::bad_length, "fcopy_write.size", kFcopySizeOffset};
  ByteSpan data = r.bytes(kFcopyDataFragment, "fcopy_write.data");
  r.expect_end("fcopy_write.trailing");
  if (!r.ok()) return *r.error();
  m.data.assign(data.begin(), data.begin() + size);
  return m;
}

template <class T>
Result<T> decode_header_only_after_op(ByteReader& r, const char* trailing_field) {
  T m;
  m.service_ids = read_service_ids(r);
  r.expect_end(trailing_field);
  return r.finish(std::move(m));
}

// Reads the operation word and checks it is `want` (or any known one if none).
std::optional<Error> read_op(ByteReader& r, std::optional<FcopyOp> want, FcopyOp& op) {
  const std::uint32_t raw = r.u32("fcopy.operation");
  if (!r.ok()) return *r.error();
  op = static_cast<FcopyOp>(raw);
  if (!is_known(op) || (want && op != *want)) return Error{Errc::unknown_type, "fcopy.operation", 0};
  return std::nullopt;
}

template <class T>
Result<T> decode_one(ByteSpan body, FcopyOp want, Result<T> (*rest)(ByteReader&)) {
  ByteReader r(body);
  FcopyOp op{};
  if (auto e = read_op(r, want, op)) return *e;
  return rest(r);
}

Result<FcopyComplete> decode_complete_after_op(ByteReader& r) {
  return decode_header_only_after_op<FcopyComplete>(r, "fcopy_complete.trailing");
}
Result<FcopyCancel> decode_cancel_after_op(ByteReader& r) {
  return decode_header_only_after_op<FcopyCancel>(r, "fcopy_cancel.trailing");
}

template <class T>
Result<FcopyMessage> widen(Result<T>&& r) {
  if (!r.ok()) return r.error();
  return FcopyMessage{std::move(r).value()};
}

Result<Bytes> name_to_wire(const std::string& name, const char* field) {
  auto units = utf8_to_utf16le(name, field);
  if (!units.ok()) return units.error();
  if (units->size() > 2 * (kFcopyMaxPath - 1)) return Error{Errc::bad_length, field, 2 * (kFcopyMaxPath - 1)};
  return units;
}

void write_name(ByteWriter& w, const Bytes& units) {
  const std::size_t start = w.size();
  w.bytes(units);
  w.pad_to(start, kFcopyNameFieldSize);
}

}  // namespace

Result<FcopyStart> decode_fcopy_start(ByteSpan body) {
  return decode_one<FcopyStart>(body, FcopyOp::start_file_copy, &decode_start_after_op);
}
Result<FcopyWrite> decode_fcopy_write(ByteSpan body) {
  return decode_one<FcopyWrite>(body, FcopyOp::write_to_file, &decode_write_after_op);
}
Result<FcopyComplete> decode_fcopy_complete(ByteSpan body) {
  return decode_one<FcopyComplete>(body, FcopyOp::complete, &decode_complete_after_op);
}
Result<FcopyCancel> decode_fcopy_cancel(ByteSpan body) {
  return decode_one<FcopyCancel>(body, FcopyOp::cancel, &decode_cancel_after_op);
}

Result<FcopyMessage> decode_fcopy(ByteSpan body) {
  ByteReader r(body);
  FcopyOp op{};
  if (auto e = read_op(r, std::nullopt, op)) return *e;
  switch (op) {
    case FcopyOp::start_file_copy:
      return widen(decode_start_after_op(r));
    case FcopyOp::write_to_file:
      return widen(decode_write_after_op(r));
    case FcopyOp::complete:
      return widen(decode_complete_after_op(r));
    case FcopyOp::cancel:
      return widen(decode_cancel_after_op(r));
  }
  return Error{Errc::unknown_type, "fcopy.operation", 0};
}

Status encode(const FcopyStart& m, ByteWriter& w) {
  auto file = name_to_wire(m.file_name, "fcopy_start.file_name");
  if (!file.ok()) return file.error();
  auto path = name_to_wire(m.path_name, "fcopy_start.path_name");
  if (!path.ok()) return path.error();
  w.u32(static_cast<std::uint32_t>(FcopyOp::start_file_copy));
  write_service_ids(w, m.service_ids);
  write_name(w, *file);
  write_name(w, *path);
  w.u32(m.copy_flags);
  w.u64(m.file_size);
  return {};
}

Status encode(const FcopyWrite& m, ByteWriter& w) {
  if (m.data.size() > kFcopyDataFragment)
    return Error{Errc::bad_length, "fcopy_write.size", kFcopySizeOffset};
  const std::size_t start = w.size();
  w.u32(static_cast<std::uint32_t>(FcopyOp::write_to_file));
  write_service_ids(w, m.service_ids);
  w.u32(m.pad);
  w.u64(m.offset);
  w.u32(static_cast<std::uint32_t>(m.data.size()));
  w.bytes(m.data);
  w.pad_to(start, kFcopyWriteSize);
  return {};
}

void encode(const FcopyComplete& m, ByteWriter& w) {
  w.u32(static_cast<std::uint32_t>(FcopyOp::complete));
  write_service_ids(w, m.service_ids);
}

void encode(const FcopyCancel& m, ByteWriter& w) {
  w.u32(static_cast<std::uint32_t>(FcopyOp::cancel));
  write_service_ids(w, m.service_ids);
}

Status encode(const FcopyMessage& m, ByteWriter& w) {
  return std::visit(
      [&w](const auto& v) -> Status {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, FcopyStart> || std::is_same_v<T, FcopyWrite>) {
          return encode(v, w);
        } else {
          encode(v, w);
          return {};
        }
      },
      m);
}

Result<Bytes> encode_fcopy(const FcopyMessage& m) {
  Bytes out;
  ByteWriter w(out);
  Status s = encode(m, w);
  if (!s.ok()) return s.error();
  return out;
}

}  // namespace vmbh::proto
