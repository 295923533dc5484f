#include "vmbh/protocols/fcopy_daemon.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vmbh::proto {
namespace {

Bytes hand_daemon_start(std::string_view file, std::string_view path) {
  Bytes b(1088, std::byte{0});
  for (std::size_t i = 0; i < file.size(); ++i) b[36 + i] = std::byte(static_cast<std::uint8_t>(file[i]));
  for (std::size_t i = 0; i < path.size(); ++i) b[556 + i] = std::byte(static_cast<std::uint8_t>(path[i]));
  return b;
}

TEST(FcopyDaemon, RegistrationVersions) {
  auto v1 = decode_fcopy_daemon_register(bytes_of(1, 0, 0, 0));
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->version, kFcopyVersion1);
  EXPECT_TRUE(decode_fcopy_daemon_register(bytes_of(0, 0, 0, 0)).ok());
  for (int bad : {2, 3, 0x81}) {
    auto r = decode_fcopy_daemon_register(bytes_of(bad, 0, 0, 0));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::bad_version);
    EXPECT_STREQ(r.error().field, "fcopy_daemon.version");
  }
  Bytes out;
  ByteWriter w(out);
  encode(FcopyDaemonRegister{}, w);
  EXPECT_EQ(out, bytes_of(1, 0, 0, 0));
}

TEST(FcopyDaemon, ReplyGoldenAlreadyExists) {
  const Bytes golden = bytes_of(0x50, 0x00, 0x07, 0x80);
  auto r = decode_fcopy_daemon_reply(golden);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, static_cast<std::uint32_t>(FcopyStatus::already_exists));
  Bytes out;
  ByteWriter w(out);
  encode(FcopyDaemonReply{0x80070050}, w);
  EXPECT_EQ(out, golden);
}

TEST(FcopyDaemon, IntMessagesMustBeFourBytes) {
  const Bytes big(8, std::byte{0});
  for (std::size_t len = 0; len <= big.size(); ++len) {
    auto reg = decode_fcopy_daemon_register(ByteSpan(big).first(len));
    auto rep = decode_fcopy_daemon_reply(ByteSpan(big).first(len));
    EXPECT_EQ(reg.ok(), len == 4) << len;
    EXPECT_EQ(rep.ok(), len == 4) << len;
    if (len != 4) {
      EXPECT_EQ(rep.error().code, Errc::bad_length);
      EXPECT_STREQ(rep.error().field, "fcopy_daemon.length");
    }
  }
}

TEST(FcopyDaemon, KernelVersionGolden) {
  auto m = decode_fcopy_kernel_to_daemon(bytes_of(1, 0, 0, 0));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<FcopyKernelVersion>(*m).version, 1u);
  EXPECT_EQ(*encode_fcopy_kernel_to_daemon(FcopyKernelVersion{}), bytes_of(1, 0, 0, 0));
}

TEST(FcopyDaemon, StartGoldenWithUtf8Names) {
  Bytes golden = hand_daemon_start("a.txt", "/tmp");
  golden[1076] = std::byte{0x01};  // OVER_WRITE
  golden[1080] = std::byte{0x2A};  // file_size 42
  auto m = decode_fcopy_kernel_to_daemon(golden);
  ASSERT_TRUE(m.ok()) << m.error().message();
  const auto& s = std::get<FcopyDaemonStart>(*m);
  EXPECT_EQ(s.file_name, "a.txt");
  EXPECT_EQ(s.path_name, "/tmp");
  EXPECT_EQ(s.copy_flags, 1u);
  EXPECT_EQ(s.file_size, 42u);
  EXPECT_EQ(*encode_fcopy_kernel_to_daemon(*m), golden);
}

