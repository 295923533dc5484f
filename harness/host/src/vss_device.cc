#include "vmbh/host/vss_device.h"

#include <utility>

#include "vmbh/host/class_ids.h"

namespace vmbh::host {

IcDeviceOptions VssOptions::default_ic_options() {
  IcDeviceOptions o;
  o.framework_versions = default_ic_framework_versions();
  o.message_versions = {proto::kLinuxVssVersions.begin(), proto::kLinuxVssVersions.end()};
  o.serialize = true;
  return o;
}

DeviceIdentity VssDevice::default_identity() { return {"vss", class_ids::vss(), class_ids::vss()}; }

VssDevice::VssDevice(VssOptions options, DeviceIdentity identity)
    : IcDevice(std::move(identity), proto::IcMsgType::vss, options.ic), options_(std::move(options)) {}

void VssDevice::freeze(Done<VssResult> done) { request(proto::VssOp::freeze, 0, std::move(done)); }
void VssDevice::thaw(Done<VssResult> done) { request(proto::VssOp::thaw, 0, std::move(done)); }
void VssDevice::hot_backup(Done<VssResult> done) { request(proto::VssOp::hot_backup, 0, std::move(done)); }

void VssDevice::request(proto::VssOp op, std::uint32_t flags, Done<VssResult> done) {
  request(proto::make_vss_request(op, flags), std::move(done));
}

void VssDevice::request(const proto::VssMessage& message, Done<VssResult> done) {
  const std::string label(proto::to_string(message.op));
  const auto timeout = message.op == proto::VssOp::freeze ? options_.freeze_timeout : options_.timeout;
  send_request(
      proto::IcMsgType::vss, proto::encode_vss(message), timeout,
      [this, op = message.op, label, done = std::move(done)](Result<IcReply> r) {
        if (!r.ok()) {
          done(r.status());
          return;
        }
        auto answer = proto::decode_vss(r->body);
        if (!answer.ok()) {
          Status s = Status::fail(name() + ": malformed answer to " + label, answer.error());
          note(s.message());
          done(std::move(s));
          return;
        }
        if (answer->op != op) {
          Status s = Status::fail(name() + ": guest answered " + label + " with operation " +
                                  std::string(proto::to_string(answer->op)));
          note(s.message());
          done(std::move(s));
          return;
        }
        last_ = label + ": " + hresult_string(r->status);
        done(VssResult{op, r->status, answer->flags, r->latency});
      },
      label);
}

DeviceFacts VssDevice::facts() const {
  DeviceFacts f = IcDevice::facts();
  if (last_) f.emplace_back("last", *last_);
  return f;
}

}  // namespace vmbh::host
