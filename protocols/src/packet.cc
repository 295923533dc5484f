#include "vmbh/protocols/packet.h"

#include <cstring>

namespace vmbh::proto {

Result<PacketDescriptor> decode_descriptor_raw(ByteSpan in) {
  ByteReader r(in);
  PacketDescriptor d;
  d.type = r.u16("packet.type");
  d.offset8 = r.u16("packet.offset8");
  d.len8 = r.u16("packet.len8");
  d.flags = r.u16("packet.flags");
  d.trans_id = r.u64("packet.trans_id");
  return r.finish(d);
}

Status validate_descriptor(const PacketDescriptor& d, std::size_t available) {
  if (d.offset8 < kPacketDescriptorSize / kPacketAlign) return Error{Errc::bad_value, "packet.offset8", 2};
  if (d.offset8 > d.len8) return Error{Errc::bad_length, "packet.offset8", 2};
  if (d.packet_size() > available) return Error{Errc::bad_length, "packet.len8", 4};
  return {};
}

void encode_descriptor(const PacketDescriptor& d, std::span<std::byte, kPacketDescriptorSize> out) {
  store_u32(out, 0, static_cast<std::uint32_t>(d.type) | (static_cast<std::uint32_t>(d.offset8) << 16));
  store_u32(out, 4, static_cast<std::uint32_t>(d.len8) | (static_cast<std::uint32_t>(d.flags) << 16));
  store_u64(out, 8, d.trans_id);
}

std::array<std::byte, kPacketDescriptorSize> encode_descriptor(const PacketDescriptor& d) {
  std::array<std::byte, kPacketDescriptorSize> out{};
  encode_descriptor(d, std::span<std::byte, kPacketDescriptorSize>(out));
  return out;
}

Result<PacketDescriptor> make_descriptor(PacketType type, std::uint16_t flags, std::uint64_t trans_id,
                                         std::size_t header_size, std::size_t payload_size) {
  if (header_size < kPacketDescriptorSize || header_size % kPacketAlign != 0 ||
      header_size > kPacketMaxSize) {
    return Error{Errc::bad_length, "packet.offset8", 2};
  }
  if (payload_size > kPacketMaxSize - header_size) return Error{Errc::bad_length, "packet.len8", 4};
  std::size_t total = align8(header_size + payload_size);
  PacketDescriptor d;
  d.type = static_cast<std::uint16_t>(type);
  d.offset8 = static_cast<std::uint16_t>(header_size / kPacketAlign);
  d.len8 = static_cast<std::uint16_t>(total / kPacketAlign);
  d.flags = flags;
  d.trans_id = trans_id;
  return d;
}

Result<PacketView> decode_packet(ByteSpan in) {
  auto d = decode_descriptor_raw(in);
  if (!d) return d.error();
  if (Status s = validate_descriptor(*d, in.size()); !s) return s.error();
  if (d->packet_size() != in.size()) return Error{Errc::trailing_data, "packet.len8", d->packet_size()};
  PacketView v;
  v.desc = *d;
  v.header = in.subspan(kPacketDescriptorSize, d->payload_offset() - kPacketDescriptorSize);
  v.payload = in.subspan(d->payload_offset(), d->packet_size() - d->payload_offset());
  return v;
}

std::uint64_t gpa_range_pfn_count(std::uint32_t byte_offset, std::uint32_t byte_count) {
  std::uint64_t end = std::uint64_t{byte_offset} + byte_count;
  return (end + kGpaPageSize - 1) / kGpaPageSize;
}

namespace {

Bytes to_bytes(ByteSpan s) { return Bytes(s.begin(), s.end()); }

Result<PacketView> decode_typed(ByteSpan in, PacketType type) {
  auto v = decode_packet(in);
  if (!v) return v;
  if (v->desc.type != static_cast<std::uint16_t>(type)) return Error{Errc::unknown_type, "packet.type", 0};
  return v;
}

// Writes descriptor + header bytes produced by `fill` + payload + padding.
template <class Fill>
Bytes encode_with(PacketType type, std::uint16_t flags, std::uint64_t trans_id, std::size_t header_size,
                  ByteSpan payload, Fill fill) {
  auto d = make_descriptor(type, flags, trans_id, header_size, payload.size());
  if (!d) return {};
  Bytes out;
  out.reserve(d->packet_size());
  out.resize(kPacketDescriptorSize);
  encode_descriptor(*d, std::span<std::byte, kPacketDescriptorSize>(out.data(), kPacketDescriptorSize));
  ByteWriter w(out);
  fill(w);
  w.bytes(payload);
  w.pad_to(0, d->packet_size());
  return out;
}

std::size_t gpa_header_size(const GpaDirectPacket& p, bool& consistent) {
  consistent = true;
  std::size_t size = kGpaDirectHeaderSize;
  for (const GpaRange& g : p.ranges) {
    if (g.pfns.size() != gpa_range_pfn_count(g.byte_offset, g.byte_count)) consistent = false;
    size += kGpaRangeHeaderSize + g.pfns.size() * 8;
  }
  if (p.ranges.size() > 0xffffffffu) consistent = false;
  return size;
}

std::size_t checked_total(std::size_t header, std::size_t payload) {
  if (header > kPacketMaxSize || payload > kPacketMaxSize - header) return 0;
  return align8(header + payload);
}

}  // namespace

Result<InbandPacket> decode_inband(ByteSpan in) {
  auto v = decode_typed(in, PacketType::data_inband);
  if (!v) return v.error();
  return InbandPacket{v->desc.flags, v->desc.trans_id, to_bytes(v->payload)};
}

Result<CompletionPacket> decode_completion(ByteSpan in) {
  auto v = decode_typed(in, PacketType::completion);
  if (!v) return v.error();
  return CompletionPacket{v->desc.flags, v->desc.trans_id, to_bytes(v->payload)};
}

Result<GpaDirectPacket> decode_gpa_direct(ByteSpan in) {
  auto v = decode_typed(in, PacketType::data_using_gpa_direct);
  if (!v) return v.error();
  // Only the header area [0, offset8*8) is parsed; error offsets are packet offsets.
  ByteReader r(in.first(v->desc.payload_offset()));
  r.skip(kPacketDescriptorSize, "packet.type");
  GpaDirectPacket p;
  p.flags = v->desc.flags;
  p.trans_id = v->desc.trans_id;
  p.reserved = r.u32("gpa_direct.reserved");
  std::uint32_t count = r.u32("gpa_direct.range_cnt");
  // Every range needs at least 8 bytes: reject impossible counts before allocating.
  if (r.ok() && count > r.remaining() / kGpaRangeHeaderSize) r.fail(Errc::bad_length, "gpa_direct.range_cnt");
  if (r.ok()) p.ranges.reserve(count);
  for (std::uint32_t i = 0; i < count && r.ok(); ++i) {
    GpaRange g;
    g.byte_count = r.u32("gpa_range.byte_count");
    g.byte_offset = r.u32("gpa_range.byte_offset");
    std::uint64_t n = gpa_range_pfn_count(g.byte_offset, g.byte_count);
    if (r.ok() && n > r.remaining() / 8) r.fail(Errc::bad_length, "gpa_range.byte_count");
    if (!r.ok()) break;
    g.pfns.resize(static_cast<std::size_t>(n));
    for (auto& pfn : g.pfns) pfn = r.u64("gpa_range.pfn");
    p.ranges.push_back(std::move(g));
  }
  // Bytes between the last range and offset8*8 are tolerated (Linux checks
  // only that the ranges fit below the payload offset) and not kept.
  if (r.ok()) p.payload = to_bytes(v->payload);
  return r.finish(std::move(p));
}

Result<TransferPagePacket> decode_transfer_page(ByteSpan in) {
  auto v = decode_typed(in, PacketType::data_using_xfer_pages);
  if (!v) return v.error();
  ByteReader r(in.first(v->desc.payload_offset()));
  r.skip(kPacketDescriptorSize, "packet.type");
  TransferPagePacket p;
  p.flags = v->desc.flags;
  p.trans_id = v->desc.trans_id;
  p.xfer_pageset_id = r.u16("xfer_page.xfer_pageset_id");
  p.sender_owns_set = r.u8("xfer_page.sender_owns_set");
  p.reserved = r.u8("xfer_page.reserved");
  std::uint32_t count = r.u32("xfer_page.range_cnt");
  if (r.ok() && count > r.remaining() / kTransferPageRangeSize)
    r.fail(Errc::bad_length, "xfer_page.range_cnt");
  if (r.ok()) {
    p.ranges.resize(count);
    for (auto& range : p.ranges) {
      range.byte_count = r.u32("xfer_page.byte_count");
      range.byte_offset = r.u32("xfer_page.byte_offset");
    }
    p.payload = to_bytes(v->payload);
  }
  return r.finish(std::move(p));
}

std::size_t encoded_size(const InbandPacket& p) {
  return checked_total(kPacketDescriptorSize, p.payload.size());
}
std::size_t encoded_size(const CompletionPacket& p) {
  return checked_total(kPacketDescriptorSize, p.payload.size());
}
std::size_t encoded_size(const GpaDirectPacket& p) {
  bool consistent = false;
  std::size_t header = gpa_header_size(p, consistent);
  return consistent ? checked_total(header, p.payload.size()) : 0;
}
std::size_t encoded_size(const TransferPagePacket& p) {
  if (p.ranges.size() > (kPacketMaxSize - kTransferPageHeaderSize) / kTransferPageRangeSize) return 0;
  return checked_total(kTransferPageHeaderSize + p.ranges.size() * kTransferPageRangeSize, p.payload.size());
}

Bytes encode(const InbandPacket& p) {
  return encode_with(PacketType::data_inband, p.flags, p.trans_id, kPacketDescriptorSize, p.payload,
                     [](ByteWriter&) {});
}

Bytes encode(const CompletionPacket& p) {
  return encode_with(PacketType::completion, p.flags, p.trans_id, kPacketDescriptorSize, p.payload,
                     [](ByteWriter&) {});
}

Bytes encode(const GpaDirectPacket& p) {
  bool consistent = false;
  std::size_t header = gpa_header_size(p, consistent);
  if (!consistent) return {};
  return encode_with(PacketType::data_using_gpa_direct, p.flags, p.trans_id, header, p.payload,
                     [&](ByteWriter& w) {
                       w.u32(p.reserved);
                       w.u32(static_cast<std::uint32_t>(p.ranges.size()));
                       for (const GpaRange& g : p.ranges) {
                         w.u32(g.byte_count);
                         w.u32(g.byte_offset);
                         for (std::uint64_t pfn : g.pfns) w.u64(pfn);
                       }
                     });
}

Bytes encode(const TransferPagePacket& p) {
  if (encoded_size(p) == 0) return {};
  return encode_with(PacketType::data_using_xfer_pages, p.flags, p.trans_id,
                     kTransferPageHeaderSize + p.ranges.size() * kTransferPageRangeSize, p.payload,
                     [&](ByteWriter& w) {
                       w.u16(p.xfer_pageset_id);
                       w.u8(p.sender_owns_set);
                       w.u8(p.reserved);
                       w.u32(static_cast<std::uint32_t>(p.ranges.size()));
                       for (const TransferPageRange& range : p.ranges) {
                         w.u32(range.byte_count);
                         w.u32(range.byte_offset);
                       }
                     });
}

}  // namespace vmbh::proto
