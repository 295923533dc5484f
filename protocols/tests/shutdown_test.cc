#include "vmbh/protocols/shutdown.h"

#include <gtest/gtest.h>

#include "vmbh/protocols/ic.h"

namespace vmbh::proto {
namespace {

// Shutdown request: reboot forced (flags 3), timeout 30 s, reason 0x80000000,
// message "Hi" in UTF-16LE. Hand-written prefix; the rest of the 2060-byte
// body is zero.
Bytes golden_shutdown_request() {
  Bytes b = bytes_of(0x01, 0x00, 0x00, 0x00, 0x20, 0x08, 0x00, 0x00,  // pipe: data, 20 + 2060
                     0x03, 0x00, 0x00, 0x00, 0x03, 0x00, 0x03, 0x00, 0x02, 0x00, 0x0C, 0x08, 0x00, 0x00, 0x00,
                     0x00, 0x01, 0x03, 0x00, 0x00,  // fw 3.0, type 3, msg 3.2, size 2060, txid 1, flags 3
                     0x00, 0x00, 0x00, 0x80,        // reason_code
                     0x1E, 0x00, 0x00, 0x00,        // timeout_seconds 30
                     0x03, 0x00, 0x00, 0x00,        // flags: reboot | force
                     'H', 0x00, 'i', 0x00);
  b.resize(28 + 2060, std::byte{0});
  return b;
}

Bytes encode_body(const ShutdownMsg& m) {
  Bytes out;
  ByteWriter w(out);
  encode(m, w);
  return out;
}

TEST(Shutdown, SizesPinned) {
  EXPECT_EQ(kShutdownMsgSize, 2060u);
  EXPECT_EQ(kShutdownDisplayMessageSize, 2048u);
  EXPECT_EQ(encode_body(ShutdownMsg{}).size(), 2060u);
}

TEST(Shutdown, DecodesGoldenRequest) {
  Bytes pkt = golden_shutdown_request();
  auto m = decode_ic_message(pkt);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->header.icmsgtype, IcMsgType::shutdown);
  EXPECT_EQ(m->header.icvermsg, (IcVersion{3, 2}));
  auto s = decode_shutdown(m->body);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->reason_code, 0x80000000u);
  EXPECT_EQ(s->timeout_seconds, 30u);
  EXPECT_EQ(s->flags, 3u);
  EXPECT_EQ(shutdown_action(s->flags), ShutdownAction::reboot);
  EXPECT_TRUE(shutdown_forced(s->flags));
  auto text = s->display_message_utf8();
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "Hi");
}

TEST(Shutdown, EncoderBuildsGoldenRequest) {
  ShutdownMsg s;
  s.reason_code = 0x80000000u;
  s.timeout_seconds = 30;
  s.flags = shutdown_flags(ShutdownAction::reboot, true);
  ASSERT_TRUE(s.set_display_message("Hi").ok());
  Bytes pkt =
      encode_ic_message(make_ic_request_header(IcMsgType::shutdown, {3, 0}, {3, 2}, 1), encode_body(s));
  EXPECT_EQ(pkt, golden_shutdown_request());
}

TEST(Shutdown, RoundTripRawMessageBytes) {
  ShutdownMsg s;
  s.flags = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < s.display_message.size(); ++i) s.display_message[i] = std::byte(i * 7);
  auto d = decode_shutdown(encode_body(s));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, s);
  EXPECT_FALSE(d->display_message_utf8().ok());  // no terminator / not text
}

TEST(Shutdown, TruncationAtEveryLength) {
  Bytes b = encode_body(ShutdownMsg{});
  for (std::size_t len = 0; len < b.size(); ++len) {
    auto d = decode_shutdown(ByteSpan(b.data(), len));
    ASSERT_FALSE(d.ok()) << len;
    EXPECT_EQ(d.error().code, Errc::truncated);
    if (len >= 12) {
      EXPECT_STREQ(d.error().field, "shutdown.display_message");
    }
  }
  b.push_back(std::byte{1});  // Linux ignores what follows
  EXPECT_TRUE(decode_shutdown(b).ok());
}

TEST(Shutdown, FlagsAsLinuxInterpretsThem) {
  EXPECT_EQ(shutdown_action(0), ShutdownAction::shutdown);
  EXPECT_EQ(shutdown_action(1), ShutdownAction::shutdown);
  EXPECT_EQ(shutdown_action(2), ShutdownAction::reboot);
  EXPECT_EQ(shutdown_action(3), ShutdownAction::reboot);
  EXPECT_EQ(shutdown_action(4), ShutdownAction::hibernate);
  EXPECT_EQ(shutdown_action(5), ShutdownAction::hibernate);
  EXPECT_FALSE(shutdown_action(6).has_value());
  EXPECT_FALSE(shutdown_action(0x100).has_value());
  EXPECT_EQ(shutdown_flags(ShutdownAction::hibernate, false), 4u);
  EXPECT_EQ(shutdown_flags(ShutdownAction::shutdown, true), 1u);
  EXPECT_FALSE(shutdown_forced(4));
}

TEST(Shutdown, LinuxStatus) {
  EXPECT_EQ(linux_shutdown_status(0, false), kHvSOk);
  EXPECT_EQ(linux_shutdown_status(3, false), kHvSOk);
  EXPECT_EQ(linux_shutdown_status(4, false), kHvEFail);
  EXPECT_EQ(linux_shutdown_status(5, true), kHvSOk);
  EXPECT_EQ(linux_shutdown_status(6, true), kHvEFail);
  EXPECT_EQ(linux_shutdown_status(0xFFFFFFFFu, true), kHvEFail);
}

TEST(Shutdown, DisplayMessageLimits) {
  ShutdownMsg s;
  EXPECT_TRUE(s.set_display_message(std::string(1023, 'a')).ok());
  auto t = s.display_message_utf8();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->size(), 1023u);
  Status too_long = s.set_display_message(std::string(1024, 'a'));
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code, Errc::bad_length);
  EXPECT_FALSE(s.set_display_message("\xff").ok());
  EXPECT_TRUE(s.set_display_message("").ok());
  EXPECT_EQ(*s.display_message_utf8(), "");
}

}  // namespace
}  // namespace vmbh::proto
