// VMBus ring buffer: the shared header page, index arithmetic, and packet
// read/write with wrap-around over a byte span (drivers/hv/ring_buffer.c).
//
// A ring is one header page followed by the data area:
//   +0  write_index u32     byte offset into the data area, owned by the writer
//   +4  read_index u32      byte offset into the data area, owned by the reader
//   +8  interrupt_mask u32  set by the reader: "do not signal me"
//   +12 pending_send_sz u32 set by the writer: "signal me when this much is free"
//   +64 feature_bits u32    bit 0: pending_send_sz supported (set by the writer)
//   +4096 data area         packets, each: bytes (len8*8), then u64 (old write_index << 32)
//
// Rules (all also available as pure functions below):
// - bytes to read = (write - read) mod size; free = size - bytes to read.
// - A writer needs STRICTLY more free space than packet + trailer, so the
//   ring is never completely full (full and empty would look alike).
// - After a write the reader is signalled only if the ring went from empty to
//   non-empty (old write_index == read_index) and its interrupt_mask is 0.
// - After a read, if the writer set feature bit 0 and pending_send_sz != 0,
//   the writer is signalled only when free space crossed from
//   <= pending_send_sz to > pending_send_sz.
//
// Trust model: the other side of a ring may be malicious and may change the
// shared memory at any time. Every operation loads each index once into a
// local, validates it (< data size, 8-byte aligned) and fails with a named
// error ("ring.write_index", "ring.read_index") instead of using it. A packet
// descriptor is loaded once, validated ("packet.offset8", "packet.len8",
// "ring.packet" for a ring holding fewer bytes than a minimal packet), and
// the copy handed to the caller carries that validated descriptor. On any
// error the ring (indices and data) is left unchanged. The trailer's value is
// not checked on read (Linux does not check it either).
//
// Memory ordering: the view uses plain loads/stores plus fences in the places
// where ring_buffer.c has barriers; the indices are read byte-wise, so a torn
// read only yields a value that is then validated like any other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/packet.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

// ---------------------------------------------------------------------------
// Layout constants
// ---------------------------------------------------------------------------

inline constexpr std::size_t kRingPageSize = 4096;
inline constexpr std::size_t kRingHeaderSize = 4096;  // struct hv_ring_buffer without buffer[]
inline constexpr std::size_t kRingWriteIndexOffset = 0;
inline constexpr std::size_t kRingReadIndexOffset = 4;
inline constexpr std::size_t kRingInterruptMaskOffset = 8;
inline constexpr std::size_t kRingPendingSendSzOffset = 12;
inline constexpr std::size_t kRingFeatureBitsOffset = 64;
inline constexpr std::uint32_t kRingFeaturePendingSendSz = 1;  // feature_bits bit 0
inline constexpr std::size_t kPacketTrailerSize = 8;           // VMBUS_PKT_TRAILER
inline constexpr std::size_t kRingIndexAlign = 8;
// Smallest packet in a ring: a bare descriptor plus its trailer.
inline constexpr std::size_t kRingMinPacketSize = kPacketDescriptorSize + kPacketTrailerSize;
// Data areas larger than this cannot be addressed by u32 indices.
inline constexpr std::size_t kRingMaxDataSize = 0x80000000u;

// ---------------------------------------------------------------------------
// Pure ring rules (indices are assumed validated: < size)
// ---------------------------------------------------------------------------

// Bytes written and not yet read.
constexpr std::uint32_t ring_bytes_to_read(std::uint32_t read, std::uint32_t write, std::uint32_t size) {
  return write >= read ? write - read : size - read + write;
}
// Free bytes (the kernel's hv_get_bytes_to_write): size when empty.
constexpr std::uint32_t ring_bytes_to_write(std::uint32_t read, std::uint32_t write, std::uint32_t size) {
  return size - ring_bytes_to_read(read, write, size);
}
// Bytes a packet of `packet_size` bytes (descriptor .. padded payload) takes in the ring.
constexpr std::size_t ring_packet_footprint(std::size_t packet_size) {
  return align8(packet_size) + kPacketTrailerSize;
}
// Whether a footprint fits: strictly more free space than needed.
constexpr bool ring_fits(std::uint32_t free_bytes, std::size_t footprint) { return free_bytes > footprint; }
// Index after advancing `index` by `n` bytes (n <= size).
constexpr std::uint32_t ring_advance(std::uint32_t index, std::size_t n, std::uint32_t size) {
  std::size_t next = std::size_t{index} + n;
  return static_cast<std::uint32_t>(next >= size ? next - size : next);
}
// Trailer written after each packet.
constexpr std::uint64_t ring_trailer(std::uint32_t old_write) { return std::uint64_t{old_write} << 32; }

// Writer side: signal the reader after publishing a packet written at
// `old_write`, given the reader's read_index and interrupt_mask loaded after
// the new write_index was published.
constexpr bool ring_signal_after_write(std::uint32_t old_write, std::uint32_t read_index,
                                       std::uint32_t interrupt_mask) {
  return interrupt_mask == 0 && old_write == read_index;
}

