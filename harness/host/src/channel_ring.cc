#include "vmbh/host/channel_ring.h"

#include <array>
#include <cstring>
#include <string>

namespace vmbh::host {
namespace {

// Header page + one data page: the smallest ring RingView accepts.
constexpr std::uint32_t kMinRingPages = 2;

}  // namespace

Result<std::unique_ptr<ChannelRing>> ChannelRing::create(std::uint32_t relid, GuestMapping mapping,
                                                         std::uint32_t downstream_page_offset,
                                                         Transport& transport, std::uint32_t target_vp,
                                                         std::uint32_t sint) {
  std::span<std::byte> all = mapping.bytes();
  const std::size_t pages = all.size() / proto::kRingPageSize;
  const std::string what = "channel " + std::to_string(relid) + ": ";
  if (downstream_page_offset < kMinRingPages || downstream_page_offset > pages ||
      pages - downstream_page_offset < kMinRingPages) {
    return Status::fail(what + "ring page offset " + std::to_string(downstream_page_offset) +
                        " in a GPADL of " + std::to_string(pages) +
                        " pages leaves a ring without a header and a data page");
  }
  const std::size_t split = std::size_t{downstream_page_offset} * proto::kRingPageSize;
  if (split - proto::kRingHeaderSize > proto::kRingMaxDataSize ||
      all.size() - split - proto::kRingHeaderSize > proto::kRingMaxDataSize) {
    return Status::fail(what + "ring larger than 2 GiB");
  }
  auto in = proto::RingView::create(all.first(split));
  if (!in) return Status::fail(what + "guest->host ring", in.error());
  auto out = proto::RingView::create(all.subspan(split));
  if (!out) return Status::fail(what + "host->guest ring", out.error());
  return std::unique_ptr<ChannelRing>(
      new ChannelRing(relid, std::move(mapping), *in, *out, transport, target_vp, sint));
}

Status ChannelRing::signal_guest() {
  ++signals_sent_;
  return transport_.signal_event(target_vp_, sint_, relid_);
}

Status ChannelRing::send_inband(proto::ByteSpan payload, std::uint64_t trans_id, bool request_completion) {
  auto desc = proto::make_descriptor(proto::PacketType::data_inband,
                                     request_completion ? proto::kPacketFlagCompletionRequested : 0, trans_id,
                                     proto::kPacketDescriptorSize, payload.size());
  if (!desc) return Status::fail("channel " + std::to_string(relid_) + ": in-band packet", desc.error());
  const std::array<std::byte, proto::kPacketDescriptorSize> header = proto::encode_descriptor(*desc);
  const std::array<proto::ByteSpan, 2> parts{proto::ByteSpan(header), payload};
  return send_packet(parts);
}

Status ChannelRing::send_packet(std::span<const proto::ByteSpan> parts) {
  auto written = out_.write(parts);
  if (!written) {
    const proto::Error& e = written.error();
    if (e.code == proto::Errc::no_space) {
      // Ask the guest to signal once this packet fits (Linux's reader checks
      // pending_send_sz on its inbound ring, whose feature bit it sets).
      std::size_t total = 0;
      for (proto::ByteSpan p : parts) total += p.size();
      out_.set_pending_send_sz(static_cast<std::uint32_t>(proto::ring_packet_footprint(total)));
      waiting_for_space_ = true;
    }
    return Status::fail("channel " + std::to_string(relid_) + ": host->guest ring", e);
  }
  if (waiting_for_space_) {
    out_.set_pending_send_sz(0);
    waiting_for_space_ = false;
  }
  ++packets_written_;
  if (sent_observer_) {
    sent_copy_.clear();
    for (proto::ByteSpan p : parts) sent_copy_.insert(sent_copy_.end(), p.begin(), p.end());
    sent_copy_.resize(proto::align8(sent_copy_.size()));
    sent_observer_(sent_copy_);
  }
  if (*written) return signal_guest();
  return {};
}

void ChannelRing::note(std::string message) {
  if (note_sink_) note_sink_(std::move(message));
}

Result<std::optional<proto::PacketView>> ChannelRing::read_packet() {
  auto peeked = in_.peek();
  if (!peeked) {
    if (peeked.error().code == proto::Errc::empty) return std::optional<proto::PacketView>();
    return Status::fail("channel " + std::to_string(relid_) + ": guest->host ring", peeked.error());
  }
  const proto::PeekedPacket& p = *peeked;
  read_buffer_.resize(p.size());
  std::memcpy(read_buffer_.data(), p.first.data(), p.first.size());
  if (!p.second.empty()) std::memcpy(read_buffer_.data() + p.first.size(), p.second.data(), p.second.size());
  // The guest may have rewritten the descriptor since peek() validated it:
  // the copy carries the validated one.
  proto::encode_descriptor(p.desc, std::span<std::byte, proto::kPacketDescriptorSize>(
                                       read_buffer_.data(), proto::kPacketDescriptorSize));
  auto consumed = in_.consume(p);
  if (!consumed)
    return Status::fail("channel " + std::to_string(relid_) + ": guest->host ring", consumed.error());
  ++packets_read_;
  if (*consumed) {
    Status s = signal_guest();
    if (!s) return s;
  }
  auto view = proto::decode_packet(read_buffer_);
  if (!view) return Status::fail("channel " + std::to_string(relid_) + ": guest packet", view.error());
  return std::optional<proto::PacketView>(*view);
}

}  // namespace vmbh::host
