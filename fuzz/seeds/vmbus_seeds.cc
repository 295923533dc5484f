// Seeds for the vmbus_channel_msg, synic and gpadl fuzz targets, built with
// the codecs' own encoders.
#include <cstdint>
#include <numeric>
#include <optional>
#include <vector>

#include "seeds/seeds.h"
#include "vmbh/protocols/gpadl.h"
#include "vmbh/protocols/synic.h"
#include "vmbh/protocols/vmbus.h"

namespace {

using namespace vmbh::proto;
using vmbh::fuzz::SeedList;

const Guid kHeartbeat = Guid::from_string("57164f39-9115-4e78-ab55-382f3bd5422d");
const Guid kInstance = Guid::from_string("eb765408-105f-49b6-b4aa-c123b64d17d4");

std::vector<std::uint64_t> pfn_run(std::size_t n, std::uint64_t first) {
  std::vector<std::uint64_t> v(n);
  std::iota(v.begin(), v.end(), first);
  return v;
}

// One message of every type as a guest or host at `v` would send it.
std::vector<ChannelMessage> every_type(VmbusVersion v) {
  OfferChannel offer;
  offer.if_type = kHeartbeat;
  offer.if_instance = kInstance;
  offer.chn_flags = kChannelEnumerateDeviceInterface;
  offer.child_relid = 14;
  offer.interrupt_flags = 1;
  offer.connection_id = 30;
  OpenChannel open{14, 14, kLinuxFirstGpadlHandle, 0, 16, {}};
  auto gpadl = split_gpadl(14, kLinuxFirstGpadlHandle, pfn_run(32, 0x10000));
  InitiateContact ic;
  ic.version_requested = raw(v);
  if (v >= VmbusVersion::win10_v5) {
    ic.msg_sint = 2;
  } else {
    ic.interrupt_page = 0x1000000;
  }
  ic.monitor_page1 = 0x1001000;
  ic.monitor_page2 = 0x1002000;
  TlConnectRequest tl{kInstance, kHeartbeat, std::nullopt};
  if (has_feature(v, VmbusFeature::tl_connect_silo_id)) tl.silo_id = kInstance;
  std::vector<ChannelMessage> all = {
      offer,
      RescindChannelOffer{14},
      RequestOffers{},
      AllOffersDelivered{},
      open,
      OpenChannelResult{14, 14, 0},
      CloseChannel{14},
      gpadl->header,
      gpadl->bodies.at(0),
      GpadlCreated{14, kLinuxFirstGpadlHandle, 0},
      GpadlTeardown{14, kLinuxFirstGpadlHandle},
      GpadlTorndown{kLinuxFirstGpadlHandle},
      RelidReleased{14},
      ic,
      VersionResponse{1, 0, 0, v >= VmbusVersion::win10_v5 ? 4u : 0u},
      Unload{},
      UnloadResponse{},
      tl,
      ModifyChannel{14, 1},
      TlConnectResult{kInstance, kHeartbeat, 0},
      ModifyChannelResponse{14, 0},
  };
  std::vector<ChannelMessage> out;
  for (const auto& m : all) {
    if (channel_message_exists(message_type(m), v)) out.push_back(m);
  }
  return out;
}

std::size_t version_index(VmbusVersion v) {
  for (std::size_t i = 0; i < kVmbusVersions.size(); ++i) {
    if (kVmbusVersions[i].version == v) return i;
  }
  return 0;
}

SeedList channel_msg_seeds() {
  SeedList seeds;
  for (VmbusVersion v :
       {VmbusVersion::win8, VmbusVersion::win10_v4_1, VmbusVersion::win10_v5_1, VmbusVersion::win10_v5_3}) {
    for (const auto& m : every_type(v)) {
      Bytes s{std::byte(static_cast<std::uint8_t>(version_index(v)))};
      const Bytes msg = encode(m, v);
      s.insert(s.end(), msg.begin(), msg.end());
      seeds.push_back(std::move(s));
    }
  }
  return seeds;
}

Bytes with_selector(std::uint8_t selector, const Bytes& frame) {
  Bytes s{std::byte{selector}};
  s.insert(s.end(), frame.begin(), frame.end());
  return s;
}

SeedList synic_seeds() {
  SeedList seeds;
  const VmbusVersion v = VmbusVersion::win10_v5_3;
  const auto sel = static_cast<std::uint8_t>(version_index(v) << 1);
  // Host -> guest messages in a SIMP slot, guest -> host ones in a post-message input.
  for (const auto& m : every_type(v)) {
    const Bytes body = encode(m, v);
    if (auto slot = make_synic_message(1, body, 1, false); slot.ok()) {
      seeds.push_back(with_selector(sel, encode(*slot)));
    }
    if (auto post = make_post_message_input(kVmbusMessageConnectionId4, body); post.ok()) {
      seeds.push_back(with_selector(static_cast<std::uint8_t>(sel | 1), encode(*post)));
    }
  }
  seeds.push_back(with_selector(0, encode(SynicMessage{})));  // empty slot
  const Bytes timer = bytes_of(0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8);
  if (auto t = make_synic_message(static_cast<std::uint32_t>(HvMessageType::timer_expired), timer, 0, true);
      t.ok()) {
    seeds.push_back(with_selector(0, encode(*t)));
  }
  return seeds;
}

void add_record(Bytes& s, const ChannelMessage& m) {
  const Bytes msg = encode(m, VmbusVersion::win10_v5_3);
  s.push_back(std::byte(static_cast<std::uint8_t>(msg.size())));
  s.insert(s.end(), msg.begin(), msg.end());
}

Bytes gpadl_sequence(std::uint8_t options, const GpadlMessages& msgs) {
  Bytes s{std::byte{options}};
  add_record(s, msgs.header);
  for (const auto& b : msgs.bodies) add_record(s, b);
  return s;
}

SeedList gpadl_seeds() {
  SeedList seeds;
  for (std::size_t n : {1u, 26u, 27u, 54u, 55u, 256u}) {
    auto m = split_gpadl(14, kLinuxFirstGpadlHandle, pfn_run(n, 0x20000));
    if (m.ok()) seeds.push_back(gpadl_sequence(0, *m));
  }
  // Numbered bodies under the sequential policy, and the 64-word cap.
  if (auto m = split_gpadl(3, 9, pfn_run(90, 0x30000)); m.ok()) {
    for (std::size_t i = 0; i < m->bodies.size(); ++i)
      m->bodies[i].msgnumber = static_cast<std::uint32_t>(i + 1);
    seeds.push_back(gpadl_sequence(1, *m));
    seeds.push_back(gpadl_sequence(2, *m));
  }
  // An offset range, and two ranges in one GPADL.
  if (auto m = split_gpadl(3, 10, pfn_run(3, 0x40000), 8192, 0x800); m.ok()) {
    seeds.push_back(gpadl_sequence(0, *m));
  }
  GpadlHeader two;
  two.gpadl = 11;
  two.rangecount = 2;
  two.byte_count = 4096;
  two.pfns.push_back(0x50000);
  two.pfns.push_back(4096);  // range 2: byte_count 4096, byte_offset 0
  two.pfns.push_back(0x60000);
  two.range_buflen = 8 + 3 * 8;
  Bytes s{std::byte{0}};
  add_record(s, two);
  seeds.push_back(std::move(s));
  return seeds;
}

}  // namespace

VMBH_REGISTER_SEEDS(vmbus_channel_msg, channel_msg_seeds);
VMBH_REGISTER_SEEDS(synic, synic_seeds);
VMBH_REGISTER_SEEDS(gpadl, gpadl_seeds);
