#include "vmbh/protocols/packet.h"

#include <gtest/gtest.h>

namespace vmbh::proto {
namespace {

// ---------------------------------------------------------------------------
// Sizes and constants (include/linux/hyperv.h)
// ---------------------------------------------------------------------------

TEST(PacketConstants, SizesPinned) {
  EXPECT_EQ(kPacketDescriptorSize, 16u);    // sizeof(struct vmpacket_descriptor)
  EXPECT_EQ(kTransferPageHeaderSize, 24u);  // offsetof(vmtransfer_page_packet_header, ranges)
  EXPECT_EQ(kTransferPageRangeSize, 8u);    // sizeof(struct vmtransfer_page_range)
  EXPECT_EQ(kGpaDirectHeaderSize, 24u);     // offsetof(vmdata_gpa_direct, range)
  EXPECT_EQ(kGpaRangeHeaderSize, 8u);       // sizeof(struct gpa_range) without pfns
  EXPECT_EQ(kPacketMaxSize, 0xffffu * 8u);
  EXPECT_EQ(kPacketFlagCompletionRequested, 1u);
}

TEST(PacketConstants, PacketTypesMatchVmbusPacketType) {
  EXPECT_EQ(static_cast<int>(PacketType::invalid), 0x0);
  EXPECT_EQ(static_cast<int>(PacketType::synch), 0x1);
  EXPECT_EQ(static_cast<int>(PacketType::add_xfer_pageset), 0x2);
  EXPECT_EQ(static_cast<int>(PacketType::rm_xfer_pageset), 0x3);
  EXPECT_EQ(static_cast<int>(PacketType::establish_gpadl), 0x4);
  EXPECT_EQ(static_cast<int>(PacketType::teardown_gpadl), 0x5);
  EXPECT_EQ(static_cast<int>(PacketType::data_inband), 0x6);
  EXPECT_EQ(static_cast<int>(PacketType::data_using_xfer_pages), 0x7);
  EXPECT_EQ(static_cast<int>(PacketType::data_using_gpadl), 0x8);
  EXPECT_EQ(static_cast<int>(PacketType::data_using_gpa_direct), 0x9);
  EXPECT_EQ(static_cast<int>(PacketType::cancel_request), 0xa);
  EXPECT_EQ(static_cast<int>(PacketType::completion), 0xb);
  EXPECT_EQ(static_cast<int>(PacketType::data_using_additional_pkt), 0xc);
  EXPECT_EQ(static_cast<int>(PacketType::additional_data), 0xd);
}

// ---------------------------------------------------------------------------
// Descriptor
// ---------------------------------------------------------------------------

TEST(PacketDescriptor, GoldenEncoding) {
  PacketDescriptor d{0x0006, 0x0002, 0x0003, 0x0001, 0x1122334455667788ull};
  Bytes want = bytes_of(0x06, 0x00, 0x02, 0x00, 0x03, 0x00, 0x01, 0x00, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
                        0x22, 0x11);
  auto got = encode_descriptor(d);
  EXPECT_EQ(Bytes(got.begin(), got.end()), want);
  auto back = decode_descriptor_raw(want);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, d);
}

TEST(PacketDescriptor, RawDecodeTruncatedAtEveryLength) {
  auto full = encode_descriptor(PacketDescriptor{6, 2, 2, 0, 1});
  for (std::size_t n = 0; n < full.size(); ++n) {
    auto r = decode_descriptor_raw(ByteSpan(full).first(n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().code, Errc::truncated);
  }
}

TEST(PacketDescriptor, ValidateRejectsOffsetInsideDescriptor) {
  for (std::uint16_t off : {std::uint16_t{0}, std::uint16_t{1}}) {
    Status s = validate_descriptor(PacketDescriptor{6, off, 4, 0, 0}, 64);
    ASSERT_FALSE(s.ok());
    EXPECT_STREQ(s.error().field, "packet.offset8");
    EXPECT_EQ(s.error().code, Errc::bad_value);
  }
}

TEST(PacketDescriptor, ValidateRejectsOffsetBeyondLength) {
  Status s = validate_descriptor(PacketDescriptor{6, 4, 3, 0, 0}, 64);
  ASSERT_FALSE(s.ok());
  EXPECT_STREQ(s.error().field, "packet.offset8");
  EXPECT_EQ(s.error().code, Errc::bad_length);
}

TEST(PacketDescriptor, ValidateRejectsLengthBeyondAvailable) {
  EXPECT_TRUE(validate_descriptor(PacketDescriptor{6, 2, 8, 0, 0}, 64).ok());
  Status s = validate_descriptor(PacketDescriptor{6, 2, 9, 0, 0}, 64);
  ASSERT_FALSE(s.ok());
  EXPECT_STREQ(s.error().field, "packet.len8");
  // offset8 == len8 (no payload) is allowed.
  EXPECT_TRUE(validate_descriptor(PacketDescriptor{6, 2, 2, 0, 0}, 16).ok());
}

TEST(PacketDescriptor, MakeDescriptorPadsAndBounds) {
  auto d = make_descriptor(PacketType::data_inband, 1, 7, 16, 5);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->offset8, 2);
  EXPECT_EQ(d->len8, 3);  // 21 -> 24
  EXPECT_TRUE(make_descriptor(PacketType::data_inband, 0, 0, 16, kPacketMaxSize - 16).ok());
  EXPECT_FALSE(make_descriptor(PacketType::data_inband, 0, 0, 16, kPacketMaxSize - 15).ok());
  EXPECT_FALSE(make_descriptor(PacketType::data_inband, 0, 0, 12, 0).ok());  // header not 8-aligned
  EXPECT_FALSE(make_descriptor(PacketType::data_inband, 0, 0, 8, 0).ok());   // smaller than descriptor
}

TEST(PacketView, SplitsHeaderAndPayload) {
  Bytes in = bytes_of(0x07, 0, 0x03, 0, 0x04, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,  // desc
                      0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,           // header
                      0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8);          // payload
  auto v = decode_packet(in);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->desc.type, 7);
  EXPECT_EQ(v->header.size(), 8u);
  EXPECT_EQ(v->header[0], std::byte{0xa1});
  EXPECT_EQ(v->payload.size(), 8u);
  EXPECT_EQ(v->payload[7], std::byte{0xb8});
}

