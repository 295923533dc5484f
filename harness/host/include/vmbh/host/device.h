// The device framework: a device is a class id + instance id + a handler for
// the packets of its channel once the guest has opened it. The channel
// manager (channel_manager.h) owns offers, GPADLs and rings; a device only
// sees ChannelIo, so every device is testable with a fake ChannelIo and no
// VMBus underneath.
//
// Threading: single-threaded, like the transport. Operations started by the
// control API complete later, from on_packet (the guest answered), on_tick
// (a deadline passed) or on_close (the channel went away): each calls its
// Done callback exactly once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "vmbh/host/status.h"
#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/guid.h"
#include "vmbh/protocols/packet.h"

namespace vmbh::host {

using Clock = std::chrono::steady_clock;

// Completion of an asynchronous device operation; called exactly once.
template <class T>
using Done = std::function<void(Result<T>)>;
using DoneStatus = std::function<void(Status)>;

// How a device appears in the guest's OFFERCHANNEL.
struct DeviceIdentity {
  std::string name;         // "heartbeat", "kvp", ...: the control API and trace use it
  proto::Guid class_id;     // if_type: selects the guest driver
  proto::Guid instance_id;  // if_instance
  std::uint16_t mmio_megabytes = 0;
  bool is_dedicated_interrupt = false;  // offer flag; ICs use the shared one
};

// Key/value facts a device reports about itself ("framework_version" = "3.0",
// "sequence" = "17"), shown by the control API's channel list.
using DeviceFacts = std::vector<std::pair<std::string, std::string>>;

// What a device sees of its open channel.
class ChannelIo {
 public:
  virtual ~ChannelIo() = default;
  virtual std::uint32_t relid() const = 0;
  // Writes one VM_PKT_DATA_INBAND packet holding `payload` to the host->guest
  // ring and signals the guest if the ring rules require it. Fails with a
  // message when the ring is full or corrupt (the device decides whether to
  // retry on its next tick or fail the operation).
  virtual Status send_inband(proto::ByteSpan payload, std::uint64_t trans_id, bool request_completion) = 0;
  // A line for the host log and the trace ("kvp: guest answered SET with 0x80004005").
  virtual void note(std::string message) = 0;
};

class Device {
 public:
  virtual ~Device() = default;
  virtual const DeviceIdentity& identity() const = 0;

  // The guest opened the channel; `io` stays valid until on_close.
  virtual void on_open(ChannelIo& io) = 0;
  // One packet from the guest, copied out of the ring and validated
  // (descriptor decoded; payload may still be anything). A malformed payload
  // is reported with a Status: the manager logs it and keeps serving.
  virtual Status on_packet(const proto::PacketView& packet) = 0;
  // The channel is gone (guest close, rescind, reset, unload): pending
  // operations fail with `why`; `io` must not be used any more.
  virtual void on_close(const std::string& why) = 0;
  // Periodic call from the event loop (heartbeat period, deadlines).
  virtual void on_tick(Clock::time_point /*now*/) {}
  virtual DeviceFacts facts() const { return {}; }
};

}  // namespace vmbh::host
