// Splits a fuzz input into structured choices (works without libFuzzer's
// FuzzedDataProvider, so targets also build as gcc replay binaries).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "vmbh/protocols/bytes.h"

namespace vmbh::fuzz {

class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size)
      : data_(reinterpret_cast<const std::byte*>(data), size) {}

  bool empty() const { return pos_ >= data_.size(); }
  std::size_t remaining() const { return data_.size() - pos_; }

  // Integers consume little-endian bytes; a short input yields zeros.
  std::uint8_t u8() { return static_cast<std::uint8_t>(take_le(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(take_le(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(take_le(4)); }
  std::uint64_t u64() { return take_le(8); }
  // A value in [0, n); n must be > 0.
  std::uint32_t below(std::uint32_t n) { return u32() % n; }

  proto::ByteSpan bytes(std::size_t n) {
    if (n > remaining()) n = remaining();
    auto s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  proto::ByteSpan rest() { return bytes(remaining()); }

 private:
  std::uint64_t take_le(std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n && pos_ < data_.size(); ++i, ++pos_) {
      v |= std::uint64_t{std::to_integer<std::uint8_t>(data_[pos_])} << (8 * i);
    }
    return v;
  }

  proto::ByteSpan data_;
  std::size_t pos_ = 0;
};

}  // namespace vmbh::fuzz
