// Private to vss*.cc / fcopy*.cc: whole fixed byte arrays in one bounds check
// (cheaper under fuzzing instrumentation than a loop of u8() reads).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "vmbh/protocols/bytes.h"

namespace vmbh::proto::array_io {

template <std::size_t N>
void read(ByteReader& r, std::array<std::uint8_t, N>& out, const char* field) {
  ByteSpan s = r.bytes(N, field);
  if (s.size() == N) std::memcpy(out.data(), s.data(), N);
}

template <std::size_t N>
void write(ByteWriter& w, const std::array<std::uint8_t, N>& in) {
  w.bytes(std::as_bytes(std::span(in)));
}

}  // namespace vmbh::proto::array_io
