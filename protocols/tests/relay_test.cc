#include "vmbh/protocols/relay.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace vmbh::proto {
namespace {

void append(Bytes& b, std::initializer_list<int> vs) {
  for (int v : vs) b.push_back(std::byte(static_cast<std::uint8_t>(v)));
}

void append_u32(Bytes& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(std::byte(static_cast<std::uint8_t>(v >> (8 * i))));
}

void append_u64(Bytes& b, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(std::byte(static_cast<std::uint8_t>(v >> (8 * i))));
}

// q35 with 5 GiB: 2 GiB below 4 GiB, 3 GiB above, one file.
RelayHello q35_hello() {
  return RelayHello{kRelayVersion, 2, {{0, 2ull << 30, 0}, {4ull << 30, 3ull << 30, 2ull << 30}}};
}

Bytes frame(std::uint32_t type, const Bytes& body) {
  Bytes b;
  append_u32(b, type);
  append_u32(b, static_cast<std::uint32_t>(body.size()));
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

Bytes hello_body(std::uint32_t version, std::uint32_t vcpus, std::uint32_t count,
                 std::initializer_list<RelayRamRegion> regions) {
  Bytes b;
  append(b, {'V', 'M', 'B', 'R'});
  append_u32(b, version);
  append_u32(b, vcpus);
  append_u32(b, count);
  for (const auto& g : regions) {
    append_u64(b, g.gpa);
    append_u64(b, g.size);
    append_u64(b, g.file_offset);
  }
  return b;
}

std::string error_of(const Bytes& wire) {
  auto f = decode_relay_frame(wire);
  if (f.ok()) return "decoded";
  return f.error().message();
}

TEST(Relay, HelloGoldenBytes) {
  Bytes g = frame(1, hello_body(2, 2, 2, {{0, 0x80000000, 0}, {0x100000000, 0xC0000000, 0x80000000}}));
  ASSERT_EQ(g.size(), 8u + 16 + 48);
  EXPECT_EQ(g[0], std::byte{1});
  EXPECT_EQ(g[4], std::byte{64});  // length
  EXPECT_EQ(encode_relay_frame(q35_hello()), g);
  auto f = decode_relay_frame(g);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(std::get<RelayHello>(*f), q35_hello());
}

TEST(Relay, HelloVersionOneStillDecodes) {
  // A QEMU without REF_TIME (patch 0010 alone) says version 1.
  auto f = decode_relay_frame(frame(1, hello_body(1, 1, 1, {{0, 4096, 0}})));
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(std::get<RelayHello>(*f).version, 1u);
  EXPECT_LT(std::get<RelayHello>(*f).version, kRelayRefTimeVersion);
}

// The example of docs/relay-protocol.md.
TEST(Relay, RefTimeGoldenBytes) {
  const Bytes request = bytes_of(0x06, 0x01, 0, 0, 4, 0, 0, 0, 0x2a, 0, 0, 0);
  EXPECT_EQ(encode_relay_frame(RelayRefTime{42}), request);
  auto q = decode_relay_frame(request);
  ASSERT_TRUE(q.ok()) << q.error().message();
  EXPECT_EQ(std::get<RelayRefTime>(*q), RelayRefTime{42});
  EXPECT_EQ(type_of(*q), RelayType::ref_time);

  // 12.5 s of reference time: 125,000,000 = 0x0773_5940.
  const Bytes answer =
      bytes_of(0x07, 0, 0, 0, 16, 0, 0, 0, 0x2a, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x59, 0x73, 0x07, 0, 0, 0, 0);
  const RelayRefTimeAnswer a{42, 0, 125'000'000};
  EXPECT_EQ(encode_relay_frame(a), answer);
  auto f = decode_relay_frame(answer);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(std::get<RelayRefTimeAnswer>(*f), a);
  EXPECT_TRUE(is_qemu_to_host(RelayType::ref_time_answer));
  EXPECT_FALSE(is_qemu_to_host(RelayType::ref_time));
}

TEST(Relay, RefTimeAnswerErrorsNameTheField) {
  Bytes positive;
  append_u32(positive, 1);
  append_u32(positive, 95);
  append_u64(positive, 0);
  EXPECT_EQ(error_of(frame(7, positive)), "relay.ref_time_answer.error: bad_value at offset 12");
  // An error carries no time.
  Bytes both;
  append_u32(both, 1);
  append_u32(both, static_cast<std::uint32_t>(-95));
  append_u64(both, 5);
  EXPECT_EQ(error_of(frame(7, both)), "relay.ref_time_answer.reference_time: bad_value at offset 16");
  both.resize(8);
  append_u64(both, 0);
  EXPECT_EQ(error_of(frame(7, both)), "decoded");
  EXPECT_EQ(error_of(frame(7, bytes_of(1, 0, 0, 0, 0, 0, 0, 0))),
            "relay.ref_time_answer.reference_time: truncated at offset 16");
  EXPECT_EQ(error_of(frame(0x106, bytes_of(1, 0, 0, 0, 0))), "relay.length: trailing_data at offset 12");
}

TEST(Relay, GuestMessageGoldenBytes) {
  // vp 1, connection 4, type 1, an 8-byte REQUESTOFFERS.
  Bytes body;
  append(body, {1, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0});
  const Bytes g = frame(2, body);
  const RelayGuestMessage m{1, 4, 1, bytes_of(3, 0, 0, 0, 0, 0, 0, 0)};
  EXPECT_EQ(encode_relay_frame(m), g);
  auto f = decode_relay_frame(g);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(std::get<RelayGuestMessage>(*f), m);
  EXPECT_EQ(type_of(*f), RelayType::guest_message);
}

TEST(Relay, EveryFrameTypeRoundTrips) {
  Bytes big(kRelayMaxPayload, std::byte{0xAB});
  const RelayFrame frames[] = {
      q35_hello(),
      RelayGuestMessage{0, 1, 1, big},
      RelayGuestMessage{3, 0xFFFFFF, 7, {}},
      RelayGuestSignal{kRelayVpUnknown, 0x10},
      RelayGuestReset{},
      RelayResult{RelayType::add_event_connection, 0x11, -17},
      RelayResult{RelayType::remove_event_connection, 0x11, 0},
      RelayError{RelayType::post_message, 9, 2, -22},
      RelayRefTimeAnswer{7, 0, 0xFFFFFFFFFFFFFFFF},
      RelayRefTimeAnswer{8, -95, 0},
      RelayAddMessageConnection{4},
      RelayAddEventConnection{0x20},
      RelayRemoveEventConnection{0x20},
      RelayPostMessage{1, 2, 1, big},
      RelaySignalEvent{0, 2, 2047},
      RelayRefTime{0xFFFFFFFF},
  };
  std::size_t seen_types = 0;
  for (const auto& f : frames) {
    const Bytes wire = encode_relay_frame(f);
    ASSERT_LE(wire.size(), kRelayMaxFrameSize);
    auto back = decode_relay_frame(wire);
    ASSERT_TRUE(back.ok()) << to_string(type_of(f)) << ": " << back.error().message();
    EXPECT_EQ(*back, f) << to_string(type_of(f));
    EXPECT_TRUE(is_known(type_of(f)));
    ++seen_types;
  }
  EXPECT_EQ(seen_types, 16u);
}

TEST(Relay, Directions) {
  EXPECT_TRUE(is_qemu_to_host(RelayType::hello));
  EXPECT_TRUE(is_qemu_to_host(RelayType::error));
  EXPECT_FALSE(is_qemu_to_host(RelayType::post_message));
  EXPECT_FALSE(is_qemu_to_host(static_cast<RelayType>(8)));
  EXPECT_EQ(to_string(static_cast<RelayType>(0x107)), "UNKNOWN");
}

TEST(Relay, HeaderErrorsNameTheField) {
  EXPECT_EQ(error_of(bytes_of(1, 0, 0)), "relay.type: truncated at offset 0");
  EXPECT_EQ(error_of(frame(8, {})), "relay.type: unknown_type at offset 0");
  Bytes huge;
  append_u32(huge, 2);
  append_u32(huge, kRelayMaxFrameSize);  // header + this > max
  EXPECT_EQ(error_of(huge), "relay.length: bad_length at offset 4");
  Bytes short_body = frame(3, bytes_of(0, 0, 0, 0, 1, 0, 0, 0));
  short_body.pop_back();
  EXPECT_EQ(error_of(short_body), "relay.length: truncated at offset 4");
  Bytes extra = frame(4, {});
  extra.push_back(std::byte{0});
  EXPECT_EQ(error_of(extra), "relay.length: trailing_data at offset 4");
  // A length that claims more than the type's body.
  EXPECT_EQ(error_of(frame(3, bytes_of(0, 0, 0, 0, 1, 0, 0, 0, 9))),
            "relay.length: trailing_data at offset 16");
}

TEST(Relay, HelloErrorsNameTheField) {
  Bytes bad_magic = frame(1, hello_body(1, 1, 1, {{0, 4096, 0}}));
  bad_magic[8] = std::byte{'X'};
  EXPECT_EQ(error_of(bad_magic), "relay.hello.magic: bad_value at offset 8");
  EXPECT_EQ(error_of(frame(1, hello_body(3, 1, 1, {{0, 4096, 0}}))),
            "relay.hello.version: bad_version at offset 12");
  EXPECT_EQ(error_of(frame(1, hello_body(0, 1, 1, {{0, 4096, 0}}))),
            "relay.hello.version: bad_version at offset 12");
  EXPECT_EQ(error_of(frame(1, hello_body(1, 0, 1, {{0, 4096, 0}}))),
            "relay.hello.vcpus: bad_value at offset 16");
  EXPECT_EQ(error_of(frame(1, hello_body(1, 1, 0, {}))), "relay.hello.region_count: bad_length at offset 20");
  // region_count says 2, one region follows.
  EXPECT_EQ(error_of(frame(1, hello_body(1, 1, 2, {{0, 4096, 0}}))),
            "relay.hello.region_count: bad_length at offset 20");
  EXPECT_EQ(error_of(frame(1, hello_body(1, 1, 1, {{100, 4096, 0}}))),
            "relay.hello.region.gpa: bad_value at offset 24");
  EXPECT_EQ(error_of(frame(1, hello_body(1, 1, 1, {{0, 0, 0}}))),
            "relay.hello.region.size: bad_value at offset 32");
  EXPECT_EQ(error_of(frame(1, hello_body(1, 1, 1, {{0xFFFFFFFFFFFFF000, 0x2000, 0}}))),
            "relay.hello.region.size: bad_value at offset 32");
  EXPECT_EQ(error_of(frame(1, hello_body(1, 1, 1, {{0, 4096, 12}}))),
            "relay.hello.region.file_offset: bad_value at offset 40");
  // Overlapping / descending regions.
  EXPECT_EQ(error_of(frame(1, hello_body(1, 1, 2, {{0x10000, 0x2000, 0}, {0x11000, 0x1000, 0x2000}}))),
            "relay.hello.region.gpa: bad_value at offset 48");
}

TEST(Relay, BodyErrorsNameTheField) {
  Bytes msg;
  append_u32(msg, 0);
  append_u32(msg, 0x1000000);  // connection ids have 24 bits
  append_u32(msg, 1);
  append_u32(msg, 0);
  EXPECT_EQ(error_of(frame(2, msg)), "relay.guest_message.connection_id: bad_value at offset 12");
  Bytes big;
  append_u32(big, 0);
  append_u32(big, 1);
  append_u32(big, 1);
  append_u32(big, 241);
  big.resize(big.size() + 241);
  EXPECT_EQ(error_of(frame(2, big)), "relay.guest_message.payload_size: bad_length at offset 20");
  Bytes mismatch;
  append_u32(mismatch, 0);
  append_u32(mismatch, 16);
  append_u32(mismatch, 1);
  append_u32(mismatch, 4);
  append(mismatch, {1, 2});
  EXPECT_EQ(error_of(frame(0x104, mismatch)), "relay.post_message.sint: bad_value at offset 12");
  mismatch[4] = std::byte{2};
  EXPECT_EQ(error_of(frame(0x104, mismatch)), "relay.post_message.payload_size: bad_length at offset 20");
  Bytes flag;
  append_u32(flag, 0);
  append_u32(flag, 2);
  append_u32(flag, 2048);
  EXPECT_EQ(error_of(frame(0x105, flag)), "relay.signal_event.flag: bad_value at offset 16");
  Bytes result;
  append_u32(result, 0x104);  // a result answers registrations only
  append_u32(result, 1);
  append_u32(result, 0);
  EXPECT_EQ(error_of(frame(5, result)), "relay.result.request: bad_value at offset 8");
  Bytes positive;
  append_u32(positive, 0x101);
  append_u32(positive, 1);
  append_u32(positive, 5);
  EXPECT_EQ(error_of(frame(5, positive)), "relay.result.error: bad_value at offset 16");
  Bytes zero_error;
  append_u32(zero_error, 0x105);
  append_u32(zero_error, 0);
  append_u32(zero_error, 2);
  append_u32(zero_error, 0);
  EXPECT_EQ(error_of(frame(6, zero_error)), "relay.error.error: bad_value at offset 20");
  EXPECT_EQ(error_of(frame(0x101, bytes_of(1, 0, 0))),
            "relay.add_message_connection.connection_id: truncated at offset 8");
}

TEST(Relay, ReaderSplitsAStreamFedByteByByte) {
  Bytes stream = encode_relay_frame(q35_hello());
  const Bytes msg = encode_relay_frame(RelayGuestMessage{1, 4, 1, bytes_of(14, 0, 0, 0)});
  const Bytes reset = encode_relay_frame(RelayGuestReset{});
  stream.insert(stream.end(), msg.begin(), msg.end());
  stream.insert(stream.end(), reset.begin(), reset.end());
  RelayFrameReader reader;
  std::vector<RelayType> got;
  for (std::byte b : stream) {
    reader.feed(ByteSpan(&b, 1));
    while (auto f = reader.next()) {
      ASSERT_TRUE(f->ok()) << f->error().message();
      got.push_back(type_of(**f));
    }
  }
  EXPECT_EQ(got,
            (std::vector<RelayType>{RelayType::hello, RelayType::guest_message, RelayType::guest_reset}));
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(Relay, ReaderKeepsAPartialFrameAndFailsStickyOnGarbage) {
  RelayFrameReader reader;
  const Bytes msg = encode_relay_frame(RelayGuestSignal{0, 0x10});
  reader.feed(ByteSpan(msg).first(10));
  EXPECT_FALSE(reader.next().has_value());
  EXPECT_EQ(reader.buffered(), 10u);
  reader.feed(ByteSpan(msg).subspan(10));
  auto f = reader.next();
  ASSERT_TRUE(f.has_value() && f->ok());
  // Garbage after a good frame: the error offset is the stream offset.
  reader.feed(bytes_of(0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0));
  auto bad = reader.next();
  ASSERT_TRUE(bad.has_value());
  ASSERT_FALSE(bad->ok());
  EXPECT_EQ(bad->error().message(), "relay.type: unknown_type at offset 16");
  EXPECT_TRUE(reader.failed());
  reader.feed(msg);  // still failed: no resynchronisation
  auto again = reader.next();
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->ok());
}

}  // namespace
}  // namespace vmbh::proto
