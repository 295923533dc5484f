// VMBus channel packets: the descriptor every packet in a ring starts with,
// the packet types, and the type-specific headers of in-band, completion,
// GPA-direct and transfer-page packets.
//
// Layout (little-endian, include/linux/hyperv.h):
//   descriptor (16 bytes): type u16, offset8 u16, len8 u16, flags u16, trans_id u64
//   type-specific header:  bytes [16, offset8 * 8)
//   payload:               bytes [offset8 * 8, len8 * 8), zero padded to 8 bytes
// In a ring the packet is followed by an 8-byte trailer (see ring.h).
//
// The payload a receiver sees is (len8 - offset8) * 8 bytes, i.e. it includes
// the sender's zero padding: the unpadded length is not on the wire.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/gpadl.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

inline constexpr std::size_t kPacketDescriptorSize = 16;  // struct vmpacket_descriptor
inline constexpr std::size_t kPacketAlign = 8;            // len8/offset8 granularity
// Largest packet a u16 len8 can describe.
inline constexpr std::size_t kPacketMaxSize = std::size_t{0xffff} * kPacketAlign;

// Type-specific header sizes (without their variable-length range arrays).
inline constexpr std::size_t kTransferPageHeaderSize = 24;  // desc + id u16 + owns u8 + rsvd u8 + count u32
inline constexpr std::size_t kTransferPageRangeSize = 8;    // byte_count u32, byte_offset u32
inline constexpr std::size_t kGpaDirectHeaderSize = 24;     // desc + reserved u32 + range_cnt u32
// kGpaRangeHeaderSize (8: byte_count u32, byte_offset u32, then pfn u64[]) is gpadl.h's.
inline constexpr std::size_t kGpaPageSize = 4096;  // Hyper-V page (HV_HYP_PAGE_SIZE)

// enum vmbus_packet_type.
enum class PacketType : std::uint16_t {
  invalid = 0x0,
  synch = 0x1,
  add_xfer_pageset = 0x2,
  rm_xfer_pageset = 0x3,
  establish_gpadl = 0x4,
  teardown_gpadl = 0x5,
  data_inband = 0x6,
  data_using_xfer_pages = 0x7,
  data_using_gpadl = 0x8,
  data_using_gpa_direct = 0x9,
  cancel_request = 0xa,
  completion = 0xb,
  data_using_additional_pkt = 0xc,
  additional_data = 0xd,
};
inline constexpr std::uint16_t kPacketTypeMax = 0xd;

// VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED.
inline constexpr std::uint16_t kPacketFlagCompletionRequested = 1;

// ---------------------------------------------------------------------------
// Descriptor
// ---------------------------------------------------------------------------

struct PacketDescriptor {
  std::uint16_t type = 0;
  std::uint16_t offset8 = 0;  // start of the payload, in 8-byte units from the packet start
  std::uint16_t len8 = 0;     // total packet length (descriptor .. padded payload), 8-byte units
  std::uint16_t flags = 0;
  std::uint64_t trans_id = 0;

  std::size_t packet_size() const { return std::size_t{len8} * kPacketAlign; }
  std::size_t payload_offset() const { return std::size_t{offset8} * kPacketAlign; }
  bool operator==(const PacketDescriptor&) const = default;
};

// Reads the 16 descriptor bytes only; no consistency checks.
Result<PacketDescriptor> decode_descriptor_raw(ByteSpan in);
// Checks offset8 >= 2 (the descriptor itself), offset8 <= len8, and
// len8 * 8 <= available. Errors: "packet.offset8", "packet.len8".
Status validate_descriptor(const PacketDescriptor& d, std::size_t available);
void encode_descriptor(const PacketDescriptor& d, std::span<std::byte, kPacketDescriptorSize> out);
std::array<std::byte, kPacketDescriptorSize> encode_descriptor(const PacketDescriptor& d);

