// VSS (backup) IC host side: FREEZE, THAW, HOT_BACKUP (the feature check:
// Linux answers flags VSS_HBU_NO_AUTO_RECOVERY) and any other operation. One
// operation in flight at a time, like KVP.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "vmbh/host/ic_device.h"
#include "vmbh/protocols/vss.h"

namespace vmbh::host {

struct VssOptions {
  IcDeviceOptions ic = default_ic_options();
  // Linux gives its daemon 15 minutes to freeze (VSS_FREEZE_TIMEOUT) and 30 s
  // for anything else (HV_UTIL_TIMEOUT) before answering E_FAIL itself.
  Clock::duration freeze_timeout = std::chrono::minutes(16);
  Clock::duration timeout = std::chrono::seconds(35);

  static IcDeviceOptions default_ic_options();
};

struct VssResult {
  proto::VssOp op = proto::VssOp::create;
  std::uint32_t status = 0;
  std::uint32_t flags = 0;  // the answer's flags word (HOT_BACKUP: 5 from Linux)
  Clock::duration latency{};
  bool ok() const { return status == proto::kHvSOk; }
};

class VssDevice : public IcDevice {
 public:
  explicit VssDevice(VssOptions options = {}, DeviceIdentity identity = default_identity());
  static DeviceIdentity default_identity();

  void freeze(Done<VssResult> done);
  void thaw(Done<VssResult> done);
  void hot_backup(Done<VssResult> done);
  void request(proto::VssOp op, std::uint32_t flags, Done<VssResult> done);
  void request(const proto::VssMessage& message, Done<VssResult> done);

  // How long the next requests wait for the guest, FREEZE included (defaults:
  // VssOptions::timeout and freeze_timeout).
  void set_timeouts(Clock::duration t, Clock::duration freeze) {
    options_.timeout = t;
    options_.freeze_timeout = freeze;
  }
  DeviceFacts facts() const override;

 private:
  VssOptions options_;
  std::optional<std::string> last_;
};

}  // namespace vmbh::host
