// The VMBus host: version negotiation, offers, GPADLs, open/close, rescind
// and re-offer, unload and reset, and the packets of open channels, which go
// to the channel's Device (device.h).
//
// What the guest sees (drivers/hv/connection.c, channel_mgmt.c, channel.c):
// - INITIATE_CONTACT is answered supported for every version from WIN8 (2.4,
//   the oldest Linux offers) up to the cap; anything else (an unknown number,
//   WS2008/WIN7, above the cap) gets version_supported = 0 and the guest tries
//   its next one. Messages go to the VP the guest names in target_vcpu and,
//   from 5.0, to the SINT it names in msg_sint (Linux: 2); 5.x guests are told
//   to post later messages to connection 1.
// - Offers have monitor_allocated = 0 (the guest signals with HvSignalEvent
//   on the offer's connection id, 0x10 + relid) and relids from 1.
// - Channel events reach the guest as event flag `relid` on (target_vp, 2).
//
// Every guest input that is rejected produces a log line that names the
// message and what is wrong with it; the manager keeps serving.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmbh/host/channel_ring.h"
#include "vmbh/host/device.h"
#include "vmbh/host/status.h"
#include "vmbh/host/transport.h"
#include "vmbh/protocols/gpadl.h"
#include "vmbh/protocols/vmbus.h"

namespace vmbh::host {

struct ChannelManagerOptions {
  // The newest version the host accepts.
  proto::VmbusVersion max_version = proto::VmbusVersion::win10_v5_3;
  // Where channel messages go until INITIATE_CONTACT names a VP (and, 5.0+, a SINT).
  std::uint32_t vp = 0;
  std::uint32_t sint = proto::kVmbusMessageSint;
  // One line per event worth a person's attention ("vmbus: ..."); may be empty.
  std::function<void(const std::string&)> log{};
  // Every ring packet in (to_guest = false) and out: the whole packet,
  // descriptor to padding.
  std::function<void(std::uint32_t relid, const std::string& device, bool to_guest, proto::ByteSpan packet)>
      packet_observer{};
  // Called after every change visible in channels() / negotiated_version().
  std::function<void()> on_change{};
  // Limits a guest cannot exceed.
  std::size_t max_gpadl_pfns = proto::kGpadlMaxPfns;
  std::size_t max_gpadls = 1024;              // created plus being assembled
  std::size_t max_packets_per_signal = 4096;  // the rest on the next tick
};

class ChannelManager final : public HostEvents {
 public:
  struct ChannelInfo {
    std::uint32_t relid = 0;
    std::string name;
    proto::Guid class_id;
    proto::Guid instance_id;
    // "pending" (not offered yet), "offered", "open", "closed" (offered,
    // closed by the guest), "rescinding" (waiting for RELID_RELEASED),
    // "rescinded".
    std::string state;
    std::uint32_t connection_id = 0;
    std::uint32_t target_vp = 0;
    std::uint32_t ring_gpadl = 0;               // 0 unless open
    std::uint32_t guest_to_host_ring_size = 0;  // data bytes, 0 unless open
    std::uint32_t host_to_guest_ring_size = 0;
    std::string error;  // the last ring/packet problem on this channel, if any
    DeviceFacts facts;
  };

  ChannelManager(Transport& transport, ChannelManagerOptions options = {});
  ~ChannelManager() override;
  ChannelManager(const ChannelManager&) = delete;
  ChannelManager& operator=(const ChannelManager&) = delete;

  // Registers this as the transport's event sink and the message connection
  // ids 1 and 4 (again after every guest reset, which drops registrations).
  Status start();

  // Returns the child relid (0 if all 2047 are in use). Offered as soon as the
  // guest has asked for offers.
  std::uint32_t add_device(std::unique_ptr<Device> device);
  // Closes the channel if open, sends RESCIND_CHANNELOFFER and waits for the
  // guest's RELID_RELEASED.
  Status rescind(std::uint32_t relid);
  // Offers a rescinded channel again (same relid, device and instance id);
  // while the guest has not released it yet, the offer follows the release.
  Status reoffer(std::uint32_t relid);
  // Forwards on_tick to every device; continues draining rings that had
  // more packets than one signal may handle.
  void tick(Clock::time_point now);

