#include "vmbh/protocols/fcopy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vmbh::proto {
namespace {

void put_u16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = std::byte(static_cast<std::uint8_t>(v));
  b[at + 1] = std::byte(static_cast<std::uint8_t>(v >> 8));
}
void put_ascii_utf16(Bytes& b, std::size_t at, std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) put_u16(b, at + 2 * i, static_cast<std::uint8_t>(s[i]));
}

// A START message built by hand: names written as UTF-16 units at the layout offsets.
Bytes hand_start(std::string_view file, std::string_view path) {
  Bytes b(1088, std::byte{0});
  put_ascii_utf16(b, 36, file);
  put_ascii_utf16(b, 556, path);
  return b;
}

FcopyStart sample_start() {
  FcopyStart s;
  s.file_name = "report.txt";
  s.path_name = "/var/tmp";
  s.copy_flags = kFcopyOverWrite | kFcopyCreatePath;
  s.file_size = 12345;
  return s;
}

FcopyWrite sample_write(std::size_t n) {
  FcopyWrite w;
  w.offset = 0x10000;
  for (std::size_t i = 0; i < n; ++i) w.data.push_back(std::byte(static_cast<std::uint8_t>(i * 7 + 1)));
  return w;
}

// ---- Layout ----------------------------------------------------------------

TEST(FcopyLayout, StructSizes) {
  EXPECT_EQ(kFcopyHdrSize, 4u + 16u + 16u);                           // hv_fcopy_hdr
  EXPECT_EQ(kFcopyStartSize, kFcopyHdrSize + 520u + 520u + 4u + 8u);  // hv_start_fcopy
  EXPECT_EQ(kFcopyWriteSize, kFcopyHdrSize + 4u + 8u + 4u + 6144u);   // hv_do_fcopy
  EXPECT_EQ(kFcopyStartSize, 1088u);
  EXPECT_EQ(kFcopyWriteSize, 6196u);
  EXPECT_EQ(kFcopyMaxPath, 260u);
  EXPECT_EQ(kFcopyDataFragment, 6144u);
}

TEST(FcopyLayout, FieldOffsets) {
  EXPECT_EQ(kFcopyServiceId0Offset, 4u);
  EXPECT_EQ(kFcopyServiceId1Offset, 20u);
  EXPECT_EQ(kFcopyFileNameOffset, 36u);
  EXPECT_EQ(kFcopyPathNameOffset, 36u + 520u);
  EXPECT_EQ(kFcopyCopyFlagsOffset, 36u + 1040u);
  EXPECT_EQ(kFcopyFileSizeOffset, 1080u);
  EXPECT_EQ(kFcopyPadOffset, 36u);
  EXPECT_EQ(kFcopyOffsetOffset, 40u);
  EXPECT_EQ(kFcopySizeOffset, 48u);
  EXPECT_EQ(kFcopyDataOffset, 52u);
}

TEST(FcopyLayout, ConstantsAndNames) {
  EXPECT_EQ(kFcopyOverWrite, 1u);
  EXPECT_EQ(kFcopyCreatePath, 2u);
  EXPECT_EQ(static_cast<std::uint32_t>(FcopyStatus::already_exists), 0x80070050u);
  EXPECT_EQ(static_cast<std::uint32_t>(FcopyStatus::disk_full), 0x80070070u);
  EXPECT_EQ(to_string(FcopyOp::write_to_file), "WRITE_TO_FILE");
  EXPECT_EQ(to_string(static_cast<FcopyOp>(4)), "UNKNOWN");
  EXPECT_EQ(kFcopyIcMajor, 1);
  EXPECT_EQ(kFcopyIcMinor, 1);
}

// ---- Golden bytes ------------------------------------------------------------

TEST(FcopyGolden, StartWithShortName) {
  Bytes golden = hand_start("a.txt", "/tmp");
  golden[1076] = std::byte{0x03};  // copy_flags = OVER_WRITE | CREATE_PATH
  for (int i = 0; i < 8; ++i)
    golden[1080 + static_cast<std::size_t>(i)] = std::byte(static_cast<std::uint8_t>(8 - i));
  FcopyStart s;
  s.file_name = "a.txt";
  s.path_name = "/tmp";
  s.copy_flags = 3;
  s.file_size = 0x0102030405060708;
  auto wire = encode_fcopy(FcopyMessage{s});
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ(*wire, golden);
  auto m = decode_fcopy(golden);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(std::get<FcopyStart>(*m), s);
}

