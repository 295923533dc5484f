// SynIC frames. Input: byte 0 selects the frame (bit 0: 0 = SIMP message slot,
// 1 = HvPostMessage input block; bits 1..: also decode a VMBus payload at the
// version with that index), the rest is the 256-byte frame.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "vmbh/protocols/synic.h"
#include "vmbh/protocols/vmbus.h"

namespace {

using namespace vmbh::proto;

void check_exact(ByteSpan in, const Bytes& out) {
  VMBH_FUZZ_CHECK(out.size() == in.size());
  VMBH_FUZZ_CHECK(std::equal(out.begin(), out.end(), in.begin()));
}

void decode_payload(std::uint32_t type, ByteSpan body, std::uint8_t selector) {
  if (type != static_cast<std::uint32_t>(HvMessageType::vmbus_channel_message)) return;
  const VmbusVersion v = kVmbusVersions[(selector >> 1) % kVmbusVersions.size()].version;
  auto m = decode_channel_message(body, v);
  if (m.ok()) VMBH_FUZZ_CHECK(decode_channel_message(encode(*m, v), v).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vmbh::fuzz::FuzzInput in(data, size);
  const std::uint8_t selector = in.u8();
  const ByteSpan frame = in.rest();
  if ((selector & 1) == 0) {
    auto m = decode_synic_message(frame);
    if (!m.ok()) return 0;
    VMBH_FUZZ_CHECK(m->payload_size <= kSynicMaxPayload);
    check_exact(frame, encode(*m));  // every byte is kept
    auto again = decode_synic_message(encode(*m));
    VMBH_FUZZ_CHECK(again.ok() && *again == *m);
    decode_payload(m->message_type, m->body(), selector);
  } else {
    auto m = decode_post_message_input(frame);
    if (!m.ok()) return 0;
    VMBH_FUZZ_CHECK(m->payload_size <= kSynicMaxPayload);
    VMBH_FUZZ_CHECK((m->connection_id & ~kConnectionIdMask) == 0);
    check_exact(frame, encode(*m));  // the reserved word is zero, so exact too
    auto again = decode_post_message_input(encode(*m));
    VMBH_FUZZ_CHECK(again.ok() && *again == *m);
    decode_payload(m->message_type, m->body(), selector);
  }
  return 0;
}
