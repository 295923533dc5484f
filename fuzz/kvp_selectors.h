// Selector byte of the `kvp` fuzz target (input[0] % kKvpSelectorCount), shared
// by kvp_fuzzer.cc and seeds/kvp_seeds.cc.
#pragma once

#include <cstdint>

namespace vmbh::fuzz {

enum KvpSelector : std::uint8_t {
  kKvpWireAny = 0,  // decode_kvp: any operation
  kKvpWireGet = 1,
  kKvpWireSet = 2,
  kKvpWireDelete = 3,
  kKvpWireEnumerate = 4,
  kKvpWireIpInfo = 5,  // GET_IP_INFO and SET_IP_INFO
  kKvpSelectorCount = 6,
};

}  // namespace vmbh::fuzz
