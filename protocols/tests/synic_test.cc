#include "vmbh/protocols/synic.h"

#include <gtest/gtest.h>

#include <initializer_list>

#include "vmbh/protocols/vmbus.h"

namespace vmbh::proto {
namespace {

void append(Bytes& b, std::initializer_list<int> vs) {
  for (int v : vs) b.push_back(std::byte(static_cast<std::uint8_t>(v)));
}

// A SIMP slot written by hand from struct hv_message.
Bytes golden_slot() {
  Bytes g;
  append(g, {0x01, 0x00, 0x00, 0x00});                          // message_type 1 (VMBus channel message)
  append(g, {0x10});                                            // payload_size 16
  append(g, {0x01});                                            // msg_pending
  append(g, {0x00, 0x00});                                      // reserved
  append(g, {0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});  // sender: port 1
  // payload: VERSION_RESPONSE {supported, msg_conn_id 4}
  append(g, {0x0f, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0x04, 0, 0, 0});
  g.resize(256, std::byte{0});
  return g;
}

Bytes golden_post_message() {
  Bytes g;
  append(g, {0x04, 0x00, 0x00, 0x00});     // connection_id 4
  append(g, {0x00, 0x00, 0x00, 0x00});     // reserved
  append(g, {0x01, 0x00, 0x00, 0x00});     // message_type 1
  append(g, {0x08, 0x00, 0x00, 0x00});     // payload_size 8
  append(g, {0x03, 0, 0, 0, 0, 0, 0, 0});  // REQUESTOFFERS
  g.resize(256, std::byte{0});
  return g;
}

TEST(SynicSizes, Pinned) {
  EXPECT_EQ(kSynicMessageSize, 256u);
  EXPECT_EQ(kSynicMessageHeaderSize, 16u);
  EXPECT_EQ(kSynicMaxPayload, 240u);
  EXPECT_EQ(kPostMessageInputSize, 256u);
  EXPECT_EQ(kPostMessageHeaderSize + kSynicMaxPayload, kPostMessageInputSize);
  EXPECT_EQ(encode(SynicMessage{}).size(), 256u);
  EXPECT_EQ(encode(PostMessageInput{}).size(), 256u);
  EXPECT_EQ(kHvCallPostMessage, 0x5C);
  EXPECT_EQ(kHvCallSignalEvent, 0x5D);
}

TEST(SynicSizes, MessageTypeConstants) {
  EXPECT_EQ(static_cast<std::uint32_t>(HvMessageType::none), 0u);
  EXPECT_EQ(static_cast<std::uint32_t>(HvMessageType::vmbus_channel_message), 1u);
  EXPECT_EQ(static_cast<std::uint32_t>(HvMessageType::timer_expired), 0x80000010u);
  EXPECT_EQ(static_cast<std::uint32_t>(HvMessageType::unsupported_feature), 0x80000022u);
  EXPECT_EQ(static_cast<std::uint32_t>(HvMessageType::eventlog_buffer_complete), 0x80000040u);
  EXPECT_EQ(static_cast<std::uint32_t>(HvMessageType::x64_apic_eoi), 0x80010004u);
  EXPECT_STREQ(to_string(HvMessageType::timer_expired), "timer_expired");
  EXPECT_STREQ(to_string(static_cast<HvMessageType>(0x1234)), "unknown");
  EXPECT_EQ(static_cast<int>(HvStatus::invalid_connection_id), 18);
  EXPECT_EQ(static_cast<int>(HvStatus::insufficient_buffers), 19);
  EXPECT_EQ(static_cast<int>(HvStatus::insufficient_memory), 11);
}

TEST(SynicMessageSlot, GoldenDecodeAndEncode) {
  const Bytes g = golden_slot();
  auto m = decode_synic_message(g);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->message_type, 1u);
  EXPECT_EQ(m->payload_size, 16);
  EXPECT_TRUE(m->msg_pending());
  EXPECT_FALSE(m->empty());
  EXPECT_EQ(m->sender, 1u);
  ASSERT_EQ(m->body().size(), 16u);
  EXPECT_EQ(encode(*m), g);
  // The body is a channel message.
  auto cm = decode_channel_message(m->body(), VmbusVersion::win10_v5);
  ASSERT_TRUE(cm.ok());
  EXPECT_EQ(std::get<VersionResponse>(*cm).msg_conn_id, 4u);
}

TEST(SynicMessageSlot, PayloadSizeLimit) {
  Bytes g = golden_slot();
  g[4] = std::byte{240};
  EXPECT_TRUE(decode_synic_message(g).ok());
  g[4] = std::byte{241};
  auto m = decode_synic_message(g);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::bad_length);
  EXPECT_STREQ(m.error().field, "synic.payload_size");
  EXPECT_EQ(m.error().offset, 4u);
}

TEST(SynicMessageSlot, TruncationAtEveryLengthAndTrailingData) {
  const Bytes g = golden_slot();
  for (std::size_t len = 0; len < g.size(); ++len) {
    auto m = decode_synic_message(ByteSpan(g).first(len));
    ASSERT_FALSE(m.ok()) << len;
    EXPECT_EQ(m.error().code, Errc::truncated);
  }
  EXPECT_STREQ(decode_synic_message(ByteSpan(g).first(5)).error().field, "synic.message_flags");
  EXPECT_STREQ(decode_synic_message(ByteSpan(g).first(100)).error().field, "synic.payload");
  Bytes longer = g;
  longer.push_back(std::byte{0});
  auto m = decode_synic_message(longer);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::trailing_data);
}

