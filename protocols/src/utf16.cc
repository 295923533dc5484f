#include "vmbh/protocols/utf16.h"

#include <cstdint>

namespace vmbh::proto {
namespace {

void append_utf8(std::string& out, std::uint32_t cp) {
  auto put = [&out](std::uint32_t b) { out.push_back(static_cast<char>(static_cast<std::uint8_t>(b))); };
  if (cp < 0x80) {
    put(cp);
  } else if (cp < 0x800) {
    put(0xC0 | cp >> 6);
    put(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    put(0xE0 | cp >> 12);
    put(0x80 | (cp >> 6 & 0x3F));
    put(0x80 | (cp & 0x3F));
  } else {
    put(0xF0 | cp >> 18);
    put(0x80 | (cp >> 12 & 0x3F));
    put(0x80 | (cp >> 6 & 0x3F));
    put(0x80 | (cp & 0x3F));
  }
}

std::uint16_t unit_at(ByteSpan s, std::size_t i) {
  return static_cast<std::uint16_t>(std::to_integer<std::uint16_t>(s[2 * i]) |
                                    std::to_integer<std::uint16_t>(s[2 * i + 1]) << 8);
}

}  // namespace

Result<std::string> utf16le_to_utf8(ByteSpan utf16le, const char* field) {
  if (utf16le.size() % 2 != 0) return Error{Errc::bad_length, field, utf16le.size()};
  const std::size_t units = utf16le.size() / 2;
  std::string out;
  out.reserve(units);
  for (std::size_t i = 0; i < units; ++i) {
    std::uint32_t cp = unit_at(utf16le, i);
    if (cp >= 0xDC00 && cp <= 0xDFFF) return Error{Errc::bad_encoding, field, 2 * i};  // lone low surrogate
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (i + 1 >= units) return Error{Errc::bad_encoding, field, 2 * i};  // high surrogate at the end
      std::uint32_t lo = unit_at(utf16le, i + 1);
      if (lo < 0xDC00 || lo > 0xDFFF) return Error{Errc::bad_encoding, field, 2 * i};
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      ++i;
    }
    append_utf8(out, cp);
  }
  return out;
}

Result<std::string> utf16le_terminated_to_utf8(ByteSpan buffer, const char* field) {
  const std::size_t units = buffer.size() / 2;
  for (std::size_t i = 0; i < units; ++i) {
    if (unit_at(buffer, i) == 0) return utf16le_to_utf8(buffer.first(2 * i), field);
  }
  return Error{Errc::bad_encoding, field, buffer.size()};  // no terminator inside the field
}

Result<Bytes> utf8_to_utf16le(std::string_view utf8, const char* field) {
  Bytes out;
  out.reserve(utf8.size() * 2);
  auto unit = [&out](std::uint32_t u) {
    out.push_back(std::byte(static_cast<std::uint8_t>(u)));
    out.push_back(std::byte(static_cast<std::uint8_t>(u >> 8)));
  };
  std::size_t i = 0;
  while (i < utf8.size()) {
    const std::size_t start = i;
    const auto b0 = static_cast<std::uint8_t>(utf8[i]);
    std::uint32_t cp = 0;
    std::size_t len = 0;
    if (b0 < 0x80) {
      cp = b0;
      len = 1;
    } else if ((b0 & 0xE0) == 0xC0) {
      cp = b0 & 0x1Fu;
      len = 2;
    } else if ((b0 & 0xF0) == 0xE0) {
      cp = b0 & 0x0Fu;
      len = 3;
    } else if ((b0 & 0xF8) == 0xF0) {
      cp = b0 & 0x07u;
      len = 4;
    } else {
      return Error{Errc::bad_encoding, field, start};
    }
    if (utf8.size() - i < len) return Error{Errc::bad_encoding, field, start};
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<std::uint8_t>(utf8[i + k]);
      if ((b & 0xC0) != 0x80) return Error{Errc::bad_encoding, field, start};
      cp = cp << 6 | (b & 0x3Fu);
    }
    static constexpr std::uint32_t kMinForLen[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLen[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) {
      return Error{Errc::bad_encoding, field, start};
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      unit(0xD800 + (cp >> 10));
      unit(0xDC00 + (cp & 0x3FF));
    } else {
      unit(cp);
    }
    i += len;
  }
  return out;
}

}  // namespace vmbh::proto
