#include "vmbh/host/shutdown_device.h"

#include <utility>

#include "vmbh/host/class_ids.h"

namespace vmbh::host {

std::string shutdown_flags_name(std::uint32_t flags) {
  const auto action = proto::shutdown_action(flags);
  if (!action) return "flags " + std::to_string(flags);
  const char* base = *action == proto::ShutdownAction::shutdown ? "shutdown"
                     : *action == proto::ShutdownAction::reboot ? "reboot"
                                                                : "hibernate";
  return std::string(base) + (proto::shutdown_forced(flags) ? " (force)" : "");
}

DeviceIdentity ShutdownDevice::default_identity() {
  return {"shutdown", class_ids::shutdown(), class_ids::shutdown()};
}

IcDeviceOptions ShutdownDevice::default_ic_options() {
  IcDeviceOptions o;
  o.framework_versions = default_ic_framework_versions();
  o.message_versions = {proto::kLinuxShutdownVersions.begin(), proto::kLinuxShutdownVersions.end()};
  return o;
}

ShutdownDevice::ShutdownDevice(IcDeviceOptions options, DeviceIdentity identity)
    : IcDevice(std::move(identity), proto::IcMsgType::shutdown, std::move(options)) {}

void ShutdownDevice::shutdown(bool force, Done<std::uint32_t> done) {
  request(proto::ShutdownAction::shutdown, force, std::move(done));
}
void ShutdownDevice::reboot(bool force, Done<std::uint32_t> done) {
  request(proto::ShutdownAction::reboot, force, std::move(done));
}
void ShutdownDevice::hibernate(bool force, Done<std::uint32_t> done) {
  request(proto::ShutdownAction::hibernate, force, std::move(done));
}
void ShutdownDevice::request(proto::ShutdownAction action, bool force, Done<std::uint32_t> done) {
  ShutdownParams p;
  p.flags = proto::shutdown_flags(action, force);
  request(p, std::move(done));
}

void ShutdownDevice::request(const ShutdownParams& params, Done<std::uint32_t> done) {
  proto::ShutdownMsg m;
  m.reason_code = params.reason_code;
  m.timeout_seconds = params.timeout_seconds;
  m.flags = params.flags;
  const std::string label = shutdown_flags_name(params.flags);
  if (auto s = m.set_display_message(params.display_message); !s.ok()) {
    done(Status::fail(name() + ": cannot send " + label + ": display message", s.error()));
    return;
  }
  last_flags_ = params.flags;
  send_request(
      proto::IcMsgType::shutdown, proto::encode_to_bytes(m), timeout_,
      [this, done = std::move(done)](Result<IcReply> r) {
        if (!r.ok()) {
          done(r.status());
          return;
        }
        last_status_ = r->status;
        done(r->status);
      },
      label);
}

DeviceFacts ShutdownDevice::facts() const {
  DeviceFacts f = IcDevice::facts();
  if (last_flags_) f.emplace_back("last_request", shutdown_flags_name(*last_flags_));
  if (last_status_) f.emplace_back("last_status", hresult_string(*last_status_));
  return f;
}

}  // namespace vmbh::host