TEST(FcopyGolden, WriteWithSmallFragment) {
  Bytes golden(6196, std::byte{0});
  golden[0] = std::byte{0x01};   // WRITE_TO_FILE
  golden[41] = std::byte{0x10};  // offset = 0x1000
  golden[48] = std::byte{0x03};  // size = 3
  golden[52] = std::byte{'a'}, golden[53] = std::byte{'b'}, golden[54] = std::byte{'c'};
  FcopyWrite w;
  w.offset = 0x1000;
  w.data = bytes_of('a', 'b', 'c');
  auto wire = encode_fcopy(FcopyMessage{w});
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ(*wire, golden);
  auto m = decode_fcopy_write(golden);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, w);
}

TEST(FcopyGolden, CompleteAndCancelAreTheHeader) {
  Bytes complete(36, std::byte{0});
  complete[0] = std::byte{2};
  Bytes cancel(36, std::byte{0});
  cancel[0] = std::byte{3};
  EXPECT_EQ(*encode_fcopy(FcopyMessage{FcopyComplete{}}), complete);
  EXPECT_EQ(*encode_fcopy(FcopyMessage{FcopyCancel{}}), cancel);
  EXPECT_TRUE(decode_fcopy_complete(complete).ok());
  EXPECT_TRUE(decode_fcopy_cancel(cancel).ok());
}

TEST(FcopyGolden, ServiceIdsAtTheirOffsets) {
  Bytes wire(36, std::byte{0});
  wire[0] = std::byte{2};
  wire[4] = std::byte{0xA0};
  wire[19] = std::byte{0xAF};
  wire[20] = std::byte{0xB0};
  wire[35] = std::byte{0xBF};
  auto m = decode_fcopy_complete(wire);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->service_ids.id0[0], 0xA0);
  EXPECT_EQ(m->service_ids.id0[15], 0xAF);
  EXPECT_EQ(m->service_ids.id1[0], 0xB0);
  EXPECT_EQ(m->service_ids.id1[15], 0xBF);
  EXPECT_EQ(*encode_fcopy(FcopyMessage{*m}), wire);
}

// ---- Round trips --------------------------------------------------------------

TEST(Fcopy, RoundTripEveryOperation) {
  FcopyServiceIds ids;
  ids.id0[3] = 0x33;
  ids.id1[9] = 0x99;
  FcopyStart s = sample_start();
  s.service_ids = ids;
  FcopyWrite w = sample_write(100);
  w.pad = 0xCAFEF00D;
  w.service_ids = ids;
  const std::vector<FcopyMessage> all = {s, w, FcopyComplete{ids}, FcopyCancel{ids}};
  for (const auto& m : all) {
    auto wire = encode_fcopy(m);
    ASSERT_TRUE(wire.ok());
    auto back = decode_fcopy(*wire);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, m) << to_string(op_of(m));
    EXPECT_EQ(op_of(*back), static_cast<FcopyOp>(m.index()));
    EXPECT_EQ(*encode_fcopy(*back), *wire);
  }
}

TEST(Fcopy, NonAsciiNamesRoundTrip) {
  FcopyStart s;
  s.file_name = "r\xC3\xA9sum\xC3\xA9-\xE2\x82\xAC-\xF0\x9F\x98\x80.txt";  // résumé-€-😀.txt
  s.path_name = "/home/\xE6\x97\xA5\xE6\x9C\xAC";                          // /home/日本
  auto wire = encode_fcopy(FcopyMessage{s});
  ASSERT_TRUE(wire.ok());
  // The emoji (a surrogate pair) starts at unit 9.
  EXPECT_EQ(std::to_integer<int>((*wire)[36 + 2 * 9]), 0x3D);
  EXPECT_EQ(std::to_integer<int>((*wire)[36 + 2 * 9 + 1]), 0xD8);
  auto back = decode_fcopy_start(*wire);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, s);
}

