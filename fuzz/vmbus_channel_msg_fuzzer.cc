// VMBus channel messages at every protocol version.
// Input: byte 0 selects the version (index into kVmbusVersions, modulo 10),
// the rest is one channel message, header included.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "vmbh/protocols/vmbus.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vmbh::proto;
  vmbh::fuzz::FuzzInput in(data, size);
  const VmbusVersion v = kVmbusVersions[in.u8() % kVmbusVersions.size()].version;
  const ByteSpan msg = in.rest();
  auto decoded = decode_channel_message(msg, v);
  if (!decoded.ok()) {
    VMBH_FUZZ_CHECK(decoded.error().field != nullptr);
    VMBH_FUZZ_CHECK(decoded.error().offset <= msg.size());
    return 0;
  }
  VMBH_FUZZ_CHECK(channel_message_exists(message_type(*decoded), v));
  const Bytes encoded = encode(*decoded, v);
  VMBH_FUZZ_CHECK(encoded.size() <= msg.size());  // trailing bytes are dropped, never added
  VMBH_FUZZ_CHECK(encoded.size() >= channel_message_min_size(message_type(*decoded)));
  auto again = decode_channel_message(encoded, v);
  VMBH_FUZZ_CHECK(again.ok());
  VMBH_FUZZ_CHECK(*again == *decoded);
  // Every field is kept, so the encoding is the input's prefix except for
  // the header padding (bytes 4..7), which is written as zero.
  VMBH_FUZZ_CHECK(std::equal(encoded.begin(), encoded.begin() + 4, msg.begin()));
  VMBH_FUZZ_CHECK(std::equal(encoded.begin() + 8, encoded.end(), msg.begin() + 8));
  return 0;
}
