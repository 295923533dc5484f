#include "vmbh/protocols/utf16.h"

#include <gtest/gtest.h>

namespace vmbh::proto {
namespace {

TEST(Utf16, AsciiAndBmpRoundTrip) {
  auto enc = utf8_to_utf16le("Ab\xC3\xA9\xE2\x82\xAC", "k");  // "Abé€"
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(*enc, bytes_of('A', 0, 'b', 0, 0xE9, 0, 0xAC, 0x20));
  auto dec = utf16le_to_utf8(*enc, "k");
  ASSERT_TRUE(dec.ok());
  EXPECT_EQ(*dec, "Ab\xC3\xA9\xE2\x82\xAC");
}

TEST(Utf16, SupplementaryPlaneUsesSurrogatePair) {
  auto enc = utf8_to_utf16le("\xF0\x9F\x98\x80", "k");  // U+1F600
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(*enc, bytes_of(0x3D, 0xD8, 0x00, 0xDE));
  EXPECT_EQ(*utf16le_to_utf8(*enc, "k"), "\xF0\x9F\x98\x80");
}

TEST(Utf16, RejectsUnpairedSurrogates) {
  EXPECT_EQ(utf16le_to_utf8(bytes_of(0x3D, 0xD8), "k").error().code, Errc::bad_encoding);  // high at end
  EXPECT_EQ(utf16le_to_utf8(bytes_of(0x3D, 0xD8, 'a', 0), "k").error().code, Errc::bad_encoding);
  auto lone_low = utf16le_to_utf8(bytes_of('a', 0, 0x00, 0xDE), "k");
  EXPECT_EQ(lone_low.error().code, Errc::bad_encoding);
  EXPECT_EQ(lone_low.error().offset, 2u);
}

TEST(Utf16, RejectsOddLength) {
  auto r = utf16le_to_utf8(bytes_of('a', 0, 'b'), "kvp.key");
  EXPECT_EQ(r.error().code, Errc::bad_length);
  EXPECT_STREQ(r.error().field, "kvp.key");
}

TEST(Utf16, TerminatedStopsAtFirstNul) {
  auto r = utf16le_terminated_to_utf8(bytes_of('h', 0, 'i', 0, 0, 0, 'x', 0), "name");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "hi");
}

TEST(Utf16, TerminatedRequiresNulInsideField) {
  EXPECT_EQ(utf16le_terminated_to_utf8(bytes_of('h', 0, 'i', 0), "name").error().code, Errc::bad_encoding);
}

TEST(Utf16, RejectsInvalidUtf8) {
  EXPECT_FALSE(utf8_to_utf16le("\xC0\xAF", "k").ok());                   // overlong '/'
  EXPECT_FALSE(utf8_to_utf16le("\xED\xA0\x80", "k").ok());               // encoded surrogate
  EXPECT_FALSE(utf8_to_utf16le("\xF4\x90\x80\x80", "k").ok());           // > U+10FFFF
  EXPECT_FALSE(utf8_to_utf16le("\xE2\x82", "k").ok());                   // truncated sequence
  EXPECT_FALSE(utf8_to_utf16le("\x80", "k").ok());                       // stray continuation
  EXPECT_FALSE(utf8_to_utf16le(std::string_view("a\0b", 3), "k").ok());  // embedded NUL
}

}  // namespace
}  // namespace vmbh::proto
