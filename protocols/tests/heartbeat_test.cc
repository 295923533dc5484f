#include "vmbh/protocols/heartbeat.h"

#include <gtest/gtest.h>

#include "vmbh/protocols/ic.h"

namespace vmbh::proto {
namespace {

// A heartbeat request as the host sends it after negotiating 3.0/3.0.
const Bytes kHeartbeatRequest =
    bytes_of(0x01, 0x00, 0x00, 0x00, 0x3C, 0x00, 0x00, 0x00,  // pipe: data, 20 + 40
             0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00,
             0x09, 0x03, 0x00, 0x00,  // fw 3.0, type 1, msg 3.0, size 40, status 0, txid 9, flags 3
             0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // seq_num
             0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

Bytes encode_body(const HeartbeatMsg& m) {
  Bytes out;
  ByteWriter w(out);
  encode(m, w);
  return out;
}

TEST(Heartbeat, SizesPinned) {
  EXPECT_EQ(kHeartbeatMsgSize, 40u);
  EXPECT_EQ(kHeartbeatMinSize, 8u);
  EXPECT_EQ(encode_body(HeartbeatMsg{}).size(), 40u);
}

TEST(Heartbeat, DecodesGoldenRequest) {
  auto m = decode_ic_message(kHeartbeatRequest);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->header.icmsgtype, IcMsgType::heartbeat);
  EXPECT_EQ(m->header.ictransaction_id, 9);
  auto hb = decode_heartbeat(m->body);
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(hb->seq_num, 0x0102030405060708u);
  EXPECT_EQ(hb->reserved, (std::array<std::uint32_t, 8>{}));
}

TEST(Heartbeat, EncoderBuildsGoldenRequest) {
  HeartbeatMsg hb;
  hb.seq_num = 0x0102030405060708u;
  Bytes pkt =
      encode_ic_message(make_ic_request_header(IcMsgType::heartbeat, {3, 0}, {3, 0}, 9), encode_body(hb));
  EXPECT_EQ(pkt, kHeartbeatRequest);
}

TEST(Heartbeat, RoundTripWithReservedWords) {
  HeartbeatMsg hb;
  hb.seq_num = ~0ull;
  for (std::uint32_t i = 0; i < 8; ++i) hb.reserved[i] = 0x11111111u * (i + 1);
  auto d = decode_heartbeat(encode_body(hb));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, hb);
}

TEST(Heartbeat, TruncationAtEveryLength) {
  HeartbeatMsg hb;
  hb.seq_num = 42;
  hb.reserved.fill(0xFFFFFFFFu);
  Bytes b = encode_body(hb);
  for (std::size_t len = 0; len < 8; ++len) {
    auto d = decode_heartbeat(ByteSpan(b.data(), len));
    ASSERT_FALSE(d.ok()) << len;
    EXPECT_EQ(d.error().code, Errc::truncated);
    EXPECT_STREQ(d.error().field, "heartbeat.seq_num");
  }
  // Linux accepts a body with only seq_num; missing reserved bytes read as 0.
  for (std::size_t len = 8; len <= b.size(); ++len) {
    auto d = decode_heartbeat(ByteSpan(b.data(), len));
    ASSERT_TRUE(d.ok()) << len;
    EXPECT_EQ(d->seq_num, 42u);
    const std::size_t full_words = (len - 8) / 4;
    for (std::size_t i = 0; i < 8; ++i) {
      if (i < full_words) {
        EXPECT_EQ(d->reserved[i], 0xFFFFFFFFu);
      }
      if (i > full_words) {
        EXPECT_EQ(d->reserved[i], 0u);
      }
    }
    // decode(encode(decode(x))) == decode(x)
    auto again = decode_heartbeat(encode_body(*d));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *d);
  }
}

TEST(Heartbeat, ReplyIncrementsAndWraps) {
  HeartbeatMsg hb;
  hb.seq_num = 5;
  hb.reserved[3] = 7;
  HeartbeatMsg r = heartbeat_reply(hb);
  EXPECT_EQ(r.seq_num, 6u);
  EXPECT_EQ(r.reserved[3], 7u);
  hb.seq_num = ~0ull;
  EXPECT_EQ(heartbeat_reply(hb).seq_num, 0u);
}

}  // namespace
}  // namespace vmbh::proto
