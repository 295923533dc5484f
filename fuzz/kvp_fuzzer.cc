// Fuzz target `kvp`: the KVP host<->guest wire message (any operation, or one
// operation's typed decoder). The kernel<->daemon messages of /dev/vmbus/hv_kvp
// are fuzzed by `daemon_msgs` (family 2).
// Input: a selector byte, then the message. Where decoding succeeds, the value must
// survive encode + decode unchanged.
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "kvp_selectors.h"
#include "vmbh/protocols/kvp.h"

namespace {

using namespace vmbh::proto;
using namespace vmbh::fuzz;

template <class T, class Decode>
void wire_round_trip(ByteSpan msg, Decode decode) {
  Result<T> first = decode(msg);
  if (!first.ok()) return;
  Result<Bytes> bytes = encode_kvp(KvpMessage(*first));
  VMBH_FUZZ_CHECK(bytes.ok());
  Result<T> second = decode(ByteSpan(*bytes));
  VMBH_FUZZ_CHECK(second.ok());
  VMBH_FUZZ_CHECK(*second == *first);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vmbh::fuzz::FuzzInput in(data, size);
  const auto selector = static_cast<std::uint8_t>(in.u8() % kKvpSelectorCount);
  const ByteSpan msg = in.rest();
  switch (selector) {
    case kKvpWireAny: {
      auto first = decode_kvp(msg);
      if (!first.ok()) break;
      auto bytes = encode_kvp(*first);
      VMBH_FUZZ_CHECK(bytes.ok());
      const bool ip = kvp_operation(*first) == KvpOperation::get_ip_info ||
                      kvp_operation(*first) == KvpOperation::set_ip_info;
      VMBH_FUZZ_CHECK(bytes->size() == (ip ? kKvpIpMessageSize : kKvpMessageSize));
      VMBH_FUZZ_CHECK(bytes->size() == msg.size());
      auto second = decode_kvp(*bytes);
      VMBH_FUZZ_CHECK(second.ok());
      VMBH_FUZZ_CHECK(*second == *first);
      break;
    }
    case kKvpWireGet:
      wire_round_trip<KvpGet>(msg, decode_kvp_get);
      break;
    case kKvpWireSet:
      wire_round_trip<KvpSet>(msg, decode_kvp_set);
      break;
    case kKvpWireDelete:
      wire_round_trip<KvpDelete>(msg, decode_kvp_delete);
      break;
    case kKvpWireEnumerate:
      wire_round_trip<KvpEnumerate>(msg, decode_kvp_enumerate);
      break;
    default:
      wire_round_trip<KvpIpInfo>(msg, decode_kvp_ip_info);
      break;
  }
  return 0;
}
