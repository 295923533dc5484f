// A model of the Linux guest's side of the VMBus channel protocol, driven
// in-process over the loopback transport: version negotiation, offers,
// GPADLs for ring pages in guest RAM, open/close, ring packets, rescind
// (RELID_RELEASED), unload, reset; plus the answers the Linux IC drivers give
// (negotiation, heartbeat, shutdown, timesync) from protocols/ic.h.
//
// It does what drivers/hv does, in the same order, so that host tests see
// Linux's sequences; every step is also available raw for malformed input.
//
// Synchronous: each call posts what the guest would, runs the host
// (LoopbackTransport::dispatch) and processes the host's answers, until
// nothing moves (pump()).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "vmbh/host/guest_ram.h"
#include "vmbh/host/loopback_transport.h"
#include "vmbh/host/status.h"
#include "vmbh/protocols/ic.h"
#include "vmbh/protocols/ring.h"
#include "vmbh/protocols/vmbus.h"

namespace vmbh::guest_model {

using host::Result;
using host::Status;

struct GuestOptions {
  std::uint32_t vp = 0;  // INITIATE_CONTACT.target_vcpu, OPENCHANNEL.target_vp, the signalling VP
  std::uint8_t msg_sint = proto::kVmbusMessageSint;
  // Pages [0, reserved_pages) hold the interrupt and monitor pages; rings are
  // allocated above.
  std::uint64_t reserved_pages = 4;
  // Hand out ring pages highest first, so a GPADL is never one run of pages
  // (exercises the host's page mapping); false gives ascending runs.
  bool scatter_pages = true;
  // On RESCIND: close the channel if open, tear its GPADL down and send
  // RELID_RELEASED, as Linux does. False leaves the release to the test.
  bool auto_release = true;
};

// The IC services the model can answer like Linux.
enum class IcService : std::uint8_t { heartbeat, shutdown, timesync, kvp, vss, fcopy };

class VmbusGuest;

// The user-space daemon's part of a KVP, VSS or fcopy transaction
// (hv_kvp_daemon, hv_vss_daemon, hv_fcopy_daemon): changes the service packet
// (the VMBus payload as received, pipe header first) in place, body and IC
// status. False: the guest does not answer.
using IcDaemon = std::function<bool(std::span<std::byte> packet)>;

// One open channel, guest side: writes the guest->host ring, reads the
// host->guest ring, signals with HvSignalEvent on the offer's connection id.
class GuestChannel {
 public:
  std::uint32_t relid() const { return relid_; }
  std::uint32_t gpadl() const { return gpadl_; }
  const std::vector<std::uint64_t>& pfns() const { return pfns_; }
  const proto::RingView& outbound() const { return out_; }  // guest -> host
  const proto::RingView& inbound() const { return in_; }    // host -> guest

  // A VM_PKT_DATA_INBAND packet; signals the host as the ring rules say.
  Status send_inband(proto::ByteSpan payload, std::uint64_t trans_id, bool request_completion = false);
  // A whole packet as given (descriptor first; see RingView::write).
  Status send_packet(std::span<const proto::ByteSpan> parts);
  // The next host packet (descriptor .. padding), nullopt when empty.
  Result<std::optional<proto::Bytes>> receive();

  std::uint64_t signals_sent() const { return signals_sent_; }
  // Event flags the host set for this channel since open.
  std::uint64_t events_seen() const { return events_seen_; }

 private:
  friend class VmbusGuest;
  GuestChannel(VmbusGuest& guest, std::uint32_t relid, std::uint32_t connection_id, std::uint32_t gpadl,
               std::vector<std::uint64_t> pfns, host::GuestMapping mapping, proto::RingView out,
               proto::RingView in)
      : guest_(guest),
        relid_(relid),
        connection_id_(connection_id),
        gpadl_(gpadl),
        pfns_(std::move(pfns)),
        mapping_(std::move(mapping)),
        out_(out),
        in_(in) {}
  Status signal_host();

  VmbusGuest& guest_;
  std::uint32_t relid_;
  std::uint32_t connection_id_;
  std::uint32_t gpadl_;
  std::vector<std::uint64_t> pfns_;
  host::GuestMapping mapping_;
  proto::RingView out_;
  proto::RingView in_;
  std::uint64_t signals_sent_ = 0;
  std::uint64_t events_seen_ = 0;
  // IC behaviour (act_as_linux_ic).
  std::optional<IcService> ic_;
  proto::LinuxIcGuestState ic_state_;
};

// What the IC responder saw: one entry per host packet on an IC channel.
struct IcExchange {
  std::uint32_t relid = 0;
  std::uint64_t trans_id = 0;          // the packet's, which the answer echoes
  proto::Bytes request;                // the VMBus payload as received
  std::optional<proto::Bytes> answer;  // what the guest sent back, if anything
};

class VmbusGuest {
 public:
  explicit VmbusGuest(host::LoopbackTransport& transport, GuestOptions options = {});
  ~VmbusGuest();
  VmbusGuest(const VmbusGuest&) = delete;
  VmbusGuest& operator=(const VmbusGuest&) = delete;

  host::LoopbackTransport& transport() { return transport_; }
  const GuestOptions& options() const { return options_; }

  // Runs the host and handles its messages and events until nothing moves.
  Status pump();

  // INITIATE_CONTACT for each version in order until one is accepted, as
  // vmbus_connect() does. Fails if none is.
  Result<proto::VmbusVersion> connect(
      std::span<const proto::VmbusVersion> versions = proto::kLinuxVmbusVersions);
  std::optional<proto::VmbusVersion> version() const { return version_; }
  // The versions the host refused, in the order tried (last connect()).
  const std::vector<proto::VmbusVersion>& refused_versions() const { return refused_; }
  std::uint32_t message_connection_id() const { return msg_conn_id_; }

