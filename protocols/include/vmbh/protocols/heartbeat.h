// Heartbeat IC body (message type 1). The host sends a sequence number every
// few seconds; Linux answers with the same buffer, seq_num + 1.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

inline constexpr std::size_t kHeartbeatMsgSize = 40;  // seq_num u64 + reserved[8] u32
// Linux only requires seq_num to be present (the host may not send the
// reserved words in full).
inline constexpr std::size_t kHeartbeatMinSize = 8;

struct HeartbeatMsg {
  std::uint64_t seq_num = 0;
  std::array<std::uint32_t, 8> reserved{};
  bool operator==(const HeartbeatMsg&) const = default;
};

// At least 8 bytes ("heartbeat.seq_num": truncated). Reserved words missing
// from a shorter body read as zero (a partial word zero-extended); bytes past
// 40 are ignored, as Linux ignores them.
Result<HeartbeatMsg> decode_heartbeat(ByteSpan body);
void encode(const HeartbeatMsg& m, ByteWriter& w);  // always 40 bytes

// What Linux writes back: seq_num + 1 (wrapping), the rest unchanged.
HeartbeatMsg heartbeat_reply(const HeartbeatMsg& request);

}  // namespace vmbh::proto