TEST(SynicMessageSlot, ReservedBitsAndStalePayloadRoundTrip) {
  Bytes g = golden_slot();
  g[5] = std::byte{0xff};  // reserved flag bits set: Linux ignores them
  g[6] = std::byte{0x12};
  g[255] = std::byte{0x99};  // past payload_size
  auto m = decode_synic_message(g);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->msg_pending());
  EXPECT_EQ(encode(*m), g);
}

TEST(SynicMessageSlot, MakeAndEmptySlot) {
  Bytes body = bytes_of(1, 2, 3);
  auto m = make_synic_message(static_cast<std::uint32_t>(HvMessageType::timer_expired), body, 7, true);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->payload_size, 3);
  EXPECT_TRUE(m->msg_pending());
  auto d = decode_synic_message(encode(*m));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, *m);
  EXPECT_TRUE(SynicMessage{}.empty());
  Bytes too_long(241);
  auto bad = make_synic_message(1, too_long);
  ASSERT_FALSE(bad.ok());
  EXPECT_STREQ(bad.error().field, "synic.payload_size");
}

TEST(PostMessageInput, GoldenDecodeAndEncode) {
  const Bytes g = golden_post_message();
  auto m = decode_post_message_input(g);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->connection_id, 4u);
  EXPECT_EQ(m->message_type, 1u);
  EXPECT_EQ(m->payload_size, 8u);
  auto cm = decode_channel_message(m->body(), VmbusVersion::win10_v5_3);
  ASSERT_TRUE(cm.ok());
  EXPECT_TRUE(std::holds_alternative<RequestOffers>(*cm));
  EXPECT_EQ(encode(*m), g);
}

TEST(PostMessageInput, ValidationOfReservedFields) {
  struct Case {
    std::size_t at;
    std::uint8_t value;
    Errc code;
    const char* field;
  };
  const Case cases[] = {
      {3, 0x01, Errc::bad_value, "post_message.connection_id"},  // bits 31:24
      {4, 0x01, Errc::bad_value, "post_message.reserved"},
      {7, 0x80, Errc::bad_value, "post_message.reserved"},
      {11, 0x80, Errc::bad_value, "post_message.message_type"},  // hypervisor type
      {8, 0x00, Errc::bad_value, "post_message.message_type"},   // type 0
      {12, 241, Errc::bad_length, "post_message.payload_size"},
      {13, 0x01, Errc::bad_length, "post_message.payload_size"},
  };
  for (const auto& c : cases) {
    Bytes g = golden_post_message();
    g[c.at] = std::byte{c.value};
    auto m = decode_post_message_input(g);
    ASSERT_FALSE(m.ok()) << c.at;
    EXPECT_EQ(m.error().code, c.code) << c.at;
    EXPECT_STREQ(m.error().field, c.field);
  }
  Bytes g = golden_post_message();
  g[12] = std::byte{240};
  g[2] = std::byte{0xff};  // the 24-bit id may use all its bits
  EXPECT_TRUE(decode_post_message_input(g).ok());
}

TEST(PostMessageInput, TruncationAtEveryLength) {
  const Bytes g = golden_post_message();
  for (std::size_t len = 0; len < g.size(); ++len) {
    auto m = decode_post_message_input(ByteSpan(g).first(len));
    ASSERT_FALSE(m.ok()) << len;
    EXPECT_EQ(m.error().code, Errc::truncated);
  }
  Bytes longer = g;
  longer.push_back(std::byte{0});
  EXPECT_EQ(decode_post_message_input(longer).error().code, Errc::trailing_data);
}

TEST(PostMessageInput, MakeCarriesAChannelMessage) {
  const Bytes offer = encode(ChannelMessage(OfferChannel{}), VmbusVersion::win10);
  auto m = make_post_message_input(kVmbusMessageConnectionId, offer);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->payload_size, 196u);
  auto d = decode_post_message_input(encode(*m));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, *m);
  EXPECT_TRUE(std::equal(d->body().begin(), d->body().end(), offer.begin(), offer.end()));
  EXPECT_FALSE(make_post_message_input(0x01000000, offer).ok());
  EXPECT_FALSE(make_post_message_input(1, Bytes(241)).ok());
}

TEST(SignalEventInput, EncodeDecodeAndReservedBits) {
  SignalEventInput in{0x1e, 0};
  EXPECT_EQ(encode(in), 0x1eu);
  auto d = decode_signal_event_input(0x0000'0005'0000'001eull);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->connection_id, 0x1eu);
  EXPECT_EQ(d->flag_number, 5);
  EXPECT_EQ(encode(*d), 0x0000'0005'0000'001eull);
  auto bad = decode_signal_event_input(0x0001'0000'0000'001eull);
  ASSERT_FALSE(bad.ok());
  EXPECT_STREQ(bad.error().field, "signal_event.rsvdz");
  bad = decode_signal_event_input(0x0000'0000'0100'0000ull);
  ASSERT_FALSE(bad.ok());
  EXPECT_STREQ(bad.error().field, "signal_event.connection_id");
}

}  // namespace
}  // namespace vmbh::proto