// ---- Fragment size --------------------------------------------------------------

TEST(Fcopy, Fragment6144Accepted) {
  FcopyWrite w = sample_write(kFcopyDataFragment);
  auto wire = encode_fcopy(FcopyMessage{w});
  ASSERT_TRUE(wire.ok());
  ASSERT_EQ(wire->size(), kFcopyWriteSize);
  auto back = decode_fcopy_write(*wire);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->data.size(), 6144u);
  EXPECT_EQ(*back, w);
}

TEST(Fcopy, Fragment6145Rejected) {
  Bytes wire = *encode_fcopy(FcopyMessage{sample_write(10)});
  wire[48] = std::byte{0x01};  // size = 6145 = 0x1801
  wire[49] = std::byte{0x18};
  auto m = decode_fcopy(wire);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::bad_length);
  EXPECT_STREQ(m.error().field, "fcopy_write.size");
  EXPECT_EQ(m.error().offset, 48u);
  // A huge size (the daemon would pwrite past its buffer) is rejected too.
  wire[51] = std::byte{0xFF};
  EXPECT_EQ(decode_fcopy_write(wire).error().code, Errc::bad_length);
  // And the encoder refuses to produce one.
  auto enc = encode_fcopy(FcopyMessage{sample_write(6145)});
  ASSERT_FALSE(enc.ok());
  EXPECT_STREQ(enc.error().field, "fcopy_write.size");
}

TEST(Fcopy, DataAfterSizeIsIgnored) {
  Bytes wire = *encode_fcopy(FcopyMessage{sample_write(4)});
  wire[52 + 4] = std::byte{0xEE};  // beyond `size`
  wire[6195] = std::byte{0xEE};
  auto m = decode_fcopy_write(wire);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->data, sample_write(4).data);
}

TEST(Fcopy, ZeroLengthWrite) {
  FcopyWrite w;
  w.offset = 99;
  auto back = decode_fcopy_write(*encode_fcopy(FcopyMessage{w}));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, w);
}

// ---- Names ------------------------------------------------------------------------

TEST(Fcopy, Name259UnitsPlusTerminatorAccepted) {
  const std::string name(259, 'x');
  Bytes wire = hand_start(name, name);  // unit 259 stays 0: the terminator
  auto m = decode_fcopy_start(wire);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->file_name, name);
  EXPECT_EQ(m->path_name, name);
  FcopyStart s;
  s.file_name = name;
  s.path_name = name;
  EXPECT_EQ(*encode_fcopy(FcopyMessage{s}), wire);
}

TEST(Fcopy, Name260UnitsWithoutTerminatorRejected) {
  const std::string name(260, 'x');
  auto file = decode_fcopy_start(hand_start(name, "p"));
  ASSERT_FALSE(file.ok());
  EXPECT_STREQ(file.error().field, "fcopy_start.file_name");
  EXPECT_EQ(file.error().offset, 36u + 520u);
  auto path = decode_fcopy_start(hand_start("f", name));
  ASSERT_FALSE(path.ok());
  EXPECT_STREQ(path.error().field, "fcopy_start.path_name");
  EXPECT_EQ(path.error().offset, 556u + 520u);
  // The encoder refuses 260 units (no room for the terminator).
  FcopyStart s;
  s.file_name = name;
  auto enc = encode_fcopy(FcopyMessage{s});
  ASSERT_FALSE(enc.ok());
  EXPECT_EQ(enc.error().code, Errc::bad_length);
  EXPECT_STREQ(enc.error().field, "fcopy_start.file_name");
}

TEST(Fcopy, NameLimitCountsUtf16UnitsNotCharacters) {
  // 129 emoji = 258 units fit; 130 emoji = 260 units do not.
  std::string ok_name, too_long;
  for (int i = 0; i < 129; ++i) ok_name += "\xF0\x9F\x98\x80";
  too_long = ok_name + "\xF0\x9F\x98\x80";
  FcopyStart s;
  s.file_name = ok_name;
  auto wire = encode_fcopy(FcopyMessage{s});
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ(std::get<FcopyStart>(*decode_fcopy(*wire)).file_name, ok_name);
  s.file_name = too_long;
  EXPECT_FALSE(encode_fcopy(FcopyMessage{s}).ok());
}

