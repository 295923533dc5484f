// Time synchronization IC host side: SYNC (the guest sets its clock) and
// SAMPLE (the guest records the host time) with a host clock the caller can
// shift. The body layout follows the negotiated message version as Linux
// reads it: above 3.0 (4.0) the ref-data layout with the guest's reference
// time, otherwise (3.0, 1.0) the old layout.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "vmbh/host/ic_device.h"
#include "vmbh/protocols/timesync.h"

namespace vmbh::host {

struct TimesyncOptions {
  IcDeviceOptions ic = default_ic_options();
  // Host time, 100 ns units since 1601 (default: the system clock).
  std::function<std::uint64_t()> host_clock;
  // The guest's partition reference counter (TIME_REF_COUNT, 100 ns) when the
  // sample is taken, sent as vmreferencetime in the 4.0 layout. Linux adds
  // (its counter now - vmreferencetime) to the host time, so without a source
  // (0 is sent) a v4 SYNC lands ahead by the guest's uptime.
  std::function<std::uint64_t()> reference_clock;
  Clock::duration timeout = std::chrono::seconds(5);
  // What Hyper-V does on its own (Microsoft's OpenVMM: a SYNC once the
  // versions are negotiated, then a SAMPLE 5 s after each answer): with a
  // period, a SYNC each time the channel becomes ready and a SAMPLE every
  // period. Zero: only sync()/sample()/send() send anything.
  Clock::duration period = Clock::duration::zero();

  static IcDeviceOptions default_ic_options();
};

struct TimesyncResult {
  std::uint32_t status = 0;
  std::uint8_t flags = 0;
  std::uint64_t parenttime = 0;  // what was sent
  bool ref_layout = false;       // 4.0 layout
  Clock::duration latency{};
};

class TimesyncDevice : public IcDevice {
 public:
  explicit TimesyncDevice(TimesyncOptions options = {}, DeviceIdentity identity = default_identity());
  static DeviceIdentity default_identity();
  // The system clock as Hyper-V time.
  static std::uint64_t system_hv_time();

  void sync(Done<TimesyncResult> done);                      // flags SYNC: Linux sets its clock
  void sample(Done<TimesyncResult> done);                    // flags SAMPLE: Linux only records it
  void send(std::uint8_t flags, Done<TimesyncResult> done);  // any flags value (0 = probe)

  // Shifts the host clock (100 ns units, may be negative).
  void set_offset(std::int64_t offset_100ns) { offset_ = offset_100ns; }
  std::int64_t offset() const { return offset_; }
  std::uint64_t host_time() const;  // host_clock() + offset (wrapping like the u64 field)
  bool uses_ref_layout() const { return proto::timesync_uses_ref_data(message_version()); }

  // How long the next requests wait for the guest (default: TimesyncOptions::timeout).
  void set_timeout(Clock::duration t) { options_.timeout = t; }
  void on_tick(Clock::time_point now) override;
  DeviceFacts facts() const override;

 protected:
  void on_ready() override;

 private:
  TimesyncOptions options_;
  std::int64_t offset_ = 0;
  std::optional<TimesyncResult> last_;
  // The periodic messages (options_.period).
  bool sync_due_ = false;              // the next one is the SYNC after (re)negotiation
  bool periodic_outstanding_ = false;  // one at a time, like the heartbeat
  Clock::time_point next_due_{};
  std::uint64_t periodic_sent_ = 0;
};

}  // namespace vmbh::host
