// The two rings of an open channel as the host sees them, and the ChannelIo
// devices write through.
//
// Layout (drivers/hv/channel.c, __vmbus_open): the guest allocates one GPADL
// for both rings; its first downstream_ringbuffer_pageoffset pages are the
// guest's outbound ring (guest -> host, the host reads it), the remaining
// pages the guest's inbound ring (host -> guest, the host writes it). Each
// ring is a header page plus at least one data page.
//
// Signalling (ring.h has the rules): after a write the guest is signalled
// only on empty -> non-empty with its interrupt_mask clear; after a read only
// when the guest's pending_send_sz says it waits for the space just freed.
// A signal is event flag `relid` on (target_vp, sint): from WIN8 on, Linux
// finds the channel by the bit number in SINT 2's event-flags slot
// (vmbus_drv.c, vmbus_chan_sched). When the host->guest ring is full the
// host sets its own pending_send_sz there, so the guest signals once it has
// read enough; the device retries (on its next tick).
//
// Every guest packet is copied out of shared memory before it is decoded.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "vmbh/host/device.h"
#include "vmbh/host/guest_ram.h"
#include "vmbh/host/status.h"
#include "vmbh/host/transport.h"
#include "vmbh/protocols/packet.h"
#include "vmbh/protocols/ring.h"

namespace vmbh::host {

class ChannelRing final : public ChannelIo {
 public:
  using PacketObserver = std::function<void(proto::ByteSpan packet)>;
  using NoteSink = std::function<void(std::string)>;

  // `mapping` holds all pages of the ring GPADL, contiguously. Fails with a
  // message when the page offset leaves either ring without a header page and
  // a data page.
  static Result<std::unique_ptr<ChannelRing>> create(std::uint32_t relid, GuestMapping mapping,
                                                     std::uint32_t downstream_page_offset,
                                                     Transport& transport, std::uint32_t target_vp,
                                                     std::uint32_t sint);

  // ---- ChannelIo
  std::uint32_t relid() const override { return relid_; }
  Status send_inband(proto::ByteSpan payload, std::uint64_t trans_id, bool request_completion) override;
  void note(std::string message) override;

  // Writes one packet of any type gathered from `parts` (descriptor first;
  // see RingView::write) and signals the guest if the rules require it.
  Status send_packet(std::span<const proto::ByteSpan> parts);

  // The next guest packet, copied out of the ring and decoded; its spans
  // point into a buffer that stays valid until the next read_packet().
  // nullopt when the ring is empty. A failure (corrupt index, malformed
  // descriptor) leaves the ring as it was: the packet cannot be skipped.
  Result<std::optional<proto::PacketView>> read_packet();
  // The whole packet last returned by read_packet() (descriptor .. padding).
  proto::ByteSpan last_packet() const { return read_buffer_; }

  void set_target_vp(std::uint32_t vp) { target_vp_ = vp; }
  std::uint32_t target_vp() const { return target_vp_; }
  void set_note_sink(NoteSink sink) { note_sink_ = std::move(sink); }
  // Called with each packet written (descriptor .. padding, no trailer).
  void set_sent_observer(PacketObserver observer) { sent_observer_ = std::move(observer); }

  const proto::RingView& guest_to_host() const { return in_; }
  const proto::RingView& host_to_guest() const { return out_; }

  std::uint64_t packets_read() const { return packets_read_; }
  std::uint64_t packets_written() const { return packets_written_; }
  std::uint64_t signals_sent() const { return signals_sent_; }

 private:
  ChannelRing(std::uint32_t relid, GuestMapping mapping, proto::RingView in, proto::RingView out,
              Transport& transport, std::uint32_t target_vp, std::uint32_t sint)
      : relid_(relid),
        mapping_(std::move(mapping)),
        in_(in),
        out_(out),
        transport_(transport),
        target_vp_(target_vp),
        sint_(sint) {}
  Status signal_guest();

  std::uint32_t relid_;
  GuestMapping mapping_;
  proto::RingView in_;   // guest -> host
  proto::RingView out_;  // host -> guest
  Transport& transport_;
  std::uint32_t target_vp_;
  std::uint32_t sint_;
  NoteSink note_sink_;
  PacketObserver sent_observer_;
  bool waiting_for_space_ = false;
  proto::Bytes read_buffer_;
  proto::Bytes sent_copy_;
  std::uint64_t packets_read_ = 0;
  std::uint64_t packets_written_ = 0;
  std::uint64_t signals_sent_ = 0;
};

}  // namespace vmbh::host