// Reader side (feature bit set by the writer): after moving read_index from
// old_read to new_read, signal the writer iff its pending_send_sz is non-zero
// and free space went from <= pending_send_sz to > pending_send_sz.
constexpr bool ring_signal_after_read(std::uint32_t old_read, std::uint32_t new_read, std::uint32_t write,
                                      std::uint32_t pending_send_sz, std::uint32_t size) {
  if (pending_send_sz == 0) return false;
  std::uint32_t free_now = ring_bytes_to_write(new_read, write, size);
  std::uint32_t freed = ring_bytes_to_read(old_read, new_read, size);
  if (freed > free_now) return false;  // inconsistent inputs (new_read not on old_read..write): never signal
  std::uint32_t free_before = free_now - freed;
  return free_before <= pending_send_sz && free_now > pending_send_sz;
}

// ---------------------------------------------------------------------------
// RingView
// ---------------------------------------------------------------------------

struct RingIndices {
  std::uint32_t read = 0;
  std::uint32_t write = 0;
};

// One packet at the read index, not yet consumed.
struct PeekedPacket {
  PacketDescriptor desc;  // validated snapshot
  std::uint32_t read_index = 0;
  std::uint32_t next_read_index = 0;  // after the packet and its trailer
  // The len8*8 packet bytes in the ring: `first`, then `second` if the packet
  // wraps (second is empty otherwise). They alias shared memory: the other
  // side may still change them, so copy before decoding untrusted content.
  ByteSpan first;
  ByteSpan second;
  std::size_t size() const { return first.size() + second.size(); }
};

struct ReadResult {
  PacketDescriptor desc;  // the validated descriptor (also written into out[0..16))
  std::size_t size = 0;   // bytes copied: len8 * 8
  bool signal = false;    // the writer must be signalled
};

class RingView {
 public:
  // `ring` = header page + data area; its size must be a multiple of 4096
  // with at least one data page. Errors: "ring.size".
  static Result<RingView> create(std::span<std::byte> ring);

  std::uint32_t data_size() const { return size_; }
  std::span<std::byte> bytes() const { return ring_; }
  std::span<std::byte> data() const { return ring_.subspan(kRingHeaderSize); }

  // Raw header fields (one load each, unvalidated).
  std::uint32_t write_index() const { return get(kRingWriteIndexOffset); }
  std::uint32_t read_index() const { return get(kRingReadIndexOffset); }
  std::uint32_t interrupt_mask() const { return get(kRingInterruptMaskOffset); }
  std::uint32_t pending_send_sz() const { return get(kRingPendingSendSzOffset); }
  std::uint32_t feature_bits() const { return get(kRingFeatureBitsOffset); }
  void set_write_index(std::uint32_t v) const { put(kRingWriteIndexOffset, v); }
  void set_read_index(std::uint32_t v) const { put(kRingReadIndexOffset, v); }
  void set_interrupt_mask(std::uint32_t v) const { put(kRingInterruptMaskOffset, v); }
  void set_pending_send_sz(std::uint32_t v) const { put(kRingPendingSendSzOffset, v); }
  void set_feature_bits(std::uint32_t v) const { put(kRingFeatureBitsOffset, v); }

  // Loads both indices once and validates them.
  Result<RingIndices> indices() const;
  Result<std::uint32_t> bytes_to_read() const;
  Result<std::uint32_t> bytes_to_write() const;

  // Writes one packet gathered from `parts` (descriptor first; the parts
  // together are the packet without its padding), then zero padding to 8
  // bytes and the trailer, and publishes the new write_index. The gathered
  // descriptor must be valid with len8 * 8 == align8(total bytes).
  // Returns whether the reader must be signalled.
  // Errors: "ring.write_index", "ring.read_index" (corrupt), "packet.*"
  // (malformed packet), no_space "ring.free" (not strictly more free space).
  Result<bool> write(std::span<const ByteSpan> parts) const;
  Result<bool> write(ByteSpan packet) const { return write(std::span<const ByteSpan>(&packet, 1)); }

  // The packet at read_index, without consuming it.
  // Errors: empty "ring.empty", "ring.write_index", "ring.read_index",
  // truncated "ring.packet" (fewer bytes than a minimal packet), "packet.*".
  Result<PeekedPacket> peek() const;
  // Consumes a packet returned by peek(): publishes its next_read_index if
  // read_index has not moved meanwhile ("ring.read_index" otherwise).
  // Returns whether the writer must be signalled.
  Result<bool> consume(const PeekedPacket& p) const;
  // peek + copy the whole packet (descriptor included) into `out` + consume.
  // Errors as peek, plus bad_length "ring.out" if `out` is too small.
  Result<ReadResult> read(std::span<std::byte> out) const;

 private:
  explicit RingView(std::span<std::byte> ring)
      : ring_(ring),
        data_(ring.data() + kRingHeaderSize),
        size_(static_cast<std::uint32_t>(ring.size() - kRingHeaderSize)) {}
  // Little-endian header access; at + 4 <= kRingHeaderSize always holds.
  std::uint32_t get(std::size_t at) const {
    const std::byte* p = ring_.data() + at;
    return std::to_integer<std::uint32_t>(p[0]) | (std::to_integer<std::uint32_t>(p[1]) << 8) |
           (std::to_integer<std::uint32_t>(p[2]) << 16) | (std::to_integer<std::uint32_t>(p[3]) << 24);
  }
  void put(std::size_t at, std::uint32_t v) const {
    std::byte* p = ring_.data() + at;
    for (std::size_t i = 0; i < 4; ++i) p[i] = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  Status check_index(std::uint32_t v, const char* field, std::size_t at) const;
  bool signal_after_read(std::uint32_t old_read, std::uint32_t new_read) const;

  std::span<std::byte> ring_;
  std::byte* data_;
  std::uint32_t size_;
};

}  // namespace vmbh::proto
