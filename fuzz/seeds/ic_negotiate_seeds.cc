// Seeds for ic_negotiate: whole IC packets. Host offers for every IC service
// Linux drives, the same padded to 8 bytes as the ring delivers them, Linux's
// answers (success and failure), and edge cases (zero counts, no common
// version, old hosts).
#include <span>
#include <vector>

#include "seeds/seeds.h"
#include "vmbh/protocols/ic.h"

namespace {

using namespace vmbh::proto;

void add_offer(vmbh::fuzz::SeedList& seeds, std::span<const IcVersion> fw, std::span<const IcVersion> srv,
               std::span<const IcVersion> guest_fw, std::span<const IcVersion> guest_srv) {
  auto offer = host_negotiate_offer(fw, srv);
  if (!offer) return;
  seeds.push_back(*offer);
  Bytes padded = *offer;
  padded.resize((padded.size() + 7) / 8 * 8, std::byte{0});
  if (padded.size() != offer->size()) seeds.push_back(padded);
  auto reply = linux_negotiate_reply(padded, guest_fw, guest_srv);
  if (reply) seeds.push_back(reply->packet);
}

vmbh::fuzz::SeedList make() {
  vmbh::fuzz::SeedList seeds;
  const auto& ufw = kLinuxUtilFrameworkVersions;
  const auto& vfw = kLinuxVssFcopyFrameworkVersions;
  add_offer(seeds, ufw, kLinuxHeartbeatVersions, ufw, kLinuxHeartbeatVersions);
  add_offer(seeds, ufw, kLinuxShutdownVersions, ufw, kLinuxShutdownVersions);
  add_offer(seeds, ufw, kLinuxTimesyncVersions, ufw, kLinuxTimesyncVersions);
  add_offer(seeds, ufw, kLinuxKvpVersions, ufw, kLinuxKvpVersions);
  add_offer(seeds, vfw, kLinuxVssVersions, vfw, kLinuxVssVersions);
  add_offer(seeds, vfw, kLinuxFcopyVersions, vfw, kLinuxFcopyVersions);
  // An old (2008) host: framework 1.0 and service 1.0 only.
  const std::vector<IcVersion> v1{{1, 0}};
  add_offer(seeds, v1, v1, ufw, kLinuxShutdownVersions);
  // No common service version: Linux answers 0/0.
  const std::vector<IcVersion> odd{{9, 0}, {3, 5}, {2, 0}, {7, 1}};
  add_offer(seeds, ufw, odd, ufw, kLinuxTimesyncVersions);
  // Zero counts.
  add_offer(seeds, std::span<const IcVersion>{}, std::span<const IcVersion>{}, ufw, kLinuxShutdownVersions);
  return seeds;
}

}  // namespace

VMBH_REGISTER_SEEDS(ic_negotiate, make);
