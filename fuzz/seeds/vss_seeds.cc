// Seeds for the `vss` target: selector byte, then a VSS message body.
#include "seeds/seeds.h"
#include "vmbh/protocols/vss.h"

namespace {

using namespace vmbh::proto;

vmbh::proto::Bytes with_selector(std::uint8_t selector, const Bytes& body) {
  Bytes out;
  out.reserve(1 + body.size());
  out.push_back(std::byte{selector});
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

vmbh::fuzz::SeedList vss_seeds() {
  vmbh::fuzz::SeedList seeds;
  for (std::uint8_t op = 0; op < kVssOpCount; ++op) {
    const Bytes body = encode_vss(make_vss_request(static_cast<VssOp>(op)));
    seeds.push_back(with_selector(0, body));  // request
    seeds.push_back(with_selector(1, body));  // Linux's answer
    seeds.push_back(with_selector(0, encode_vss(vss_linux_answer(make_vss_request(static_cast<VssOp>(op))))));
  }
  VssMessage freeze = make_vss_request(VssOp::freeze);
  freeze.extra.assign(64, std::byte{0x11});  // FREEZE with LUN data
  seeds.push_back(with_selector(0, encode_vss(freeze)));
  seeds.push_back(with_selector(1, encode_vss(make_vss_request(VssOp::get_dm_info, 0xFFFFFFFF))));
  return seeds;
}

}  // namespace

VMBH_REGISTER_SEEDS(vss, vss_seeds);
