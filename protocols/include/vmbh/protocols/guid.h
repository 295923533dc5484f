// GUIDs as Hyper-V puts them on the wire: the first three fields little-endian.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vmbh/protocols/bytes.h"

namespace vmbh::proto {

struct Guid {
  std::array<std::uint8_t, 16> wire{};  // bytes in wire (mixed-endian) order

  // Parses "f8615163-df3e-46c5-913f-f2d2f965ed0e" (case-insensitive).
  static std::optional<Guid> parse(std::string_view text);
  // Like parse() for literals known to be valid; aborts on a malformed literal.
  static Guid from_string(std::string_view text);
  std::string to_string() const;

  bool operator==(const Guid&) const = default;
};

Guid read_guid(ByteReader& r, const char* field);
void write_guid(ByteWriter& w, const Guid& g);

}  // namespace vmbh::proto