  // REQUESTOFFERS; waits for ALLOFFERS_DELIVERED.
  Status request_offers();
  const std::map<std::uint32_t, proto::OfferChannel>& offers() const { return offers_; }
  std::optional<std::uint32_t> find_offer(const proto::Guid& class_id) const;
  bool all_offers_delivered() const { return all_offers_; }
  const std::set<std::uint32_t>& rescinded() const { return rescinded_; }

  // GPADL of the ring pages + OPENCHANNEL; ring page counts include each
  // ring's header page (at least 2 each).
  Result<GuestChannel*> open(std::uint32_t relid, std::uint32_t send_pages = 4, std::uint32_t recv_pages = 4);
  // CLOSECHANNEL, then GPADL_TEARDOWN and the wait for GPADL_TORNDOWN (vmbus_close).
  Status close(std::uint32_t relid);
  GuestChannel* channel(std::uint32_t relid);
  // RELID_RELEASED by hand (auto_release = false).
  Status release(std::uint32_t relid);
  // MODIFYCHANNEL; from 5.3 waits for the response and returns its status.
  Result<std::optional<std::uint32_t>> modify(std::uint32_t relid, std::uint32_t target_vp);
  // UNLOAD; waits for UNLOAD_RESPONSE; forgets channels and offers.
  Status unload();
  // A guest reset (reboot): the host forgets everything, so does the model.
  Status reset();

  // Answer the channel's host packets like Linux's driver for `service`.
  Status act_as_linux_ic(std::uint32_t relid, IcService service);
  const std::vector<IcExchange>& ic_exchanges() const { return ic_exchanges_; }
  // Service (non-negotiate) packets on the kvp/vss/fcopy channel `relid` go to
  // `daemon`; the model then answers like the kernel driver: icflags
  // transaction|response, the whole buffer back with the packet's trans_id.
  // Kept across close, rescind and sessions (relids are stable). Without a
  // daemon such packets stay unanswered, as with no daemon running.
  void set_ic_daemon(std::uint32_t relid, IcDaemon daemon) { ic_daemons_[relid] = std::move(daemon); }

  // ---- Raw access, for malformed input
  proto::HvStatus post(const proto::ChannelMessage& m);
  proto::HvStatus post_raw(std::uint32_t connection_id, proto::ByteSpan bytes);
  // GPADL_HEADER (+ bodies) for `pfns`; returns the handle once GPADL_CREATED
  // arrived with status 0.
  Result<std::uint32_t> create_gpadl(std::uint32_t relid, std::span<const std::uint64_t> pfns);
  Status teardown_gpadl(std::uint32_t relid, std::uint32_t handle);
  std::uint32_t next_gpadl_handle() const { return next_gpadl_; }
  // Free pages above the reserved ones, zeroed (hv_ringbuffer_init zeroes the
  // ring header).
  Result<std::vector<std::uint64_t>> alloc_pages(std::size_t n);
  void free_pages(std::span<const std::uint64_t> pfns);
  // A writable view of guest page `pfn` (empty outside RAM), mapped on first use.
  std::span<std::byte> page(std::uint64_t pfn);

  // Everything the host sent, decoded, in order; and what failed to decode.
  const std::vector<proto::ChannelMessage>& received() const { return received_; }
  const std::vector<std::string>& bad_messages() const { return bad_messages_; }
  std::optional<std::uint32_t> gpadl_status(std::uint32_t handle) const;
  std::optional<std::uint32_t> open_status(std::uint32_t relid) const;
  bool torn_down(std::uint32_t handle) const { return torndown_.count(handle) != 0; }

 private:
  friend class GuestChannel;
  void on_message(const host::LoopbackMessage& m);
  void on_event(std::uint32_t relid);
  void run_ic(GuestChannel& c);
  void handle_rescind(std::uint32_t relid);
  void forget_session();

  host::LoopbackTransport& transport_;
  GuestOptions options_;
  // Only the pages the model touches are mapped: mapping all of RAM would
  // make LoopbackTransport::reset() clear all of it.
  std::map<std::uint64_t, host::GuestMapping> page_views_;
  std::vector<bool> page_used_;
  std::optional<proto::VmbusVersion> version_;
  std::vector<proto::VmbusVersion> refused_;
  std::uint32_t msg_conn_id_ = proto::kVmbusMessageConnectionId;
  std::optional<proto::VersionResponse> version_response_;
  std::map<std::uint32_t, proto::OfferChannel> offers_;
  std::set<std::uint32_t> rescinded_;
  std::vector<std::uint32_t> rescinds_to_handle_;
  bool all_offers_ = false;
  bool unload_response_ = false;
  std::map<std::uint32_t, std::uint32_t> gpadl_created_;
  std::set<std::uint32_t> torndown_;
  std::map<std::uint32_t, std::uint32_t> open_results_;
  std::map<std::uint32_t, std::uint32_t> modify_results_;
  std::map<std::uint32_t, std::unique_ptr<GuestChannel>> channels_;
  std::uint32_t next_gpadl_ = proto::kLinuxFirstGpadlHandle;
  std::vector<proto::ChannelMessage> received_;
  std::vector<std::string> bad_messages_;
  std::vector<IcExchange> ic_exchanges_;
  std::map<std::uint32_t, IcDaemon> ic_daemons_;
};

}  // namespace vmbh::guest_model