TEST(PacketView, RejectsTrailingBytes) {
  Bytes in = encode(InbandPacket{0, 1, bytes_of(1, 2, 3)});
  in.push_back(std::byte{0});
  auto v = decode_packet(in);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, Errc::trailing_data);
  EXPECT_STREQ(v.error().field, "packet.len8");
}

// ---------------------------------------------------------------------------
// In-band and completion
// ---------------------------------------------------------------------------

TEST(InbandPacket, GoldenBytes) {
  InbandPacket p{kPacketFlagCompletionRequested, 0x1122334455667788ull,
                 bytes_of(0xaa, 0xbb, 0xcc, 0xdd, 0xee)};
  Bytes want = bytes_of(0x06, 0x00, 0x02, 0x00, 0x03, 0x00, 0x01, 0x00,  // type 6, offset8 2, len8 3, flags 1
                        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  // trans_id
                        0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x00, 0x00, 0x00);  // payload + padding
  EXPECT_EQ(encode(p), want);
  EXPECT_EQ(encoded_size(p), want.size());
  auto back = decode_inband(want);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->flags, 1);
  EXPECT_EQ(back->trans_id, 0x1122334455667788ull);
  EXPECT_EQ(back->payload,
            bytes_of(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0, 0, 0));  // padding is part of the payload
}

TEST(InbandPacket, EmptyPayloadIsBareDescriptor) {
  Bytes b = encode(InbandPacket{0, 5, {}});
  EXPECT_EQ(b, bytes_of(6, 0, 2, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0));
  auto back = decode_inband(b);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->payload.empty());
}

TEST(InbandPacket, RoundTripAllPayloadSizes) {
  for (std::size_t n = 0; n < 40; ++n) {
    InbandPacket p{static_cast<std::uint16_t>(n & 1), n * 1000, Bytes(n, std::byte{0x5a})};
    Bytes b = encode(p);
    EXPECT_EQ(b.size(), align8(16 + n));
    auto d = decode_inband(b);
    ASSERT_TRUE(d.ok()) << n;
    EXPECT_EQ(encode(*d), b);
    auto d2 = decode_inband(encode(*d));
    ASSERT_TRUE(d2.ok());
    EXPECT_EQ(*d2, *d);
  }
}

TEST(InbandPacket, OffsetPastDescriptorSkipsExtraHeader) {
  // offset8 = 3: 8 bytes of type-specific header before the payload.
  Bytes in = bytes_of(6, 0, 3, 0, 4, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee,
                      0xee, 0xee, 1, 2, 3, 4, 5, 6, 7, 8);
  auto p = decode_inband(in);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->payload, bytes_of(1, 2, 3, 4, 5, 6, 7, 8));
}