TEST(Fcopy, UnitsAfterTerminatorIgnored) {
  Bytes wire = hand_start("ab", "c");
  put_ascii_utf16(wire, 36 + 6, "garbage");  // after "ab\0"
  auto m = decode_fcopy_start(wire);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->file_name, "ab");
}

TEST(Fcopy, EmptyNamesAccepted) {
  auto m = decode_fcopy_start(hand_start("", ""));
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->file_name.empty());
  EXPECT_TRUE(m->path_name.empty());
}

TEST(Fcopy, UnpairedSurrogatesRejected) {
  {
    Bytes wire = hand_start("ab", "p");
    put_u16(wire, 36 + 2, 0xD83D);  // high surrogate followed by the terminator
    put_u16(wire, 36 + 4, 0);
    auto m = decode_fcopy_start(wire);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().code, Errc::bad_encoding);
    EXPECT_STREQ(m.error().field, "fcopy_start.file_name");
    EXPECT_EQ(m.error().offset, 38u);
  }
  {
    Bytes wire = hand_start("f", "abc");
    put_u16(wire, 556 + 2, 0xDE00);  // lone low surrogate
    auto m = decode_fcopy_start(wire);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().code, Errc::bad_encoding);
    EXPECT_STREQ(m.error().field, "fcopy_start.path_name");
    EXPECT_EQ(m.error().offset, 558u);
  }
  {
    Bytes wire = hand_start("abc", "p");
    put_u16(wire, 36, 0xD800);  // high surrogate followed by a non-surrogate
    EXPECT_FALSE(decode_fcopy_start(wire).ok());
  }
}

TEST(Fcopy, EncoderRejectsInvalidNames) {
  FcopyStart s;
  s.path_name = "\xC0\xAF";  // overlong
  auto a = encode_fcopy(FcopyMessage{s});
  ASSERT_FALSE(a.ok());
  EXPECT_STREQ(a.error().field, "fcopy_start.path_name");
  s.path_name = std::string("a\0b", 3);  // embedded NUL would truncate the name
  EXPECT_FALSE(encode_fcopy(FcopyMessage{s}).ok());
  s.path_name = "\xED\xA0\x80";  // encoded surrogate
  EXPECT_FALSE(encode_fcopy(FcopyMessage{s}).ok());
  // Nothing is written on failure.
  Bytes out;
  ByteWriter w(out);
  EXPECT_FALSE(encode(s, w).ok());
  EXPECT_TRUE(out.empty());
}

// ---- Flags ------------------------------------------------------------------------

TEST(Fcopy, UnknownFlagBitsAcceptedAndKept) {
  FcopyStart s = sample_start();
  s.copy_flags = 0xFFFFFFFF;
  auto back = decode_fcopy_start(*encode_fcopy(FcopyMessage{s}));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->copy_flags, 0xFFFFFFFFu);
  EXPECT_EQ(fcopy_unknown_flags(back->copy_flags), 0xFFFFFFFCu);
  EXPECT_EQ(fcopy_unknown_flags(kFcopyOverWrite | kFcopyCreatePath), 0u);
}

// ---- Operations and lengths ------------------------------------------------------

TEST(Fcopy, UnknownOperationRejected) {
  for (std::uint32_t op : {4u, 5u, 0x100u, 0x80000000u, 0xFFFFFFFFu}) {
    Bytes wire(kFcopyWriteSize, std::byte{0});
    for (int i = 0; i < 4; ++i)
      wire[static_cast<std::size_t>(i)] = std::byte(static_cast<std::uint8_t>(op >> (8 * i)));
    auto m = decode_fcopy(wire);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().code, Errc::unknown_type);
    EXPECT_STREQ(m.error().field, "fcopy.operation");
  }
}

