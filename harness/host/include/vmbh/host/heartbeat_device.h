// Heartbeat IC host side: a request every `period`; Linux answers each with
// the sequence number + 1 (hv_util.c heartbeat_onchannelcallback).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

#include "vmbh/host/ic_device.h"

namespace vmbh::host {

struct HeartbeatOptions {
  IcDeviceOptions ic = default_ic_options();
  Clock::duration period = std::chrono::seconds(2);  // zero: only beat() sends
  Clock::duration timeout = std::chrono::seconds(5);
  std::uint64_t first_sequence = 0;
  std::size_t history = 64;  // samples kept

  static IcDeviceOptions default_ic_options();
};

// One heartbeat request.
struct HeartbeatSample {
  std::uint64_t sent = 0;
  std::optional<std::uint64_t> received;  // the guest's seq_num, when it answered
  std::uint32_t status = 0;
  Clock::duration latency{};
  std::string error;  // why the beat failed ("" when it succeeded)
};

class HeartbeatDevice : public IcDevice {
 public:
  explicit HeartbeatDevice(HeartbeatOptions options = {}, DeviceIdentity identity = default_identity());
  static DeviceIdentity default_identity();

  // Sends one heartbeat now. Succeeds when the guest answers S_OK with the
  // sequence number + 1; a wrong number or status fails with the reason (the
  // sample is recorded either way).
  void beat(Done<HeartbeatSample> done);

  void on_tick(Clock::time_point now) override;
  DeviceFacts facts() const override;

  const std::deque<HeartbeatSample>& history() const { return history_; }
  std::optional<std::uint64_t> last_sequence() const { return last_sequence_; }
  std::uint64_t count() const { return count_; }    // successful beats
  std::uint64_t missed() const { return missed_; }  // failed beats
  std::optional<Clock::duration> last_latency() const { return last_latency_; }
  void set_period(Clock::duration period) { options_.period = period; }

 protected:
  void on_ready() override;

 private:
  void record(HeartbeatSample s);

  HeartbeatOptions options_;
  std::uint64_t next_sequence_;
  Clock::time_point next_due_{};
  bool outstanding_ = false;
  bool skip_noted_ = false;
  std::deque<HeartbeatSample> history_;
  std::optional<std::uint64_t> last_sequence_;
  std::optional<Clock::duration> last_latency_;
  std::uint64_t count_ = 0;
  std::uint64_t missed_ = 0;
};

}  // namespace vmbh::host