TEST(InbandPacket, TruncatedAtEveryLength) {
  Bytes full = encode(InbandPacket{1, 2, Bytes(21, std::byte{3})});
  for (std::size_t n = 0; n < full.size(); ++n) {
    auto r = decode_inband(ByteSpan(full).first(n));
    EXPECT_FALSE(r.ok()) << n;
  }
}

TEST(InbandPacket, WrongTypeRejected) {
  Bytes b = encode(CompletionPacket{0, 1, bytes_of(1)});
  auto r = decode_inband(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::unknown_type);
  EXPECT_STREQ(r.error().field, "packet.type");
}

TEST(CompletionPacket, GoldenBytes) {
  CompletionPacket p{0, 9, bytes_of(0x10, 0x20, 0x30, 0x40)};
  Bytes want = bytes_of(0x0b, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x20,
                        0x30, 0x40, 0, 0, 0, 0);
  EXPECT_EQ(encode(p), want);
  auto back = decode_completion(want);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->trans_id, 9u);
  EXPECT_EQ(back->payload, bytes_of(0x10, 0x20, 0x30, 0x40, 0, 0, 0, 0));
  EXPECT_FALSE(decode_inband(want).ok());
}

TEST(CompletionPacket, TruncatedAtEveryLength) {
  Bytes full = encode(CompletionPacket{0, 2, Bytes(9, std::byte{3})});
  for (std::size_t n = 0; n < full.size(); ++n) EXPECT_FALSE(decode_completion(ByteSpan(full).first(n)).ok());
}

// ---------------------------------------------------------------------------
// GPA direct
// ---------------------------------------------------------------------------

TEST(GpaDirect, PfnCountFollowsOffsetAndLength) {
  EXPECT_EQ(gpa_range_pfn_count(0, 0), 0u);
  EXPECT_EQ(gpa_range_pfn_count(0, 1), 1u);
  EXPECT_EQ(gpa_range_pfn_count(0, 4096), 1u);
  EXPECT_EQ(gpa_range_pfn_count(0, 4097), 2u);
  EXPECT_EQ(gpa_range_pfn_count(4095, 2), 2u);
  EXPECT_EQ(gpa_range_pfn_count(0x10, 0x1000), 2u);
  EXPECT_EQ(gpa_range_pfn_count(0xffffffffu, 0xffffffffu), 0x200000u);  // no u32 overflow
}

Bytes golden_gpa() {
  return bytes_of(0x09, 0x00, 0x06, 0x00, 0x07, 0x00, 0x01, 0x00,  // type 9, offset8 6, len8 7, flags 1
                  0x42, 0, 0, 0, 0, 0, 0, 0,                       // trans_id
                  0, 0, 0, 0, 0x01, 0, 0, 0,                       // reserved, range_cnt 1
                  0x00, 0x10, 0, 0, 0x10, 0, 0, 0,                 // byte_count 0x1000, byte_offset 0x10
                  0x34, 0x12, 0, 0, 0, 0, 0, 0,                    // pfn 0x1234
                  0x78, 0x56, 0, 0, 0, 0, 0, 0,                    // pfn 0x5678
                  0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0);             // payload + padding
}

TEST(GpaDirect, GoldenBytes) {
  GpaDirectPacket p;
  p.flags = 1;
  p.trans_id = 0x42;
  p.ranges.push_back(GpaRange{0x1000, 0x10, {0x1234, 0x5678}});
  p.payload = bytes_of(1, 2, 3, 4);
  EXPECT_EQ(encode(p), golden_gpa());
  auto back = decode_gpa_direct(golden_gpa());
  ASSERT_TRUE(back.ok()) << back.error().message();
  ASSERT_EQ(back->ranges.size(), 1u);
  EXPECT_EQ(back->ranges[0], (GpaRange{0x1000, 0x10, {0x1234, 0x5678}}));
  EXPECT_EQ(back->payload, bytes_of(1, 2, 3, 4, 0, 0, 0, 0));
}

TEST(GpaDirect, RoundTripSeveralRanges) {
  GpaDirectPacket p;
  p.trans_id = 77;
  p.ranges.push_back(GpaRange{100, 3000, {1}});
  p.ranges.push_back(GpaRange{0, 0, {}});
  p.ranges.push_back(GpaRange{3 * 4096, 0, {7, 8, 9}});
  p.payload = Bytes(13, std::byte{0x11});
  Bytes b = encode(p);
  ASSERT_EQ(b.size(), encoded_size(p));
  auto d = decode_gpa_direct(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->ranges, p.ranges);
  EXPECT_EQ(encode(*d), b);
}