  std::optional<proto::VmbusVersion> negotiated_version() const { return version_; }
  std::vector<ChannelInfo> channels() const;
  std::optional<ChannelInfo> channel(std::uint32_t relid) const;
  Device* device(std::string_view name) const;
  // Incremented with every change visible in channels() / negotiated_version().
  std::uint64_t generation() const { return generation_; }
  // The number of log lines so far (tests check that rejections are logged).
  std::uint64_t log_lines() const { return log_lines_; }
  // Session counters since start: INITIATE_CONTACTs accepted, UNLOADs
  // answered, guest resets. A reboot shows as unload (if the guest's kernel
  // sends one), reset, then a new accepted contact.
  std::uint64_t contacts_accepted() const { return contacts_accepted_; }
  std::uint64_t unloads() const { return unloads_; }
  std::uint64_t resets() const { return resets_; }

  // ---- HostEvents
  void on_guest_message(std::uint32_t vp, std::uint32_t connection_id, std::uint32_t message_type,
                        proto::ByteSpan payload) override;
  void on_guest_signal(std::uint32_t vp, std::uint32_t connection_id) override;
  void on_guest_reset() override;
  void on_transport_closed(const std::string& why) override;

 private:
  enum class State : std::uint8_t { pending, offered, open, closed, rescinding, rescinded };
  struct Channel {
    std::uint32_t relid = 0;
    std::unique_ptr<Device> device;
    State state = State::pending;
    std::uint32_t connection_id = 0;
    std::uint32_t target_vp = 0;
    std::uint32_t ring_gpadl = 0;
    std::unique_ptr<ChannelRing> ring;
    bool reoffer_after_release = false;
    bool more_to_read = false;
    std::string error;
  };
  struct GpadlEntry {
    proto::Gpadl gpadl;
    std::uint32_t used_by = 0;  // relid whose open ring maps it, 0 if none
  };

  void log(const std::string& line);
  void changed();
  Status post(const proto::ChannelMessage& m);
  void reject(const std::string& what);

  void handle(std::uint32_t connection_id, const proto::ChannelMessage& m);
  void on_initiate_contact(std::uint32_t connection_id, const proto::InitiateContact& m);
  void on_request_offers();
  void on_gpadl_header(const proto::GpadlHeader& m);
  void on_gpadl_body(const proto::GpadlBody& m);
  void gpadl_complete(std::uint32_t handle);
  void on_gpadl_teardown(const proto::GpadlTeardown& m);
  void on_open_channel(const proto::OpenChannel& m);
  void on_close_channel(const proto::CloseChannel& m);
  void on_relid_released(const proto::RelidReleased& m);
  void on_unload();
  void on_modify_channel(const proto::ModifyChannel& m);

  void offer(Channel& c);
  void close_ring(Channel& c, const std::string& why);
  void drain(Channel& c);
  // Closes every open channel and forgets the session: unload, reset, a new
  // INITIATE_CONTACT. `registrations_gone`: the transport already dropped the
  // event connections (a reset), so they are forgotten, not removed.
  void drop_session(const std::string& why, bool registrations_gone = false);
  Status register_message_connections();
  bool pfns_in_ram(const proto::Gpadl& g, std::string& bad) const;
  Channel* find(std::uint32_t relid);
  std::string channel_name(const Channel& c) const;
  static const char* state_name(State s);
  ChannelInfo info(const Channel& c) const;

  Transport& transport_;
  ChannelManagerOptions options_;
  std::optional<proto::VmbusVersion> version_;
  std::uint32_t msg_vp_;
  std::uint32_t msg_sint_;
  bool started_ = false;
  bool offers_requested_ = false;
  std::map<std::uint32_t, Channel> channels_;
  std::map<std::uint32_t, std::uint32_t> relid_by_connection_;
  std::map<std::uint32_t, proto::GpadlAssembler> assembling_;
  std::map<std::uint32_t, GpadlEntry> gpadls_;
  std::uint32_t next_relid_ = 1;
  std::uint64_t generation_ = 0;
  std::uint64_t log_lines_ = 0;
  std::uint64_t contacts_accepted_ = 0;
  std::uint64_t unloads_ = 0;
  std::uint64_t resets_ = 0;
};

}  // namespace vmbh::host
