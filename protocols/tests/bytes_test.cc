#include "vmbh/protocols/bytes.h"

#include <gtest/gtest.h>

#include "vmbh/protocols/guid.h"

namespace vmbh::proto {
namespace {

TEST(ByteReader, ReadsLittleEndianFields) {
  Bytes in = bytes_of(0x01, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 1, 2, 3, 4, 5, 6, 7, 8);
  ByteReader r(in);
  EXPECT_EQ(r.u8("a"), 0x01);
  EXPECT_EQ(r.u16("b"), 0x1234);
  EXPECT_EQ(r.u32("c"), 0x12345678u);
  EXPECT_EQ(r.u64("d"), 0x0807060504030201ull);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(ByteReader, FirstErrorStickyAndNamesField) {
  Bytes in = bytes_of(1, 2, 3);
  ByteReader r(in);
  EXPECT_EQ(r.u16("first"), 0x0201);
  EXPECT_EQ(r.u32("second"), 0u);  // truncated
  EXPECT_EQ(r.u8("third"), 0u);    // sticky: no read after an error
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error()->code, Errc::truncated);
  EXPECT_STREQ(r.error()->field, "second");
  EXPECT_EQ(r.error()->offset, 2u);
  EXPECT_EQ(r.error()->message(), "second: truncated at offset 2");
}

TEST(ByteReader, BytesNeverPastEnd) {
  Bytes in = bytes_of(1, 2, 3, 4);
  ByteReader r(in);
  EXPECT_EQ(r.bytes(3, "x").size(), 3u);
  EXPECT_TRUE(r.bytes(2, "y").empty());
  EXPECT_FALSE(r.ok());
}

TEST(ByteReader, HugeLengthDoesNotOverflow) {
  Bytes in = bytes_of(1, 2);
  ByteReader r(in);
  r.skip(1, "a");
  EXPECT_TRUE(r.bytes(SIZE_MAX, "huge").empty());
  EXPECT_EQ(r.error()->code, Errc::truncated);
}

TEST(ByteReader, ExpectEndReportsTrailingData) {
  Bytes in = bytes_of(1, 2);
  ByteReader r(in);
  r.u8("a");
  r.expect_end("msg");
  EXPECT_EQ(r.error()->code, Errc::trailing_data);
}

TEST(ByteWriter, WritesLittleEndianAndPatches) {
  Bytes out;
  ByteWriter w(out);
  w.u16(0x1234);
  w.u32(0);
  w.u8(0xff);
  w.patch_u32(2, 0xAABBCCDD);
  w.pad_to(0, 10);
  EXPECT_EQ(out, bytes_of(0x34, 0x12, 0xDD, 0xCC, 0xBB, 0xAA, 0xff, 0, 0, 0));
}

TEST(Guid, ParsesToWireOrderAndBack) {
  auto g = Guid::parse("f8615163-df3e-46c5-913f-f2d2f965ed0e");
  ASSERT_TRUE(g.has_value());
  // Linux's GUID_INIT puts the first three fields little-endian.
  std::array<std::uint8_t, 16> want = {0x63, 0x51, 0x61, 0xf8, 0x3e, 0xdf, 0xc5, 0x46,
                                       0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e};
  EXPECT_EQ(g->wire, want);
  EXPECT_EQ(g->to_string(), "f8615163-df3e-46c5-913f-f2d2f965ed0e");
}

TEST(Guid, RejectsMalformedText) {
  EXPECT_FALSE(Guid::parse("f8615163-df3e-46c5-913f-f2d2f965ed0").has_value());
  EXPECT_FALSE(Guid::parse("f8615163xdf3e-46c5-913f-f2d2f965ed0e").has_value());
  EXPECT_FALSE(Guid::parse("g8615163-df3e-46c5-913f-f2d2f965ed0e").has_value());
}

}  // namespace
}  // namespace vmbh::proto
