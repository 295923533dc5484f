// SHA-1, only to name corpus files by content (OSS-Fuzz convention); not for security.
#pragma once

#include <string>

#include "vmbh/protocols/bytes.h"

namespace vmbh::fuzz {

std::string sha1_hex(proto::ByteSpan data);

}  // namespace vmbh::fuzz
