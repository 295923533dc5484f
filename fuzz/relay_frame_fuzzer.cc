// vmbus-relay frames (docs/relay-protocol.md), both directions: what the host
// reads from QEMU and what QEMU's vmbus-relay device reads from the host.
// Input: selector byte, then data.
//   selector % 2 == 0: RelayFrameReader fed in chunks whose sizes come from the
//                      data; every frame re-encodes to its bytes, the first error
//                      is sticky and no frame follows it.
//   selector % 2 == 1: decode_relay_frame over the rest; success => byte-exact
//                      re-encoding and decode(encode(x)) == x.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "vmbh/protocols/relay.h"

using namespace vmbh::proto;

namespace {

void check_frame(const RelayFrame& f, ByteSpan wire) {
  VMBH_FUZZ_CHECK(is_known(type_of(f)));
  VMBH_FUZZ_CHECK(wire.size() <= kRelayMaxFrameSize);
  const Bytes again = encode_relay_frame(f);
  VMBH_FUZZ_CHECK(again.size() == wire.size() && std::equal(again.begin(), again.end(), wire.begin()));
  auto back = decode_relay_frame(again);
  VMBH_FUZZ_CHECK(back.ok() && *back == f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vmbh::fuzz::FuzzInput in(data, size);
  if (in.u8() % 2 == 0) {
    RelayFrameReader reader;
    Bytes fed;
    std::size_t consumed = 0;
    bool failed = false;
    while (!in.empty()) {
      const std::size_t n = std::size_t{in.u8()} % 64 + 1;
      const ByteSpan chunk = in.bytes(n);
      reader.feed(chunk);
      if (!failed) fed.insert(fed.end(), chunk.begin(), chunk.end());
      while (auto f = reader.next()) {
        if (!f->ok()) {
          VMBH_FUZZ_CHECK(f->error().field != nullptr);
          VMBH_FUZZ_CHECK(f->error().offset >= consumed && f->error().offset <= fed.size());
          VMBH_FUZZ_CHECK(reader.failed());
          failed = true;
          break;
        }
        VMBH_FUZZ_CHECK(!failed);
        const std::size_t len = encode_relay_frame(**f).size();
        check_frame(**f, ByteSpan(fed).subspan(consumed, len));
        consumed += len;
        VMBH_FUZZ_CHECK(consumed + reader.buffered() == fed.size());
      }
    }
  } else {
    const ByteSpan wire = in.rest();
    auto f = decode_relay_frame(wire);
    if (!f.ok()) {
      VMBH_FUZZ_CHECK(f.error().field != nullptr);
      VMBH_FUZZ_CHECK(f.error().offset <= wire.size());
      return 0;
    }
    check_frame(*f, wire);
  }
  return 0;
}
