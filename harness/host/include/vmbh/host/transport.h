// What the host sees of the hypervisor: the guest's HvPostMessage and
// HvSignalEvent hypercalls come in, SynIC messages and event flags go out.
// Implementations: the QEMU relay (relay_transport.h) and the in-memory
// loopback that pairs with harness/guest_model (loopback_transport.h).
//
// Threading: single-threaded. The owner waits for poll_fd() to be readable
// (or, for the loopback, calls dispatch() directly); dispatch() delivers what
// is pending to the HostEvents sink on the caller's thread.
#pragma once

#include <cstdint>
#include <string>

#include "vmbh/host/guest_ram.h"
#include "vmbh/host/status.h"
#include "vmbh/protocols/bytes.h"

namespace vmbh::host {

class HostEvents {
 public:
  virtual ~HostEvents() = default;
  // The guest's HvPostMessage on a message connection the host registered.
  virtual void on_guest_message(std::uint32_t vp, std::uint32_t connection_id, std::uint32_t message_type,
                                proto::ByteSpan payload) = 0;
  // The guest's HvSignalEvent on an event connection the host registered.
  virtual void on_guest_signal(std::uint32_t vp, std::uint32_t connection_id) = 0;
  // The guest was reset (reboot, kexec, system_reset): forget all VMBus state.
  virtual void on_guest_reset() = 0;
  // The transport is gone (QEMU exited); `why` says how.
  virtual void on_transport_closed(const std::string& why) = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;

  virtual void set_events(HostEvents* events) = 0;

  // Route guest HvPostMessage / HvSignalEvent with this connection id to the
  // host; unregistered ids get HV_STATUS_INVALID_CONNECTION_ID in the guest.
  virtual Status add_message_connection(std::uint32_t connection_id) = 0;
  virtual Status add_event_connection(std::uint32_t connection_id) = 0;
  virtual Status remove_event_connection(std::uint32_t connection_id) = 0;

  // Queue a SynIC message for (vp, sint). Messages to one (vp, sint) arrive
  // in order; a busy slot waits for the guest's EOM (never dropped).
  virtual Status post_message(std::uint32_t vp, std::uint32_t sint, std::uint32_t message_type,
                              proto::ByteSpan payload) = 0;
  // Set bit `flag` in (vp, sint)'s event-flags page and raise the SINT.
  virtual Status signal_event(std::uint32_t vp, std::uint32_t sint, std::uint32_t flag) = 0;

  virtual const GuestRam& ram() const = 0;

  // -1 when the transport has no file descriptor (loopback).
  virtual int poll_fd() const = 0;
  // Delivers pending guest actions to the HostEvents sink; a failure means
  // the transport is unusable (also reported through on_transport_closed).
  virtual Status dispatch() = 0;
};

}  // namespace vmbh::host
