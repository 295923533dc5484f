#include "vmbh/protocols/ring.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>

namespace vmbh::proto {
namespace {

// Copies src into the data area at pos, wrapping once at the end. Callers
// guarantee src.size() < size and pos < size.
void copy_in(std::byte* data, std::uint32_t size, std::uint32_t pos, ByteSpan src) {
  if (src.empty()) return;
  std::size_t first = std::min<std::size_t>(src.size(), size - pos);
  std::memcpy(data + pos, src.data(), first);
  if (first < src.size()) std::memcpy(data, src.data() + first, src.size() - first);
}

void copy_out(const std::byte* data, std::uint32_t size, std::uint32_t pos, std::span<std::byte> dst) {
  if (dst.empty()) return;
  std::size_t first = std::min<std::size_t>(dst.size(), size - pos);
  std::memcpy(dst.data(), data + pos, first);
  if (first < dst.size()) std::memcpy(dst.data() + first, data, dst.size() - first);
}

std::uint64_t le(const std::byte* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= std::to_integer<std::uint64_t>(p[i]) << (8 * i);
  return v;
}

// The fixed 16 descriptor bytes (no Result: the size is known).
PacketDescriptor descriptor_from(const std::array<std::byte, kPacketDescriptorSize>& b) {
  PacketDescriptor d;
  d.type = static_cast<std::uint16_t>(le(b.data(), 2));
  d.offset8 = static_cast<std::uint16_t>(le(b.data() + 2, 2));
  d.len8 = static_cast<std::uint16_t>(le(b.data() + 4, 2));
  d.flags = static_cast<std::uint16_t>(le(b.data() + 6, 2));
  d.trans_id = le(b.data() + 8, 8);
  return d;
}

Error at_ring_offset(const Error& e, std::size_t base) { return Error{e.code, e.field, base + e.offset}; }

constexpr std::array<std::byte, kPacketAlign> kZeros{};

}  // namespace

Result<RingView> RingView::create(std::span<std::byte> ring) {
  if (ring.size() % kRingPageSize != 0 || ring.size() < kRingHeaderSize + kRingPageSize) {
    return Error{Errc::bad_length, "ring.size", 0};
  }
  if (ring.size() - kRingHeaderSize > kRingMaxDataSize) return Error{Errc::bad_length, "ring.size", 0};
  return RingView(ring);
}

Status RingView::check_index(std::uint32_t v, const char* field, std::size_t at) const {
  if (v >= size_ || v % kRingIndexAlign != 0) return Error{Errc::bad_value, field, at};
  return {};
}

Result<RingIndices> RingView::indices() const {
  RingIndices ix;
  ix.write = write_index();
  if (Status s = check_index(ix.write, "ring.write_index", kRingWriteIndexOffset); !s) return s.error();
  ix.read = read_index();
  if (Status s = check_index(ix.read, "ring.read_index", kRingReadIndexOffset); !s) return s.error();
  return ix;
}

Result<std::uint32_t> RingView::bytes_to_read() const {
  auto ix = indices();
  if (!ix) return ix.error();
  return ring_bytes_to_read(ix->read, ix->write, size_);
}

Result<std::uint32_t> RingView::bytes_to_write() const {
  auto ix = indices();
  if (!ix) return ix.error();
  return ring_bytes_to_write(ix->read, ix->write, size_);
}

Result<bool> RingView::write(std::span<const ByteSpan> parts) const {
  auto ix = indices();
  if (!ix) return ix.error();

  // Total length (bounded so the sum cannot overflow) and the descriptor,
  // which may itself be split over several parts.
  std::size_t total = 0;
  std::array<std::byte, kPacketDescriptorSize> desc_bytes{};
  for (ByteSpan part : parts) {
    if (total < kPacketDescriptorSize) {
      std::size_t n = std::min(part.size(), kPacketDescriptorSize - total);
      std::memcpy(desc_bytes.data() + total, part.data(), n);
    }
    if (part.size() > kPacketMaxSize - std::min(total, kPacketMaxSize)) {
      return Error{Errc::bad_length, "packet.len8", 4};
    }
    total += part.size();
  }
  if (total < kPacketDescriptorSize) return Error{Errc::truncated, "packet.type", total};
  const std::size_t padded = align8(total);
  const PacketDescriptor desc = descriptor_from(desc_bytes);
  if (Status s = validate_descriptor(desc, padded); !s) return s.error();
  if (desc.packet_size() != padded) return Error{Errc::bad_length, "packet.len8", 4};

  const std::size_t footprint = padded + kPacketTrailerSize;
  const std::uint32_t free_bytes = ring_bytes_to_write(ix->read, ix->write, size_);
  if (!ring_fits(free_bytes, footprint)) return Error{Errc::no_space, "ring.free", footprint};

  std::uint32_t pos = ix->write;
  for (ByteSpan part : parts) {
    copy_in(data_, size_, pos, part);
    pos = ring_advance(pos, part.size(), size_);
  }
  copy_in(data_, size_, pos, ByteSpan(kZeros).first(padded - total));
  pos = ring_advance(pos, padded - total, size_);
  std::array<std::byte, kPacketTrailerSize> trailer{};
  store_u64(trailer, 0, ring_trailer(ix->write));
  copy_in(data_, size_, pos, trailer);
  pos = ring_advance(pos, kPacketTrailerSize, size_);

  // Packet bytes before the index that publishes them.
  std::atomic_thread_fence(std::memory_order_release);
  set_write_index(pos);
  // Publish before looking at the reader's state (as hv_signal_on_write).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const std::uint32_t mask = interrupt_mask();
  std::atomic_thread_fence(std::memory_order_acquire);
  const std::uint32_t read_now = read_index();  // only compared, never used as an offset
  return ring_signal_after_write(ix->write, read_now, mask);
}

Result<PeekedPacket> RingView::peek() const {
  auto ix = indices();
  if (!ix) return ix.error();
  // Packet bytes are read only after the write index that published them.
  std::atomic_thread_fence(std::memory_order_acquire);
  const std::uint32_t avail = ring_bytes_to_read(ix->read, ix->write, size_);
  const std::size_t at = kRingHeaderSize + ix->read;
  if (avail == 0) return Error{Errc::empty, "ring.empty", at};
  if (avail < kRingMinPacketSize) return Error{Errc::truncated, "ring.packet", at};

  std::array<std::byte, kPacketDescriptorSize> desc_bytes{};
  copy_out(data_, size_, ix->read, desc_bytes);
  const PacketDescriptor desc = descriptor_from(desc_bytes);
  if (Status s = validate_descriptor(desc, avail - kPacketTrailerSize); !s)
    return at_ring_offset(s.error(), at);

  PeekedPacket p;
  p.desc = desc;
  p.read_index = ix->read;
  const std::size_t len = desc.packet_size();
  const std::size_t first = std::min<std::size_t>(len, size_ - ix->read);
  p.first = ByteSpan(data_ + ix->read, first);
  p.second = ByteSpan(data_, len - first);
  p.next_read_index = ring_advance(ix->read, len + kPacketTrailerSize, size_);
  return p;
}

bool RingView::signal_after_read(std::uint32_t old_read, std::uint32_t new_read) const {
  // Without the writer's feature bit nobody waits for space (checked before
  // the barrier, as hv_pkt_iter_close does).
  if ((feature_bits() & kRingFeaturePendingSendSz) == 0) return false;
  // The new read_index is published before pending_send_sz is looked at.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const std::uint32_t pending = pending_send_sz();
  if (pending == 0) return false;
  std::atomic_thread_fence(std::memory_order_acquire);
  const std::uint32_t write = write_index();
  if (!check_index(write, "ring.write_index", kRingWriteIndexOffset)) return false;
  return ring_signal_after_read(old_read, new_read, write, pending, size_);
}

Result<bool> RingView::consume(const PeekedPacket& p) const {
  const std::uint32_t r = read_index();
  if (r != p.read_index) return Error{Errc::bad_value, "ring.read_index", kRingReadIndexOffset};
  if (Status s = check_index(p.next_read_index, "ring.next_read_index", kRingReadIndexOffset); !s) {
    return s.error();
  }
  // All reads of the packet happen before the writer may reuse its space.
  std::atomic_thread_fence(std::memory_order_release);
  set_read_index(p.next_read_index);
  return signal_after_read(r, p.next_read_index);
}

Result<ReadResult> RingView::read(std::span<std::byte> out) const {
  auto p = peek();
  if (!p) return p.error();
  const std::size_t n = p->size();
  if (out.size() < n) return Error{Errc::bad_length, "ring.out", n};
  if (!p->first.empty()) std::memcpy(out.data(), p->first.data(), p->first.size());
  if (!p->second.empty()) std::memcpy(out.data() + p->first.size(), p->second.data(), p->second.size());
  // The copy carries the descriptor that was validated, whatever the ring holds now.
  encode_descriptor(p->desc, out.first<kPacketDescriptorSize>());
  auto signal = consume(*p);
  if (!signal) return signal.error();
  return ReadResult{p->desc, n, *signal};
}

}  // namespace vmbh::proto