TEST(GpaDirect, TruncatedAtEveryLength) {
  Bytes full = golden_gpa();
  for (std::size_t n = 0; n < full.size(); ++n) EXPECT_FALSE(decode_gpa_direct(ByteSpan(full).first(n)).ok());
}

TEST(GpaDirect, RangeCountBeyondHeaderRejected) {
  Bytes b = golden_gpa();
  b[20] = std::byte{2};  // range_cnt 2, but the header holds one range
  auto r = decode_gpa_direct(b);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().field, "gpa_range.byte_count");
  b[20] = std::byte{0xff};
  b[23] = std::byte{0xff};
  r = decode_gpa_direct(b);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().field, "gpa_direct.range_cnt");
  EXPECT_EQ(r.error().code, Errc::bad_length);
}

TEST(GpaDirect, PfnCountBeyondHeaderRejected) {
  Bytes b = golden_gpa();
  b[25] = std::byte{0x20};  // byte_count 0x2000 + offset 0x10 -> 3 pfns, header has 2
  auto r = decode_gpa_direct(b);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().field, "gpa_range.byte_count");
  EXPECT_EQ(r.error().code, Errc::bad_length);
  EXPECT_EQ(r.error().offset, 32u);  // after the range header
}

TEST(GpaDirect, HeaderShorterThanFixedPartRejected) {
  // offset8 = 2: no room for reserved/range_cnt.
  Bytes b = bytes_of(9, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8);
  auto r = decode_gpa_direct(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::truncated);
  EXPECT_STREQ(r.error().field, "gpa_direct.reserved");
}

TEST(GpaDirect, EncoderRefusesInconsistentPfnCount) {
  GpaDirectPacket p;
  p.ranges.push_back(GpaRange{8192, 0, {1}});  // needs 2 pfns
  EXPECT_TRUE(encode(p).empty());
  EXPECT_EQ(encoded_size(p), 0u);
}

// ---------------------------------------------------------------------------
// Transfer pages
// ---------------------------------------------------------------------------

Bytes golden_xfer() {
  return bytes_of(0x07, 0x00, 0x05, 0x00, 0x06, 0x00, 0x00, 0x00,  // type 7, offset8 5, len8 6, flags 0
                  0x07, 0, 0, 0, 0, 0, 0, 0,                       // trans_id
                  0xfe, 0xca, 0x01, 0x00, 0x02, 0, 0, 0,  // pageset 0xcafe, owns 1, rsvd, range_cnt 2
                  0x64, 0, 0, 0, 0, 0, 0, 0,              // {100, 0}
                  0xc8, 0, 0, 0, 0x00, 0x10, 0, 0,        // {200, 4096}
                  1, 0, 0, 0, 2, 0, 0, 0);                // payload
}

TEST(TransferPage, GoldenBytes) {
  TransferPagePacket p;
  p.trans_id = 7;
  p.xfer_pageset_id = 0xcafe;
  p.sender_owns_set = 1;
  p.ranges = {{100, 0}, {200, 4096}};
  p.payload = bytes_of(1, 0, 0, 0, 2, 0, 0, 0);
  EXPECT_EQ(encode(p), golden_xfer());
  auto back = decode_transfer_page(golden_xfer());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, p);
}

TEST(TransferPage, TruncatedAtEveryLength) {
  Bytes full = golden_xfer();
  for (std::size_t n = 0; n < full.size(); ++n) {
    EXPECT_FALSE(decode_transfer_page(ByteSpan(full).first(n)).ok());
  }
}

TEST(TransferPage, RangeCountBeyondHeaderRejected) {
  Bytes b = golden_xfer();
  b[20] = std::byte{3};
  auto r = decode_transfer_page(b);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().field, "xfer_page.range_cnt");
  EXPECT_EQ(r.error().offset, 24u);  // found right after the count
}

TEST(TransferPage, FewerRangesThanHeaderRoomIsAccepted) {
  Bytes b = golden_xfer();
  b[20] = std::byte{1};  // netvsc only checks that the ranges fit below offset8
  auto r = decode_transfer_page(b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ranges.size(), 1u);
}

TEST(TransferPage, ZeroRangesRoundTrip) {
  TransferPagePacket p;
  p.xfer_pageset_id = 1;
  Bytes b = encode(p);
  EXPECT_EQ(b.size(), 24u);
  auto d = decode_transfer_page(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, p);
}

TEST(TransferPage, WrongTypeRejected) {
  EXPECT_EQ(decode_transfer_page(golden_gpa()).error().code, Errc::unknown_type);
  EXPECT_EQ(decode_gpa_direct(golden_xfer()).error().code, Errc::unknown_type);
}

}  // namespace
}  // namespace vmbh::proto
