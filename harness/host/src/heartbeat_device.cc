#include "vmbh/host/heartbeat_device.h"

#include <utility>

#include "vmbh/host/class_ids.h"
#include "vmbh/protocols/heartbeat.h"

namespace vmbh::host {

namespace {
std::string ms_string(Clock::duration d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return std::to_string(us / 1000) + "." + std::to_string(us % 1000 / 100);
}
}  // namespace

IcDeviceOptions HeartbeatOptions::default_ic_options() {
  IcDeviceOptions o;
  o.framework_versions = default_ic_framework_versions();
  o.message_versions = {proto::kLinuxHeartbeatVersions.begin(), proto::kLinuxHeartbeatVersions.end()};
  return o;
}

DeviceIdentity HeartbeatDevice::default_identity() {
  return {"heartbeat", class_ids::heartbeat(), class_ids::heartbeat()};
}

HeartbeatDevice::HeartbeatDevice(HeartbeatOptions options, DeviceIdentity identity)
    : IcDevice(std::move(identity), proto::IcMsgType::heartbeat, options.ic),
      options_(std::move(options)),
      next_sequence_(options_.first_sequence) {}

void HeartbeatDevice::on_ready() { next_due_ = now(); }

void HeartbeatDevice::record(HeartbeatSample s) {
  if (s.error.empty()) {
    ++count_;
    last_sequence_ = s.received;
    last_latency_ = s.latency;
  } else {
    ++missed_;
  }
  history_.push_back(std::move(s));
  while (history_.size() > options_.history) history_.pop_front();
}

void HeartbeatDevice::beat(Done<HeartbeatSample> done) {
  const std::uint64_t seq = next_sequence_++;
  const proto::Bytes body = proto::encode_to_bytes(proto::HeartbeatMsg{seq, {}});
  outstanding_ = true;
  send_request(proto::IcMsgType::heartbeat, body, options_.timeout,
               [this, seq, done = std::move(done)](Result<IcReply> r) {
                 outstanding_ = false;
                 HeartbeatSample s;
                 s.sent = seq;
                 if (!r.ok()) {
                   s.error = r.message();
                 } else {
                   s.status = r->status;
                   s.latency = r->latency;
                   auto m = proto::decode_heartbeat(r->body);
                   if (!m.ok()) {
                     s.error = Status::fail(name() + ": malformed heartbeat answer", m.error()).message();
                   } else {
                     s.received = m->seq_num;
                     if (r->status != proto::kHvSOk) {
                       s.error = name() + ": guest answered heartbeat " + std::to_string(seq) + " with " +
                                 hresult_string(r->status);
                     } else if (m->seq_num != seq + 1) {
                       s.error = name() + ": guest answered sequence " + std::to_string(seq) + " with " +
                                 std::to_string(m->seq_num) + ", expected " + std::to_string(seq + 1);
                     }
                   }
                 }
                 if (!s.error.empty() && r.ok()) note(s.error);
                 record(s);
                 if (!done) return;
                 if (s.error.empty()) {
                   done(std::move(s));
                 } else {
                   done(Status::fail(s.error));
                 }
               });
}

void HeartbeatDevice::on_tick(Clock::time_point now) {
  IcDevice::on_tick(now);
  if (!ready() || options_.period <= Clock::duration::zero() || now < next_due_) return;
  next_due_ = now + options_.period;
  if (outstanding_) {
    // Like a missed beat on Hyper-V: do not stack requests on a silent guest.
    if (!skip_noted_) note(name() + ": previous heartbeat still unanswered; skipping this period");
    skip_noted_ = true;
    return;
  }
  skip_noted_ = false;
  beat(nullptr);
}

DeviceFacts HeartbeatDevice::facts() const {
  DeviceFacts f = IcDevice::facts();
  f.emplace_back("last_sequence", last_sequence_ ? std::to_string(*last_sequence_) : "none");
  f.emplace_back("count", std::to_string(count_));
  f.emplace_back("missed", std::to_string(missed_));
  f.emplace_back("last_latency_ms", last_latency_ ? ms_string(*last_latency_) : "none");
  f.emplace_back(
      "period_ms",
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(options_.period).count()));
  return f;
}

}  // namespace vmbh::host