TEST(Fcopy, OperationSpecificDecoderRejectsOtherOperations) {
  const Bytes complete = *encode_fcopy(FcopyMessage{FcopyComplete{}});
  EXPECT_EQ(decode_fcopy_cancel(complete).error().code, Errc::unknown_type);
  EXPECT_EQ(decode_fcopy_start(complete).error().code, Errc::unknown_type);
  EXPECT_EQ(decode_fcopy_write(complete).error().code, Errc::unknown_type);
  const Bytes cancel = *encode_fcopy(FcopyMessage{FcopyCancel{}});
  EXPECT_EQ(decode_fcopy_complete(cancel).error().code, Errc::unknown_type);
}

TEST(Fcopy, StartTruncatedAtEveryLength) {
  const Bytes full = *encode_fcopy(FcopyMessage{sample_start()});
  ASSERT_EQ(full.size(), kFcopyStartSize);
  for (std::size_t len = 0; len < full.size(); ++len) {
    auto m = decode_fcopy(ByteSpan(full).first(len));
    ASSERT_FALSE(m.ok()) << len;
    EXPECT_EQ(m.error().code, Errc::truncated) << len;
    const char* want = len < 4      ? "fcopy.operation"
                       : len < 20   ? "fcopy.service_id0"
                       : len < 36   ? "fcopy.service_id1"
                       : len < 556  ? "fcopy_start.file_name"
                       : len < 1076 ? "fcopy_start.path_name"
                       : len < 1080 ? "fcopy_start.copy_flags"
                                    : "fcopy_start.file_size";
    EXPECT_STREQ(m.error().field, want) << len;
  }
}

TEST(Fcopy, WriteTruncatedAtEveryHeaderLengthAndAcrossData) {
  const Bytes full = *encode_fcopy(FcopyMessage{sample_write(kFcopyDataFragment)});
  auto check = [&](std::size_t len) {
    auto m = decode_fcopy(ByteSpan(full).first(len));
    ASSERT_FALSE(m.ok()) << len;
    EXPECT_EQ(m.error().code, Errc::truncated) << len;
    const char* want = len < 4    ? "fcopy.operation"
                       : len < 20 ? "fcopy.service_id0"
                       : len < 36 ? "fcopy.service_id1"
                       : len < 40 ? "fcopy_write.pad"
                       : len < 48 ? "fcopy_write.offset"
                       : len < 52 ? "fcopy_write.size"
                                  : "fcopy_write.data";
    EXPECT_STREQ(m.error().field, want) << len;
  };
  for (std::size_t len = 0; len <= kFcopyDataOffset + 64; ++len) check(len);
  for (std::size_t len = kFcopyDataOffset + 64; len < full.size(); len += 61) check(len);
  for (std::size_t len = full.size() - 64; len < full.size(); ++len) check(len);
}

TEST(Fcopy, ControlTruncatedAtEveryLength) {
  for (const FcopyMessage& msg : {FcopyMessage{FcopyComplete{}}, FcopyMessage{FcopyCancel{}}}) {
    const Bytes full = *encode_fcopy(msg);
    for (std::size_t len = 0; len < full.size(); ++len) {
      auto m = decode_fcopy(ByteSpan(full).first(len));
      ASSERT_FALSE(m.ok()) << len;
      EXPECT_EQ(m.error().code, Errc::truncated) << len;
    }
  }
}

TEST(Fcopy, TrailingDataRejected) {
  const std::vector<FcopyMessage> all = {sample_start(), sample_write(3), FcopyComplete{}, FcopyCancel{}};
  const char* fields[] = {"fcopy_start.trailing", "fcopy_write.trailing", "fcopy_complete.trailing",
                          "fcopy_cancel.trailing"};
  for (std::size_t i = 0; i < all.size(); ++i) {
    Bytes wire = *encode_fcopy(all[i]);
    const std::size_t size = wire.size();
    wire.push_back(std::byte{0});
    auto m = decode_fcopy(wire);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().code, Errc::trailing_data);
    EXPECT_STREQ(m.error().field, fields[i]);
    EXPECT_EQ(m.error().offset, size);
  }
}

}  // namespace
}  // namespace vmbh::proto
