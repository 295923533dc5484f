// Bounds-checked little-endian reading and writing over byte spans.
//
// ByteReader has a sticky error: after the first failure every read returns
// zero/empty and the first Error is kept. Decoders read a whole layout and
// check once, which keeps them short and free of out-of-bounds reads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "vmbh/protocols/result.h"

namespace vmbh::proto {

using Bytes = std::vector<std::byte>;
using ByteSpan = std::span<const std::byte>;

class ByteReader {
 public:
  explicit ByteReader(ByteSpan data) : data_(data) {}

  std::uint8_t u8(const char* field) { return static_cast<std::uint8_t>(le(1, field)); }
  std::uint16_t u16(const char* field) { return static_cast<std::uint16_t>(le(2, field)); }
  std::uint32_t u32(const char* field) { return static_cast<std::uint32_t>(le(4, field)); }
  std::uint64_t u64(const char* field) { return le(8, field); }

  // The next n bytes, or an empty span (and a truncated error) if fewer remain.
  ByteSpan bytes(std::size_t n, const char* field) {
    if (!take(n, field)) return {};
    return data_.subspan(pos_ - n, n);
  }
  template <std::size_t N>
  std::array<std::byte, N> array(const char* field) {
    std::array<std::byte, N> out{};
    read_into(out, field);
    return out;
  }
  // Fills a fixed byte array (std::byte or std::uint8_t) in one bounds check;
  // leaves it unchanged on failure.
  template <class T, std::size_t N>
  requires(sizeof(T) == 1) void read_into(std::array<T, N>& out, const char* field) {
    ByteSpan s = bytes(N, field);
    if (s.size() == N) std::memcpy(out.data(), s.data(), N);
  }
  void skip(std::size_t n, const char* field) { (void)take(n, field); }

  std::size_t offset() const { return pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }
  ByteSpan rest() const { return data_.subspan(pos_); }

  bool ok() const { return !failed_; }
  std::optional<Error> error() const {
    if (!failed_) return std::nullopt;
    return error_;
  }

  // Records an error at the current offset unless one is already recorded.
  void fail(Errc code, const char* field) { fail_at(code, field, pos_); }
  // Records an error at `offset` (e.g. a count field read earlier) unless one is already recorded.
  void fail_at(Errc code, const char* field, std::size_t offset) {
    if (failed_) return;
    error_ = Error{code, field, offset};
    failed_ = true;
  }
  // Fails with trailing_data if bytes remain.
  void expect_end(const char* field) {
    if (ok() && remaining() != 0) fail(Errc::trailing_data, field);
  }

  template <class T>
  Result<T> finish(T value) {
    if (failed_) return error_;
    return Result<T>(std::move(value));
  }
  Status status() const {
    if (failed_) return error_;
    return {};
  }

 private:
  bool take(std::size_t n, const char* field) {
    if (failed_) return false;
    if (n > data_.size() - pos_) {
      fail(Errc::truncated, field);
      return false;
    }
    pos_ += n;
    return true;
  }
  std::uint64_t le(std::size_t n, const char* field) {
    if (!take(n, field)) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      v |= std::uint64_t{std::to_integer<std::uint8_t>(data_[pos_ - n + i])} << (8 * i);
    }
    return v;
  }

  ByteSpan data_;
  std::size_t pos_ = 0;
  // A plain Error + flag rather than std::optional: g++ 12 warns (falsely)
  // about a maybe-uninitialized optional once decoders are inlined.
  Error error_{Errc::truncated, "", 0};
  bool failed_ = false;
};

// Appends little-endian fields to a byte vector.
class ByteWriter {
 public:
  explicit ByteWriter(Bytes& out) : out_(out) {}

  void u8(std::uint8_t v) { le(v, 1); }
  void u16(std::uint16_t v) { le(v, 2); }
  void u32(std::uint32_t v) { le(v, 4); }
  void u64(std::uint64_t v) { le(v, 8); }
  void bytes(ByteSpan s) { out_.insert(out_.end(), s.begin(), s.end()); }
  template <class T, std::size_t N>
  requires(sizeof(T) == 1) void array(const std::array<T, N>& a) { bytes(std::as_bytes(std::span(a))); }
  void zeros(std::size_t n) { out_.resize(out_.size() + n, std::byte{0}); }
  // Pads with zeros up to `total` bytes written since `start` (no-op if already there).
  void pad_to(std::size_t start, std::size_t total) {
    if (out_.size() < start + total) zeros(start + total - out_.size());
  }

  std::size_t size() const { return out_.size(); }
  void patch_u32(std::size_t at, std::uint32_t v) {
    for (std::size_t i = 0; i < 4; ++i) out_[at + i] = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
  }

 private:
  // One insert per field: byte-wise push_back made encoders several times slower.
  void le(std::uint64_t v, std::size_t n) {
    std::array<std::byte, 8> b{};
    for (std::size_t i = 0; i < n; ++i) b[i] = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
    out_.insert(out_.end(), b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n));
  }

  Bytes& out_;
};

// Little-endian access at a fixed offset of a mutable span (ring headers in shared memory).
// Callers guarantee `at + N <= s.size()`.
std::uint32_t load_u32(ByteSpan s, std::size_t at);
std::uint64_t load_u64(ByteSpan s, std::size_t at);
void store_u32(std::span<std::byte> s, std::size_t at, std::uint32_t v);
void store_u64(std::span<std::byte> s, std::size_t at, std::uint64_t v);

// Encodes a message whose `void encode(const T&, ByteWriter&)` overload cannot
// fail (found by argument-dependent lookup) into fresh bytes.
template <class T>
Bytes encode_to_bytes(const T& message) {
  Bytes out;
  ByteWriter w(out);
  encode(message, w);
  return out;
}

// Convenience for tests and tools: bytes from a list of integers.
template <class... Ts>
Bytes bytes_of(Ts... vs) {
  return Bytes{std::byte(static_cast<std::uint8_t>(vs))...};
}

}  // namespace vmbh::proto
