// Shutdown IC host side: ask the guest to power off, reboot or hibernate,
// with or without force. The result is the guest's status (Linux: S_OK for
// shutdown/reboot, hibernate only if it supports hibernation, E_FAIL for any
// flags value outside 0..5).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "vmbh/host/ic_device.h"
#include "vmbh/protocols/shutdown.h"

namespace vmbh::host {

struct ShutdownParams {
  std::uint32_t flags = 0;  // shutdown_flags(action, force), or any raw value
  std::uint32_t reason_code = 0;
  std::uint32_t timeout_seconds = 0;
  std::string display_message = "vmbh: requested by the host";  // UTF-8
};

class ShutdownDevice : public IcDevice {
 public:
  explicit ShutdownDevice(IcDeviceOptions options = default_ic_options(),
                          DeviceIdentity identity = default_identity());
  static DeviceIdentity default_identity();
  static IcDeviceOptions default_ic_options();

  // `done` gets the guest's status (HRESULT), or a failure (timeout, closed...).
  void shutdown(bool force, Done<std::uint32_t> done);
  void reboot(bool force, Done<std::uint32_t> done);
  void hibernate(bool force, Done<std::uint32_t> done);
  void request(proto::ShutdownAction action, bool force, Done<std::uint32_t> done);
  void request(const ShutdownParams& params, Done<std::uint32_t> done);

  static constexpr Clock::duration kDefaultTimeout = std::chrono::seconds(10);
  void set_timeout(Clock::duration t) { timeout_ = t; }
  DeviceFacts facts() const override;

 private:
  Clock::duration timeout_ = kDefaultTimeout;
  std::optional<std::uint32_t> last_flags_;
  std::optional<std::uint32_t> last_status_;
};

std::string shutdown_flags_name(std::uint32_t flags);  // "reboot (force)", "flags 0x7"

}  // namespace vmbh::host
