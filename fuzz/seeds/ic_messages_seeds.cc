// Seeds for ic_messages: a selector byte, then a heartbeat / shutdown /
// timesync v3 / timesync v4 body, or (selector 4) a whole IC packet of each
// type.
#include <algorithm>

#include "seeds/seeds.h"
#include "vmbh/protocols/heartbeat.h"
#include "vmbh/protocols/ic.h"
#include "vmbh/protocols/shutdown.h"
#include "vmbh/protocols/timesync.h"

namespace {

using namespace vmbh::proto;

Bytes with_selector(std::uint8_t selector, const Bytes& rest) {
  Bytes out(rest.size() + 1);
  out[0] = std::byte{selector};
  std::copy(rest.begin(), rest.end(), out.begin() + 1);
  return out;
}

vmbh::fuzz::SeedList make() {
  HeartbeatMsg hb;
  hb.seq_num = 0x1000;

  ShutdownMsg sd;
  sd.reason_code = 0x80000000u;
  sd.timeout_seconds = 30;
  sd.flags = shutdown_flags(ShutdownAction::reboot, true);
  (void)sd.set_display_message("Restart requested by the host");

  TimesyncData v3;
  v3.parenttime = 133500000000000000ull;  // 2024
  v3.roundtriptime = 16;
  v3.flags = kTimesyncFlagSync;

  TimesyncRefData v4;
  v4.parenttime = 133500000000000000ull;
  v4.vmreferencetime = 123456789;
  v4.flags = kTimesyncFlagSample;
  v4.stratum = 2;

  const Bytes hb_body = encode_to_bytes(hb), sd_body = encode_to_bytes(sd), v3_body = encode_to_bytes(v3),
              v4_body = encode_to_bytes(v4);
  vmbh::fuzz::SeedList seeds;
  seeds.push_back(with_selector(0, hb_body));
  seeds.push_back(with_selector(1, sd_body));
  seeds.push_back(with_selector(2, v3_body));
  seeds.push_back(with_selector(3, v4_body));

  seeds.push_back(with_selector(
      4, encode_ic_message(make_ic_request_header(IcMsgType::heartbeat, {3, 0}, {3, 0}, 1), hb_body)));
  seeds.push_back(with_selector(
      4, encode_ic_message(make_ic_request_header(IcMsgType::shutdown, {3, 0}, {3, 2}, 2), sd_body)));
  seeds.push_back(with_selector(
      4, encode_ic_message(make_ic_request_header(IcMsgType::timesync, {3, 0}, {3, 0}, 3), v3_body)));
  seeds.push_back(with_selector(
      4, encode_ic_message(make_ic_request_header(IcMsgType::timesync, {3, 0}, {4, 0}, 4), v4_body)));
  auto offer = host_negotiate_offer(kLinuxUtilFrameworkVersions, kLinuxTimesyncVersions);
  if (offer) seeds.push_back(with_selector(4, *offer));
  return seeds;
}

}  // namespace

VMBH_REGISTER_SEEDS(ic_messages, make);