// A descriptor for a packet of `header_size` bytes (descriptor included,
// multiple of 8) followed by `payload_size` bytes padded to 8. Returns a
// bad_length error ("packet.len8") if the packet exceeds kPacketMaxSize.
Result<PacketDescriptor> make_descriptor(PacketType type, std::uint16_t flags, std::uint64_t trans_id,
                                         std::size_t header_size, std::size_t payload_size);

// Rounds n up to a multiple of 8.
constexpr std::size_t align8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

// ---------------------------------------------------------------------------
// Zero-copy view of one packet
// ---------------------------------------------------------------------------

struct PacketView {
  PacketDescriptor desc;
  ByteSpan header;   // bytes [16, offset8*8): the type-specific header
  ByteSpan payload;  // bytes [offset8*8, len8*8): payload including padding
};

// `in` must be exactly one packet (len8 * 8 bytes); any type is accepted.
Result<PacketView> decode_packet(ByteSpan in);

// ---------------------------------------------------------------------------
// Typed packets (owning values; decoders accept any offset8 that covers their
// header, encoders produce the minimal offset8 Linux uses)
// ---------------------------------------------------------------------------

// VM_PKT_DATA_INBAND (6) and VM_PKT_COMP (11): descriptor + payload.
struct InbandPacket {
  std::uint16_t flags = 0;
  std::uint64_t trans_id = 0;
  Bytes payload;
  bool operator==(const InbandPacket&) const = default;
};
struct CompletionPacket {
  std::uint16_t flags = 0;
  std::uint64_t trans_id = 0;
  Bytes payload;
  bool operator==(const CompletionPacket&) const = default;
};

// VM_PKT_DATA_USING_GPA_DIRECT (9): struct vmdata_gpa_direct /
// vmbus_channel_packet_multipage_buffer. Each range's pfn count follows from
// its byte_offset and byte_count: ceil((byte_offset + byte_count) / 4096).
// A range is gpadl.h's GpaRange (the same struct gpa_range).
std::uint64_t gpa_range_pfn_count(std::uint32_t byte_offset, std::uint32_t byte_count);

struct GpaDirectPacket {
  std::uint16_t flags = 0;
  std::uint64_t trans_id = 0;
  std::uint32_t reserved = 0;
  std::vector<GpaRange> ranges;
  Bytes payload;
  bool operator==(const GpaDirectPacket&) const = default;
};

// VM_PKT_DATA_USING_XFER_PAGES (7): struct vmtransfer_page_packet_header.
struct TransferPageRange {
  std::uint32_t byte_count = 0;
  std::uint32_t byte_offset = 0;
  bool operator==(const TransferPageRange&) const = default;
};
struct TransferPagePacket {
  std::uint16_t flags = 0;
  std::uint64_t trans_id = 0;
  std::uint16_t xfer_pageset_id = 0;
  std::uint8_t sender_owns_set = 0;
  std::uint8_t reserved = 0;
  std::vector<TransferPageRange> ranges;
  Bytes payload;
  bool operator==(const TransferPagePacket&) const = default;
};

// Decoders take exactly one packet (len8 * 8 bytes) and check its type
// ("packet.type": unknown_type if it is another type).
Result<InbandPacket> decode_inband(ByteSpan in);
Result<CompletionPacket> decode_completion(ByteSpan in);
Result<GpaDirectPacket> decode_gpa_direct(ByteSpan in);
Result<TransferPagePacket> decode_transfer_page(ByteSpan in);

// Encoders: descriptor, header, payload, zero padding to 8 bytes. An encoder
// given a packet too large for len8 produces an empty vector; use
// encoded_size() first where sizes are not known to be small.
Bytes encode(const InbandPacket& p);
Bytes encode(const CompletionPacket& p);
Bytes encode(const GpaDirectPacket& p);
Bytes encode(const TransferPagePacket& p);

std::size_t encoded_size(const InbandPacket& p);
std::size_t encoded_size(const CompletionPacket& p);
std::size_t encoded_size(const GpaDirectPacket& p);
std::size_t encoded_size(const TransferPagePacket& p);

}  // namespace vmbh::proto
