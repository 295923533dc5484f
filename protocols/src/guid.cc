#include "vmbh/protocols/guid.h"

#include <cstdio>
#include <cstdlib>

namespace vmbh::proto {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Text order of the 16 bytes -> wire position: the first three groups are
// little-endian on the wire, the last two are byte strings.
constexpr std::array<int, 16> kWirePos = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

}  // namespace

std::optional<Guid> Guid::parse(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  Guid g;
  std::size_t byte = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    int hi = hex_digit(text[i]);
    int lo = hex_digit(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    g.wire[static_cast<std::size_t>(kWirePos[byte++])] = static_cast<std::uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return g;
}

Guid Guid::from_string(std::string_view text) {
  auto g = parse(text);
  if (!g) std::abort();  // a malformed literal in our own source
  return *g;
}

std::string Guid::to_string() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    std::uint8_t b = wire[static_cast<std::size_t>(kWirePos[i])];
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

Guid read_guid(ByteReader& r, const char* field) {
  Guid g;
  r.read_into(g.wire, field);
  return g;
}

void write_guid(ByteWriter& w, const Guid& g) { w.array(g.wire); }

}  // namespace vmbh::proto
