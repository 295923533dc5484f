// The integration-component devices `vmbh serve` offers, and the control
// requests that drive them (control.proto's device operations).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "control_server.h"
#include "serve_options.h"
#include "vmbh/host/channel_manager.h"
#include "vmbh/host/fcopy_device.h"
#include "vmbh/host/heartbeat_device.h"
#include "vmbh/host/kvp_device.h"
#include "vmbh/host/shutdown_device.h"
#include "vmbh/host/timesync_device.h"
#include "vmbh/host/vss_device.h"

namespace vmbh::cli {

class Devices {
 public:
  // Creates the devices and adds them to `manager` (offered when the guest asks).
  // `qemu_started`: when QEMU was spawned; the guest's Hyper-V reference
  // counter (QEMU_CLOCK_VIRTUAL / 100 ns with our patches) counts from about
  // then, which is what timesync v4's vmreferencetime needs.
  // guest_reference_time: the guest's partition reference time now (100 ns),
  // when known (the relay asks QEMU for it); qemu_started: the fallback
  // before the first answer.
  Devices(host::ChannelManager& manager, const ServeOptions& options, host::Clock::time_point qemu_started,
          std::function<std::optional<std::uint64_t>()> guest_reference_time = {});

  void handle(const control::Request& req, ControlServer::Reply reply);

 private:
  // A device operation needs its channel open and its IC negotiated.
  bool usable(const host::IcDevice& d, ControlServer::Reply& reply) const;
  // SetIcVersions: validates, then sets what `name` offers next time.
  control::Response set_ic_versions(const control::SetIcVersions& req);

  host::ChannelManager& manager_;
  host::HeartbeatDevice* heartbeat_ = nullptr;
  host::ShutdownDevice* shutdown_ = nullptr;
  host::TimesyncDevice* timesync_ = nullptr;
  host::KvpDevice* kvp_ = nullptr;
  host::VssDevice* vss_ = nullptr;
  host::FcopyDevice* fcopy_ = nullptr;
  // Every IC device by name, with the versions it offered when created
  // (what an empty SetIcVersions list goes back to).
  struct Ic {
    host::IcDevice* device = nullptr;
    std::vector<proto::IcVersion> default_framework;
    std::vector<proto::IcVersion> default_message;
  };
  std::map<std::string, Ic> ics_;
};

}  // namespace vmbh::cli
