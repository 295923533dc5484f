#include "vmbh/host/timesync_device.h"

#include <chrono>
#include <utility>

#include "vmbh/host/class_ids.h"

namespace vmbh::host {

IcDeviceOptions TimesyncOptions::default_ic_options() {
  IcDeviceOptions o;
  o.framework_versions = default_ic_framework_versions();
  o.message_versions = {proto::kLinuxTimesyncVersions.begin(), proto::kLinuxTimesyncVersions.end()};
  return o;
}

DeviceIdentity TimesyncDevice::default_identity() {
  return {"timesync", class_ids::timesync(), class_ids::timesync()};
}

std::uint64_t TimesyncDevice::system_hv_time() {
  const auto t = std::chrono::time_point_cast<proto::HvTicks>(std::chrono::system_clock::now());
  return proto::sys_time_to_hv_time(t).value_or(0);
}

TimesyncDevice::TimesyncDevice(TimesyncOptions options, DeviceIdentity identity)
    : IcDevice(std::move(identity), proto::IcMsgType::timesync, options.ic), options_(std::move(options)) {
  if (!options_.host_clock) options_.host_clock = &TimesyncDevice::system_hv_time;
}

std::uint64_t TimesyncDevice::host_time() const {
  return options_.host_clock() + static_cast<std::uint64_t>(offset_);
}

void TimesyncDevice::sync(Done<TimesyncResult> done) { send(proto::kTimesyncFlagSync, std::move(done)); }
void TimesyncDevice::sample(Done<TimesyncResult> done) { send(proto::kTimesyncFlagSample, std::move(done)); }

void TimesyncDevice::send(std::uint8_t flags, Done<TimesyncResult> done) {
  if (state() == IcState::closed) {
    done(Status::fail(name() + ": cannot send timesync: the channel is not open"));
    return;
  }
  // The layout needs the negotiated version: wait for it rather than guess.
  when_negotiated([this, flags, done = std::move(done)](const Status& s) mutable {
    if (!s.ok()) {
      done(Status::fail(name() + ": cannot send timesync: " + s.message()));
      return;
    }
    TimesyncResult res;
    res.flags = flags;
    res.ref_layout = uses_ref_layout();
    res.parenttime = host_time();
    proto::TimesyncMsg msg;
    if (res.ref_layout) {
      proto::TimesyncRefData d;
      d.parenttime = res.parenttime;
      d.vmreferencetime = options_.reference_clock ? options_.reference_clock() : 0;
      d.flags = flags;
      msg = d;
    } else {
      proto::TimesyncData d;
      d.parenttime = res.parenttime;
      d.flags = flags;
      msg = d;
    }
    const char* label = flags == proto::kTimesyncFlagSync     ? "SYNC"
                        : flags == proto::kTimesyncFlagSample ? "SAMPLE"
                        : flags == proto::kTimesyncFlagProbe  ? "PROBE"
                                                              : "timesync";
    send_request(
        proto::IcMsgType::timesync, proto::encode_to_bytes(msg), options_.timeout,
        [this, res, done = std::move(done)](Result<IcReply> r) mutable {
          if (!r.ok()) {
            done(r.status());
            return;
          }
          // Linux answers with the body unchanged; a body it could not have
          // read is malformed.
          auto echoed = proto::decode_timesync(r->body, message_version());
          if (!echoed.ok()) {
            done(Status::fail(name() + ": malformed timesync answer", echoed.error()));
            return;
          }
          res.status = r->status;
          res.latency = r->latency;
          last_ = res;
          done(res);
        },
        label);
  });
}

void TimesyncDevice::on_ready() {
  sync_due_ = true;
  next_due_ = now();
}

void TimesyncDevice::on_tick(Clock::time_point now) {
  IcDevice::on_tick(now);
  if (!ready() || options_.period <= Clock::duration::zero() || periodic_outstanding_ || now < next_due_)
    return;
  periodic_outstanding_ = true;
  ++periodic_sent_;
  const std::uint8_t flags = sync_due_ ? proto::kTimesyncFlagSync : proto::kTimesyncFlagSample;
  sync_due_ = false;
  // The next one is due a period after the answer (or the failure), as on Hyper-V.
  send(flags, [this](const Result<TimesyncResult>&) {
    periodic_outstanding_ = false;
    next_due_ = this->now() + options_.period;
  });
}

DeviceFacts TimesyncDevice::facts() const {
  DeviceFacts f = IcDevice::facts();
  if (ready()) f.emplace_back("layout", uses_ref_layout() ? "4.0 (ref data)" : "3.0 (parent/child time)");
  f.emplace_back("offset_100ns", std::to_string(offset_));
  f.emplace_back("reference_clock", options_.reference_clock ? "yes" : "none (vmreferencetime 0)");
  f.emplace_back(
      "period_ms",
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(options_.period).count()));
  f.emplace_back("periodic_sent", std::to_string(periodic_sent_));
  if (last_) {
    f.emplace_back("last_flags", std::to_string(last_->flags));
    f.emplace_back("last_parenttime", std::to_string(last_->parenttime));
    f.emplace_back("last_status", hresult_string(last_->status));
  }
  return f;
}

}  // namespace vmbh::host