TEST(FcopyDaemon, StartFromHostConvertsToUtf8) {
  FcopyStart host;
  host.file_name = "caf\xC3\xA9.txt";
  host.path_name = "/tmp";
  host.copy_flags = 0x7;
  host.file_size = 77;
  host.service_ids.id0[0] = 0x55;  // not forwarded
  FcopyDaemonStart d = fcopy_daemon_start_from_host(host);
  EXPECT_EQ(d.file_name, host.file_name);
  EXPECT_EQ(d.path_name, host.path_name);
  EXPECT_EQ(d.copy_flags, 0x7u);
  EXPECT_EQ(d.file_size, 77u);
  EXPECT_EQ(d.service_ids, FcopyServiceIds{});
  auto wire = encode_fcopy_kernel_to_daemon(d);
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ(std::to_integer<int>((*wire)[36 + 3]), 0xC3);  // UTF-8, not UTF-16
  EXPECT_EQ(std::to_integer<int>((*wire)[36 + 4]), 0xA9);
}

TEST(FcopyDaemon, StartFromHostCutsAt259BytesDroppingWholeCharacters) {
  FcopyStart host;
  // 258 ASCII bytes, then a 2-byte character (does not fit in the 1 byte left),
  // then 'z' (fits): the kernel's utf16s_to_utf8s skips what does not fit.
  host.file_name = std::string(258, 'a') + "\xC3\xA9" + "z";
  FcopyDaemonStart d = fcopy_daemon_start_from_host(host);
  EXPECT_EQ(d.file_name, std::string(258, 'a') + "z");
  // 259 units of a 3-byte character: 86 fit (258 bytes).
  std::string euros;
  for (int i = 0; i < 259; ++i) euros += "\xE2\x82\xAC";
  host.path_name = euros;
  d = fcopy_daemon_start_from_host(host);
  EXPECT_EQ(d.path_name.size(), 258u);
  EXPECT_TRUE(encode_fcopy_kernel_to_daemon(d).ok());
}

TEST(FcopyDaemon, StartNameMustBeTerminatedWithin259Bytes) {
  Bytes wire = hand_daemon_start(std::string(259, 'n'), "p");
  EXPECT_TRUE(decode_fcopy_kernel_to_daemon(wire).ok());
  wire = hand_daemon_start(std::string(260, 'n'), "p");
  auto m = decode_fcopy_kernel_to_daemon(wire);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::bad_length);
  EXPECT_STREQ(m.error().field, "fcopy_daemon_start.file_name");
  FcopyDaemonStart s;
  s.path_name = std::string(260, 'n');
  auto enc = encode_fcopy_kernel_to_daemon(s);
  ASSERT_FALSE(enc.ok());
  EXPECT_STREQ(enc.error().field, "fcopy_daemon_start.path_name");
}

TEST(FcopyDaemon, StartNameMustBeUtf8) {
  Bytes wire = hand_daemon_start("ok", "\xFF\xFE");
  auto m = decode_fcopy_kernel_to_daemon(wire);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::bad_encoding);
  EXPECT_STREQ(m.error().field, "fcopy_daemon_start.path_name");
  EXPECT_EQ(m.error().offset, 556u);
}

TEST(FcopyDaemon, StartTruncatedAtEveryLength) {
  const Bytes full = *encode_fcopy_kernel_to_daemon(FcopyDaemonStart{"f", "p", 1, 2, {}});
  ASSERT_EQ(full.size(), kFcopyStartSize);
  for (std::size_t len = 0; len < full.size(); ++len) {
    if (len == 4) continue;  // a 4-byte message is the kernel's version
    auto m = decode_fcopy_kernel_to_daemon(ByteSpan(full).first(len));
    ASSERT_FALSE(m.ok()) << len;
    EXPECT_EQ(m.error().code, Errc::truncated) << len;
  }
}

TEST(FcopyDaemon, WriteIsTheHostMessageVerbatim) {
  FcopyWrite w;
  w.offset = 4096;
  w.data = bytes_of(1, 2, 3, 4);
  w.pad = 7;
  const Bytes host = *encode_fcopy(FcopyMessage{w});
  auto m = decode_fcopy_kernel_to_daemon(host);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<FcopyWrite>(*m), w);
  EXPECT_EQ(*encode_fcopy_kernel_to_daemon(*m), host);
  Bytes big = host;
  big[49] = std::byte{0x20};  // size 0x2004 > 6144
  EXPECT_STREQ(decode_fcopy_kernel_to_daemon(big).error().field, "fcopy_write.size");
}

