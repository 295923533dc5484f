#include "vmbh/protocols/heartbeat.h"

namespace vmbh::proto {

Result<HeartbeatMsg> decode_heartbeat(ByteSpan body) {
  ByteReader r(body);
  HeartbeatMsg m;
  m.seq_num = r.u64("heartbeat.seq_num");
  if (!r.ok()) return *r.error();
  for (std::uint32_t& word : m.reserved) {
    if (r.remaining() >= 4) {
      word = r.u32("heartbeat.reserved");
    } else {
      ByteSpan part = r.bytes(r.remaining(), "heartbeat.reserved");
      for (std::size_t i = 0; i < part.size(); ++i) {
        word |= std::uint32_t{std::to_integer<std::uint8_t>(part[i])} << (8 * i);
      }
    }
  }
  return m;
}

void encode(const HeartbeatMsg& m, ByteWriter& w) {
  w.u64(m.seq_num);
  for (std::uint32_t word : m.reserved) w.u32(word);
}

HeartbeatMsg heartbeat_reply(const HeartbeatMsg& request) {
  HeartbeatMsg m = request;
  m.seq_num += 1;
  return m;
}

}  // namespace vmbh::proto
