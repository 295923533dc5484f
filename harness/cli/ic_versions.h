// The "major.minor" version lists of the SetIcVersions control request
// (what an integration component offers at its next negotiation).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vmbh/host/status.h"
#include "vmbh/protocols/ic.h"

namespace vmbh::cli {

// "3.0" -> {3, 0}: two decimal numbers of at most 65535, nothing else.
host::Result<proto::IcVersion> parse_ic_version(std::string_view text);

// Every entry parsed, at most proto::kIcMaxVersionCount of them (a negotiate
// message cannot carry more). `what` names the list in errors
// ("kvp framework").
host::Result<std::vector<proto::IcVersion>> parse_ic_versions(const std::vector<std::string>& texts,
                                                              const std::string& what);

}  // namespace vmbh::cli
