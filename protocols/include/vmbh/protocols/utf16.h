// UTF-16LE <-> UTF-8 with strict validation. KVP keys/values and fcopy names
// travel as UTF-16LE; the host and tests work in UTF-8.
#pragma once

#include <string>
#include <string_view>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

// Decodes all of `utf16le` (even length, no unpaired surrogates) to UTF-8.
// Errors are bad_length (odd size) or bad_encoding, at the offending byte.
Result<std::string> utf16le_to_utf8(ByteSpan utf16le, const char* field);

// Decodes up to the first U+0000 code unit, which must exist inside `buffer`
// (fixed-size wire fields such as a 512-byte KVP key). `buffer` may be odd-sized;
// a trailing odd byte is ignored.
Result<std::string> utf16le_terminated_to_utf8(ByteSpan buffer, const char* field);

// Encodes valid UTF-8 (no overlong forms, no surrogates, <= U+10FFFF) as UTF-16LE,
// without a terminator. An embedded NUL is rejected, since the wire format uses it
// as the terminator.
Result<Bytes> utf8_to_utf16le(std::string_view utf8, const char* field);

}  // namespace vmbh::proto
