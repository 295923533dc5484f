#include "vmbh/protocols/bytes.h"

namespace vmbh::proto {
namespace {

std::uint64_t load_le(ByteSpan s, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{std::to_integer<std::uint8_t>(s[at + i])} << (8 * i);
  return v;
}

void store_le(std::span<std::byte> s, std::size_t at, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) s[at + i] = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
}

}  // namespace

std::uint32_t load_u32(ByteSpan s, std::size_t at) { return static_cast<std::uint32_t>(load_le(s, at, 4)); }
std::uint64_t load_u64(ByteSpan s, std::size_t at) { return load_le(s, at, 8); }
void store_u32(std::span<std::byte> s, std::size_t at, std::uint32_t v) { store_le(s, at, v, 4); }
void store_u64(std::span<std::byte> s, std::size_t at, std::uint64_t v) { store_le(s, at, v, 8); }

}  // namespace vmbh::proto
