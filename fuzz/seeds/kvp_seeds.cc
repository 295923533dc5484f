// Seeds for the `kvp` fuzz target: every wire operation as the host sends it and as
// the guest answers it (through the any-operation and the typed selectors). The
// daemon messages' seeds are in daemon_msgs_seeds.cc.
#include <cstdlib>
#include <optional>

#include "kvp_selectors.h"
#include "seeds/seeds.h"
#include "vmbh/protocols/kvp.h"

namespace {

using namespace vmbh::proto;
using namespace vmbh::fuzz;

vmbh::proto::Bytes with_selector(std::uint8_t selector, const Result<Bytes>& msg) {
  if (!msg.ok()) std::abort();  // a seed must encode
  Bytes out;
  out.reserve(msg->size() + 1);
  out.push_back(std::byte(selector));
  out.insert(out.end(), msg->begin(), msg->end());
  return out;
}

std::uint8_t typed_selector(KvpOperation op) {
  switch (op) {
    case KvpOperation::get:
      return kKvpWireGet;
    case KvpOperation::set:
      return kKvpWireSet;
    case KvpOperation::del:
      return kKvpWireDelete;
    case KvpOperation::enumerate:
      return kKvpWireEnumerate;
    case KvpOperation::get_ip_info:
    case KvpOperation::set_ip_info:
      return kKvpWireIpInfo;
  }
  return kKvpWireAny;
}

SeedList kvp_seeds() {
  const KvpIpAddress request_ip{"00:15:5D:00:01:02", kKvpAddrFamilyIpv4, 0, "", "", "", ""};
  const KvpIpAddress full_ip{"00:15:5D:00:01:02",
                             kKvpAddrFamilyIpv4 | kKvpAddrFamilyIpv6,
                             1,
                             "10.0.0.2;fe80::215:5dff:fe00:102",
                             "255.255.255.0;64",
                             "10.0.0.1",
                             "10.0.0.53;10.0.0.54"};
  const KvpMessage wire[] = {
      // host requests
      KvpGet{KvpPool::guest, "VirtualMachineName", KvpValue{}},
      KvpSet{KvpPool::external, "Key\xC3\xA9\xE2\x82\xAC", KvpValue::string("Value\xF0\x9F\x98\x80")},
      KvpSet{KvpPool::auto_external, "Counter", KvpValue::u32(42)},
      KvpSet{KvpPool::auto_internal, "Big", KvpValue::u64(0x0123456789ABCDEFull)},
      KvpDelete{KvpPool::external, "Key"},
      KvpEnumerate{KvpPool::automatic, 0, std::nullopt},
      KvpIpInfo{KvpOperation::get_ip_info, KvpPool::external, request_ip},
      KvpIpInfo{KvpOperation::set_ip_info, KvpPool::external, full_ip},
      // guest answers (SET, DELETE and SET_IP_INFO answer with the request unchanged)
      KvpGet{KvpPool::guest, "VirtualMachineName", KvpValue::string("")},
      KvpEnumerate{KvpPool::automatic, 5, KvpEntry{"OSName", KvpValue::string("Debian GNU/Linux")}},
      KvpIpInfo{KvpOperation::get_ip_info, KvpPool::external, full_ip},
  };
  SeedList seeds;
  for (const KvpMessage& m : wire) {
    seeds.push_back(with_selector(kKvpWireAny, encode_kvp(m)));
    seeds.push_back(with_selector(typed_selector(kvp_operation(m)), encode_kvp(m)));
  }
  return seeds;
}

}  // namespace

VMBH_REGISTER_SEEDS(kvp, kvp_seeds);