TEST(FcopyDaemon, ControlCarriesTheStaleTail) {
  // A 36-byte host COMPLETE arrives at the daemon as 36 + 28 bytes.
  Bytes wire(kFcopyHdrSize + kFcopyDaemonControlOverread, std::byte{0});
  wire[0] = std::byte{2};
  wire[40] = std::byte{0xEE};
  auto m = decode_fcopy_kernel_to_daemon(wire);
  ASSERT_TRUE(m.ok());
  const auto& c = std::get<FcopyDaemonControl>(*m);
  EXPECT_EQ(c.op, FcopyOp::complete);
  EXPECT_EQ(c.tail.size(), 28u);
  EXPECT_EQ(c.tail[4], std::byte{0xEE});
  EXPECT_EQ(*encode_fcopy_kernel_to_daemon(*m), wire);
}

TEST(FcopyDaemon, FakedCancelIsTheBareHeader) {
  Bytes wire(kFcopyHdrSize, std::byte{0});
  wire[0] = std::byte{3};
  auto m = decode_fcopy_kernel_to_daemon(wire);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<FcopyDaemonControl>(*m), (FcopyDaemonControl{FcopyOp::cancel, {}, {}}));
}

TEST(FcopyDaemon, ControlLongerThanTheDaemonBufferRejected) {
  Bytes wire(kFcopyDaemonReadSize, std::byte{0});
  wire[0] = std::byte{3};
  EXPECT_TRUE(decode_fcopy_kernel_to_daemon(wire).ok());
  wire.push_back(std::byte{0});
  auto m = decode_fcopy_kernel_to_daemon(wire);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::bad_length);
  FcopyDaemonControl c{FcopyOp::cancel, {}, Bytes(kFcopyDaemonReadSize - kFcopyHdrSize + 1)};
  EXPECT_FALSE(encode_fcopy_kernel_to_daemon(c).ok());
  c.op = FcopyOp::start_file_copy;
  c.tail.clear();
  EXPECT_EQ(encode_fcopy_kernel_to_daemon(c).error().code, Errc::unknown_type);
}

TEST(FcopyDaemon, UnknownOperationAndShortMessages) {
  Bytes wire(64, std::byte{0});
  wire[0] = std::byte{4};
  auto m = decode_fcopy_kernel_to_daemon(wire);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::unknown_type);
  EXPECT_STREQ(m.error().field, "fcopy_daemon.operation");
  for (std::size_t len : {0u, 1u, 2u, 3u}) {
    EXPECT_EQ(decode_fcopy_kernel_to_daemon(ByteSpan(wire).first(len)).error().code, Errc::truncated);
  }
  wire[0] = std::byte{2};
  for (std::size_t len = 5; len < kFcopyHdrSize; ++len) {
    EXPECT_EQ(decode_fcopy_kernel_to_daemon(ByteSpan(wire).first(len)).error().code, Errc::truncated) << len;
  }
}

TEST(FcopyDaemon, RoundTripEveryKernelMessage) {
  FcopyServiceIds ids;
  ids.id1[15] = 1;
  const std::vector<FcopyKernelToDaemon> all = {
      FcopyKernelVersion{},
      FcopyDaemonStart{"n\xC3\xA4me", "/p\xE2\x82\xAC", 3, 1u << 20, ids},
      FcopyWrite{10, bytes_of(1, 2, 3), 0, ids},
      FcopyDaemonControl{FcopyOp::complete, ids, bytes_of(9, 9)},
      FcopyDaemonControl{FcopyOp::cancel, {}, {}},
  };
  for (const auto& m : all) {
    auto wire = encode_fcopy_kernel_to_daemon(m);
    ASSERT_TRUE(wire.ok());
    auto back = decode_fcopy_kernel_to_daemon(*wire);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, m) << m.index();
  }
}

}  // namespace
}  // namespace vmbh::proto
