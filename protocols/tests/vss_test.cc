#include "vmbh/protocols/vss.h"

#include <gtest/gtest.h>

#include "vmbh/protocols/vss_daemon.h"

namespace vmbh::proto {
namespace {

constexpr VssOp kAllOps[] = {VssOp::create,      VssOp::delete_, VssOp::hot_backup, VssOp::get_dm_info,
                             VssOp::bu_complete, VssOp::freeze,  VssOp::thaw,       VssOp::auto_recover};

// ---- Layout (include/uapi/linux/hyperv.h) -----------------------------------

TEST(VssLayout, StructSizesAndOffsets) {
  EXPECT_EQ(kVssHdrSize, 8u);      // hv_vss_hdr: operation u8 + reserved[7]
  EXPECT_EQ(kVssMsgSize, 12u);     // hv_vss_msg: hdr + union{flags u32}
  EXPECT_EQ(kVssFlagsOffset, 8u);  // vss_cf.flags / dm_info.flags
  EXPECT_EQ(kVssMaxPacketSize, 8192u);
  EXPECT_EQ(kVssMaxMessageSize, 8192u - 8u - 20u);
  EXPECT_EQ(kVssHbuNoAutoRecovery, 5u);
  EXPECT_EQ(static_cast<std::uint32_t>(VssStatus::e_fail), 0x80004005u);
  EXPECT_EQ(kVssOpRegister, 128);
  EXPECT_EQ(kVssOpRegister1, 129);
  EXPECT_EQ(kVssIcMajor, 5);
}

TEST(VssLayout, OperationNumbers) {
  for (std::size_t i = 0; i < std::size(kAllOps); ++i) {
    EXPECT_EQ(static_cast<std::uint8_t>(kAllOps[i]), i);
    EXPECT_TRUE(is_known(kAllOps[i]));
  }
  EXPECT_EQ(kVssOpCount, 8);
  EXPECT_EQ(to_string(VssOp::freeze), "FREEZE");
  EXPECT_EQ(to_string(VssOp::get_dm_info), "GET_DM_INFO");
  EXPECT_EQ(to_string(static_cast<VssOp>(9)), "UNKNOWN");
  EXPECT_FALSE(is_known(static_cast<VssOp>(8)));
}

// ---- Golden bytes (hand-written from the layout) ------------------------------

TEST(VssGolden, FreezeRequest) {
  const Bytes golden = bytes_of(0x05, 0, 0, 0, 0, 0, 0, 0,  // operation FREEZE, reserved[7]
                                0, 0, 0, 0);                // flags
  EXPECT_EQ(encode_vss(make_vss_request(VssOp::freeze)), golden);
  auto m = decode_vss(golden);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->op, VssOp::freeze);
  EXPECT_EQ(m->flags, 0u);
  EXPECT_TRUE(m->extra.empty());
}

TEST(VssGolden, FreezeWithLunDataKeepsExtraBytes) {
  Bytes golden = bytes_of(0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xAA, 0xBB, 0xCC);
  auto m = decode_vss(golden);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->extra, bytes_of(0xAA, 0xBB, 0xCC));
  EXPECT_EQ(encode_vss(*m), golden);
}

TEST(VssGolden, GetDmInfoAnswer) {
  // The host's flags are overwritten with 0 in Linux's answer; all else echoed.
  const Bytes request = bytes_of(0x03, 0, 0, 0, 0, 0, 0, 0, 0x78, 0x56, 0x34, 0x12);
  const Bytes golden_answer = bytes_of(0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  auto req = decode_vss(request);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->flags, 0x12345678u);
  EXPECT_EQ(encode_vss(vss_linux_answer(*req)), golden_answer);
  EXPECT_EQ(vss_linux_answer_status(VssOp::get_dm_info, false, 0), 0u);
}

TEST(VssGolden, HotBackupAnswerSaysNoAutoRecovery) {
  const Bytes golden_answer = bytes_of(0x02, 0, 0, 0, 0, 0, 0, 0, 0x05, 0, 0, 0);
  EXPECT_EQ(encode_vss(vss_linux_answer(make_vss_request(VssOp::hot_backup))), golden_answer);
}

TEST(VssGolden, BodyInsideAHandWrittenIcPacket) {
  // pipe header {flags 1, msgsize 32}, IC header {icverframe 3.0, type 5 (VSS),
  // icvermsg 5.0, icmsgsize 12, status 0, trans 0, flags 2 (request)}, then FREEZE.
  const Bytes packet = bytes_of(1, 0, 0, 0, 32, 0, 0, 0,              // pipe
                                0, 0, 3, 0, 5, 0, 0, 0, 5, 0, 12, 0,  // icverframe, type, icvermsg, size
                                0, 0, 0, 0, 0, 2, 0, 0,               // status, trans, flags, reserved
                                5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);  // hv_vss_msg
  ASSERT_EQ(packet.size(), kVssIcHeadersSize + kVssMsgSize);
  auto m = decode_vss(ByteSpan(packet).subspan(kVssIcHeadersSize));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->op, VssOp::freeze);
}

