// Guest agent protocol (docs/agent-protocol.md). Input: selector byte, then data.
//   selector % 13 == 0: the FrameAssembler fed the data in chunks whose sizes come
//                       from the data itself; every frame it yields must re-encode
//                       to the bytes it came from, and its payload goes through the
//                       typed decoder of its type/op.
//   selector % 13 == 1: decode_frame over the whole data; success => byte-exact re-encoding.
//   selector % 13 >= 2: one of the 11 payload decoders; success => encode(decode(x)) == x.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "vmbh/protocols/agent.h"

using namespace vmbh::proto;

namespace {

template <class Decode>
void round_trip(ByteSpan payload, Decode decode) {
  auto m = decode(payload);
  if (!m.ok()) {
    VMBH_FUZZ_CHECK(m.error().field != nullptr);
    VMBH_FUZZ_CHECK(m.error().offset <= payload.size());
    return;
  }
  const Bytes wire = encode_payload(*m);
  VMBH_FUZZ_CHECK(wire.size() == payload.size());
  VMBH_FUZZ_CHECK(std::equal(wire.begin(), wire.end(), payload.begin()));
  auto again = decode(wire);
  VMBH_FUZZ_CHECK(again.ok() && *again == *m);
}

void decode_payload(unsigned which, ByteSpan p) {
  switch (which % 11) {
    case 0:
      return round_trip(p, decode_ping_request);
    case 1:
      return round_trip(p, decode_ping_response);
    case 2:
      return round_trip(p, decode_exec_request);
    case 3:
      return round_trip(p, decode_exec_response);
    case 4:
      return round_trip(p, decode_read_file_request);
    case 5:
      return round_trip(p, decode_read_file_response);
    case 6:
      return round_trip(p, decode_write_file_request);
    case 7:
      return round_trip(p, decode_write_file_response);
    case 8:
      return round_trip(p, decode_stat_request);
    case 9:
      return round_trip(p, decode_stat_response);
    default:
      return round_trip(p, decode_error_reply);
  }
}

// The typed decoder for a frame, as the agent (requests) or client (answers) would pick it.
void decode_frame_payload(const Frame& f) {
  if (f.type == FrameType::error) return decode_payload(10, f.payload);
  if (!is_known(static_cast<AgentOp>(f.op))) return;
  const unsigned base = (f.op - 1u) * 2u;
  decode_payload(f.type == FrameType::request ? base : base + 1, f.payload);
}

void check_frame(const Frame& f) {
  VMBH_FUZZ_CHECK(is_known(f.type));
  VMBH_FUZZ_CHECK(f.payload.size() <= kAgentMaxPayload);
  const Bytes wire = encode_frame(f);
  auto again = decode_frame(wire);
  VMBH_FUZZ_CHECK(again.ok() && *again == f);
  decode_frame_payload(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vmbh::fuzz::FuzzInput in(data, size);
  const unsigned selector = in.u8() % 13u;
  if (selector == 0) {
    // Small max payload so length-limit paths are reached with small inputs too.
    const std::uint8_t limit_sel = in.u8();
    FrameAssembler a(limit_sel < 16 ? limit_sel : kAgentMaxPayload);
    std::size_t fed = 0, consumed = 0;
    while (!in.empty()) {
      const std::size_t n = std::size_t{in.u8()} % 64 + 1;
      const ByteSpan chunk = in.bytes(n);
      a.feed(chunk);
      fed += chunk.size();
      while (auto ev = a.next()) {
        if (ev->frame) {
          check_frame(*ev->frame);
          consumed += kAgentHeaderSize + ev->frame->payload.size();
        } else {
          VMBH_FUZZ_CHECK(ev->error.has_value() && ev->discarded > 0);
          consumed += ev->discarded;
        }
        VMBH_FUZZ_CHECK(consumed + a.buffered() == fed);
      }
    }
    // Giving up on what is left must drain it in finitely many events.
    while (auto ev = a.abandon_partial()) {
      VMBH_FUZZ_CHECK(ev->discarded > 0);
      consumed += ev->discarded;
      while (auto more = a.next()) {
        consumed += more->frame ? kAgentHeaderSize + more->frame->payload.size() : more->discarded;
      }
    }
    VMBH_FUZZ_CHECK(a.buffered() == 0 && consumed == fed);
  } else if (selector == 1) {
    const ByteSpan body = in.rest();
    auto f = decode_frame(body);
    if (!f.ok()) {
      VMBH_FUZZ_CHECK(f.error().field != nullptr);
      return 0;
    }
    const Bytes wire = encode_frame(*f);
    VMBH_FUZZ_CHECK(wire.size() == body.size() && std::equal(wire.begin(), wire.end(), body.begin()));
    check_frame(*f);
  } else {
    decode_payload(selector - 2, in.rest());
  }
  return 0;
}
