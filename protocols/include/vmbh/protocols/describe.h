// One-line, human-readable summaries of decoded messages, for traces and
// logs: "initiate_contact version=5.3 target_vcpu=0 msg_sint=2".
#pragma once

#include <string>

#include "vmbh/protocols/vmbus.h"

namespace vmbh::proto {

std::string describe(const ChannelMessage& m);
// "5.3"; raw hex for values that are not a known version.
std::string version_string(std::uint32_t raw_version);

}  // namespace vmbh::proto