// ---- Round trips and validation ---------------------------------------------

TEST(Vss, RoundTripEveryOperation) {
  for (VssOp op : kAllOps) {
    VssMessage m = make_vss_request(op, 0xDEADBEEF);
    m.reserved = {1, 2, 3, 4, 5, 6, 7};
    m.extra = bytes_of(9, 8, 7);
    Bytes wire = encode_vss(m);
    EXPECT_EQ(wire.size(), 15u);
    auto back = decode_vss(wire);
    ASSERT_TRUE(back.ok()) << to_string(op);
    EXPECT_EQ(*back, m) << to_string(op);
    EXPECT_EQ(encode_vss(*back), wire);
  }
}

TEST(Vss, RejectsUnknownOperations) {
  for (int op = 8; op < 256; ++op) {
    Bytes wire = bytes_of(op, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    auto m = decode_vss(wire);
    ASSERT_FALSE(m.ok()) << op;
    EXPECT_EQ(m.error().code, Errc::unknown_type);
    EXPECT_STREQ(m.error().field, "vss.operation");
    EXPECT_EQ(m.error().offset, 0u);
  }
}

TEST(Vss, TruncationAtEveryLengthNamesTheField) {
  const Bytes full = encode_vss(make_vss_request(VssOp::thaw));
  for (std::size_t len = 0; len < kVssMsgSize; ++len) {
    auto m = decode_vss(ByteSpan(full).first(len));
    ASSERT_FALSE(m.ok()) << len;
    EXPECT_EQ(m.error().code, Errc::truncated) << len;
    const char* want = len == 0 ? "vss.operation" : len < 8 ? "vss.reserved" : "vss.flags";
    EXPECT_STREQ(m.error().field, want) << len;
  }
  EXPECT_TRUE(decode_vss(full).ok());
}

TEST(Vss, LargestPacketAcceptedOneMoreRejected) {
  VssMessage m = make_vss_request(VssOp::freeze);
  m.extra.assign(kVssMaxMessageSize - kVssMsgSize, std::byte{0x5A});
  Bytes wire = encode_vss(m);
  ASSERT_EQ(wire.size(), kVssMaxMessageSize);
  auto ok = decode_vss(wire);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, m);
  wire.push_back(std::byte{0});
  auto bad = decode_vss(wire);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::bad_length);
  EXPECT_STREQ(bad.error().field, "vss.extra");
}

TEST(Vss, ReservedAndUnusedFlagsAreCarried) {
  const Bytes wire = bytes_of(0x00, 1, 2, 3, 4, 5, 6, 7, 0xFF, 0xFF, 0xFF, 0xFF);
  auto m = decode_vss(wire);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->op, VssOp::create);
  EXPECT_EQ(m->reserved, (std::array<std::uint8_t, 7>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(m->flags, 0xFFFFFFFFu);
  EXPECT_EQ(encode_vss(*m), wire);
}

TEST(Vss, LinuxAnswerLeavesOtherOperationsUnchanged) {
  for (VssOp op : kAllOps) {
    VssMessage req = make_vss_request(op, 0x1234);
    req.extra = bytes_of(1, 2);
    VssMessage ans = vss_linux_answer(req);
    EXPECT_EQ(ans.op, op);
    EXPECT_EQ(ans.extra, req.extra);
    if (op == VssOp::get_dm_info) {
      EXPECT_EQ(ans.flags, 0u);
    } else if (op == VssOp::hot_backup) {
      EXPECT_EQ(ans.flags, kVssHbuNoAutoRecovery);
    } else {
      EXPECT_EQ(ans, req) << to_string(op);
    }
  }
}

TEST(Vss, LinuxAnswerStatus) {
  const auto fail = static_cast<std::uint32_t>(VssStatus::e_fail);
  // Kernel-answered operations succeed with or without a daemon.
  for (VssOp op :
       {VssOp::create, VssOp::delete_, VssOp::get_dm_info, VssOp::bu_complete, VssOp::auto_recover}) {
    EXPECT_FALSE(vss_op_goes_to_daemon(op));
    EXPECT_EQ(vss_linux_answer_status(op, false, fail), 0u);
  }
  for (VssOp op : {VssOp::freeze, VssOp::thaw, VssOp::hot_backup}) {
    EXPECT_TRUE(vss_op_goes_to_daemon(op));
    EXPECT_EQ(vss_linux_answer_status(op, false, 0), fail);  // no daemon
    EXPECT_EQ(vss_linux_answer_status(op, true, 0), 0u);
    EXPECT_EQ(vss_linux_answer_status(op, true, fail), fail);
  }
}

}  // namespace
}  // namespace vmbh::proto
