#include "vmbh/protocols/vss_daemon.h"

#include <gtest/gtest.h>

namespace vmbh::proto {
namespace {

TEST(VssDaemon, RegisterOneGolden) {
  // The daemon sets only byte 0 = VSS_OP_REGISTER1; the rest is not interpreted.
  const Bytes golden = bytes_of(0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  auto m = decode_vss_daemon_to_kernel(golden);
  ASSERT_TRUE(m.ok()) << m.error().message();
  ASSERT_TRUE(std::holds_alternative<VssDaemonRegister>(*m));
  EXPECT_EQ(std::get<VssDaemonRegister>(*m).version, kVssOpRegister1);
  EXPECT_EQ(encode_vss_daemon(VssDaemonToKernel{VssDaemonRegister{}}), golden);
}

TEST(VssDaemon, OldRegisterAndGarbageRestCarried) {
  const Bytes wire = bytes_of(0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
  auto m = decode_vss_daemon_to_kernel(wire);
  ASSERT_TRUE(m.ok());
  const auto& reg = std::get<VssDaemonRegister>(*m);
  EXPECT_EQ(reg.version, kVssOpRegister);
  EXPECT_EQ(reg.rest[10], 11);
  EXPECT_EQ(encode_vss_daemon(*m), wire);
}

TEST(VssDaemon, ReplyGoldenWithEFail) {
  // int error = 0x80004005 overlays operation + reserved[0..2]; bytes 4..11 as received.
  const Bytes golden = bytes_of(0x05, 0x40, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0);
  auto m = decode_vss_daemon_to_kernel(golden);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(std::holds_alternative<VssDaemonReply>(*m));
  EXPECT_EQ(std::get<VssDaemonReply>(*m).error, 0x80004005u);
  const auto reply = vss_daemon_reply_for(vss_daemon_request_for(VssOp::freeze),
                                          static_cast<std::uint32_t>(VssStatus::e_fail));
  EXPECT_EQ(encode_vss_daemon(VssDaemonToKernel{reply}), golden);
}

TEST(VssDaemon, ReplyKeepsBytesFourToElevenOfTheRequest) {
  VssDaemonRequest req = vss_daemon_request_for(VssOp::hot_backup);
  req.reserved = {1, 2, 3, 4, 5, 6, 7};
  req.flags = 0x0A0B0C0D;
  const Bytes wire = encode_vss_daemon(VssDaemonToKernel{vss_daemon_reply_for(req, 0)});
  EXPECT_EQ(wire, bytes_of(0, 0, 0, 0, 4, 5, 6, 7, 0x0D, 0x0C, 0x0B, 0x0A));
}

TEST(VssDaemon, ReplyWithLowByte129IsReadAsRegistration) {
  // vss_on_msg looks at byte 0 first: an error value ending in 0x81 is a registration.
  const Bytes wire = encode_vss_daemon(VssDaemonToKernel{VssDaemonReply{0x00000081, {}}});
  auto m = decode_vss_daemon_to_kernel(wire);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(std::holds_alternative<VssDaemonRegister>(*m));
}

TEST(VssDaemon, KernelVersionGolden) {
  const Bytes golden = bytes_of(0x81, 0, 0, 0);
  auto m = decode_vss_kernel_to_daemon(golden);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<VssKernelVersion>(*m).version, 129u);
  EXPECT_EQ(encode_vss_daemon(VssKernelToDaemon{VssKernelVersion{}}), golden);
}

TEST(VssDaemon, FreezeRequestGolden) {
  const Bytes golden = bytes_of(0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  auto m = decode_vss_kernel_to_daemon(golden);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<VssDaemonRequest>(*m).op, VssOp::freeze);
  EXPECT_EQ(encode_vss_daemon(VssKernelToDaemon{vss_daemon_request_for(VssOp::freeze)}), golden);
}

TEST(VssDaemon, RequestOnlyForForwardedOperations) {
  for (int op = 0; op < 256; ++op) {
    auto m = decode_vss_kernel_to_daemon(bytes_of(op, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    const bool forwarded = op == 2 || op == 5 || op == 6;
    ASSERT_EQ(m.ok(), forwarded) << op;
    if (!forwarded) {
      EXPECT_EQ(m.error().code, Errc::unknown_type);
      EXPECT_STREQ(m.error().field, "vss_daemon.operation");
    }
  }
}

TEST(VssDaemon, EveryOtherLengthRejected) {
  const Bytes big(40, std::byte{0x05});
  for (std::size_t len = 0; len <= big.size(); ++len) {
    auto to_kernel = decode_vss_daemon_to_kernel(ByteSpan(big).first(len));
    EXPECT_EQ(to_kernel.ok(), len == 12) << len;
    if (!to_kernel.ok()) {
      EXPECT_STREQ(to_kernel.error().field, "vss_daemon.length");
    }
    auto to_daemon = decode_vss_kernel_to_daemon(ByteSpan(big).first(len));
    EXPECT_EQ(to_daemon.ok(), len == 4 || len == 12) << len;
    if (!to_daemon.ok()) {
      EXPECT_EQ(to_daemon.error().code, Errc::bad_length);
    }
  }
}

TEST(VssDaemon, RoundTripEveryMessage) {
  std::vector<VssDaemonToKernel> up = {VssDaemonRegister{}, VssDaemonRegister{kVssOpRegister, {}},
                                       VssDaemonReply{0, {}},
                                       VssDaemonReply{0x80004005, {1, 2, 3, 4, 5, 6, 7, 8}}};
  for (const auto& m : up) {
    Bytes wire = encode_vss_daemon(m);
    ASSERT_EQ(wire.size(), 12u);
    auto back = decode_vss_daemon_to_kernel(wire);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, m);
  }
  std::vector<VssKernelToDaemon> down = {VssKernelVersion{}, vss_daemon_request_for(VssOp::freeze),
                                         vss_daemon_request_for(VssOp::thaw),
                                         vss_daemon_request_for(VssOp::hot_backup)};
  for (const auto& m : down) {
    auto back = decode_vss_kernel_to_daemon(encode_vss_daemon(m));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, m);
  }
}

}  // namespace
}  // namespace vmbh::proto
