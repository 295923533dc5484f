// VSS wire messages (host <-> guest). Input: selector byte, then the message body.
//   selector % 2 == 0: decode; on success re-encoding must reproduce the input
//                      exactly and decode to the same value.
//   selector % 2 == 1: decode a request, build Linux's answer and round-trip it.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "vmbh/protocols/vss.h"

using namespace vmbh::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vmbh::fuzz::FuzzInput in(data, size);
  const std::uint8_t selector = in.u8();
  const ByteSpan body = in.rest();
  auto m = decode_vss(body);
  if (!m.ok()) {
    VMBH_FUZZ_CHECK(m.error().field != nullptr);
    VMBH_FUZZ_CHECK(m.error().offset <= body.size());
    return 0;
  }
  VMBH_FUZZ_CHECK(is_known(m->op));
  if (selector % 2 == 0) {
    const Bytes wire = encode_vss(*m);
    VMBH_FUZZ_CHECK(wire.size() == body.size());
    VMBH_FUZZ_CHECK(std::equal(wire.begin(), wire.end(), body.begin()));
    auto again = decode_vss(wire);
    VMBH_FUZZ_CHECK(again.ok() && *again == *m);
  } else {
    const VssMessage answer = vss_linux_answer(*m);
    VMBH_FUZZ_CHECK(answer.op == m->op && answer.extra == m->extra && answer.reserved == m->reserved);
    const Bytes wire = encode_vss(answer);
    VMBH_FUZZ_CHECK(wire.size() == body.size());
    auto again = decode_vss(wire);
    VMBH_FUZZ_CHECK(again.ok() && *again == answer);
    if (m->op == VssOp::get_dm_info) VMBH_FUZZ_CHECK(again->flags == 0);
    if (m->op == VssOp::hot_backup) VMBH_FUZZ_CHECK(again->flags == kVssHbuNoAutoRecovery);
  }
  return 0;
}
