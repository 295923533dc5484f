#include "vmbh/host/loopback_transport.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "vmbh/host/channel_ring.h"

namespace vmbh::host {
namespace {

struct Recorder final : HostEvents {
  void on_guest_message(std::uint32_t vp, std::uint32_t conn, std::uint32_t type,
                        proto::ByteSpan p) override {
    seen.push_back("msg vp" + std::to_string(vp) + " conn" + std::to_string(conn) + " type" +
                   std::to_string(type) + " len" + std::to_string(p.size()));
  }
  void on_guest_signal(std::uint32_t vp, std::uint32_t conn) override {
    seen.push_back("sig vp" + std::to_string(vp) + " conn" + std::to_string(conn));
  }
  void on_guest_reset() override { seen.push_back("reset"); }
  void on_transport_closed(const std::string& why) override { seen.push_back("closed " + why); }
  std::vector<std::string> seen;
};

LoopbackTransport make() {
  auto t = LoopbackTransport::create({.ram_size = std::uint64_t{64} * 4096, .vp_count = 2});
  EXPECT_TRUE(t) << t.message();
  return std::move(t).value();
}

TEST(LoopbackTransport, GuestActionsArriveInOrderOnDispatchOnly) {
  LoopbackTransport t = make();
  Recorder r;
  t.set_events(&r);
  const std::array<std::byte, 8> msg{};
  EXPECT_EQ(t.guest_post_message(0, 1, 1, msg), proto::HvStatus::invalid_connection_id);
  ASSERT_TRUE(t.add_message_connection(1));
  ASSERT_TRUE(t.add_event_connection(0x11));
  EXPECT_EQ(t.guest_post_message(1, 1, 1, msg), proto::HvStatus::success);
  EXPECT_EQ(t.guest_signal_event(0, 0x11), proto::HvStatus::success);
  EXPECT_EQ(t.guest_signal_event(0, 0x12), proto::HvStatus::invalid_connection_id);
  EXPECT_EQ(t.guest_post_message(2, 1, 1, msg), proto::HvStatus::invalid_parameter);  // no VP 2
  EXPECT_EQ(t.guest_post_message(0, 1, 0x80000000, msg), proto::HvStatus::invalid_parameter);
  EXPECT_TRUE(r.seen.empty());
  ASSERT_TRUE(t.dispatch());
  EXPECT_EQ(r.seen, (std::vector<std::string>{"msg vp1 conn1 type1 len8", "sig vp0 conn17"}));
  EXPECT_EQ(t.guest_signals(), 1u);
  ASSERT_TRUE(t.remove_event_connection(0x11));
  EXPECT_FALSE(t.remove_event_connection(0x11));
}

TEST(LoopbackTransport, HostMessagesAndEventsReachTheGuestEnd) {
  LoopbackTransport t = make();
  const std::array<std::byte, 3> body{std::byte{1}, std::byte{2}, std::byte{3}};
  ASSERT_TRUE(t.post_message(1, 2, 1, body));
  EXPECT_FALSE(t.post_message(2, 2, 1, body));
  EXPECT_FALSE(t.post_message(0, 16, 1, body));
  EXPECT_FALSE(t.post_message(0, 2, 1, std::vector<std::byte>(241)));
  ASSERT_TRUE(t.signal_event(0, 2, 5));
  ASSERT_TRUE(t.signal_event(0, 2, 5));  // a flag is a bit: set twice, seen once
  ASSERT_TRUE(t.signal_event(0, 2, 3));
  ASSERT_TRUE(t.signal_event(1, 2, 9));
  EXPECT_FALSE(t.signal_event(0, 2, 2048));
  auto m = t.next_message();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->vp, 1u);
  EXPECT_EQ(m->sint, 2u);
  EXPECT_EQ(m->payload.size(), 3u);
  EXPECT_FALSE(t.next_message());
  EXPECT_EQ(t.take_events(0, 2), (std::vector<std::uint32_t>{3, 5}));
  EXPECT_TRUE(t.take_events(0, 2).empty());
  auto all = t.take_all_events();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].flag, 9u);
}

TEST(LoopbackTransport, ResetDropsPendingStateAndCloseEndsDispatch) {
  LoopbackTransport t = make();
  Recorder r;
  t.set_events(&r);
  ASSERT_TRUE(t.add_message_connection(1));
  const std::array<std::byte, 8> msg{};
  ASSERT_EQ(t.guest_post_message(0, 1, 1, msg), proto::HvStatus::success);
  ASSERT_TRUE(t.post_message(0, 2, 1, msg));
  ASSERT_TRUE(t.add_event_connection(0x11));
  t.guest_reset();
  EXPECT_EQ(t.pending_messages(), 0u);
  // Like QEMU's relay: the host has to register its connections again.
  EXPECT_TRUE(t.message_connections().empty());
  EXPECT_TRUE(t.event_connections().empty());
  EXPECT_EQ(t.guest_post_message(0, 1, 1, msg), proto::HvStatus::invalid_connection_id);
  ASSERT_TRUE(t.dispatch());
  EXPECT_EQ(r.seen, (std::vector<std::string>{"reset"}));
  t.close("test over");
  EXPECT_FALSE(t.dispatch());
  EXPECT_EQ(r.seen.back(), "closed test over");
  EXPECT_FALSE(t.dispatch());
  EXPECT_FALSE(t.post_message(0, 2, 1, msg));
}

TEST(LoopbackTransport, ResetReturnsToTheStateCreateLeft) {
  auto created =
      LoopbackTransport::create({.ram_size = std::uint64_t{64} * 4096, .vp_count = 2, .cached_mappings = 4});
  ASSERT_TRUE(created);
  LoopbackTransport& t = *created;
  Recorder r;
  t.set_events(&r);
  ASSERT_TRUE(t.add_message_connection(1));
  ASSERT_TRUE(t.add_event_connection(0x11));
  const std::array<std::byte, 8> msg{};
  ASSERT_EQ(t.guest_post_message(0, 1, 1, msg), proto::HvStatus::success);
  ASSERT_EQ(t.guest_signal_event(0, 0x11), proto::HvStatus::success);
  ASSERT_TRUE(t.post_message(0, 2, 1, msg));
  ASSERT_TRUE(t.signal_event(1, 2, 4));
  const std::array<std::uint64_t, 2> pfns{30, 7};
  {
    auto m = t.ram().map_pages(pfns);
    ASSERT_TRUE(m);
    std::memset(m->bytes().data(), 0xee, m->bytes().size());
  }
  t.close("first session over");

  ASSERT_TRUE(t.reset());
  EXPECT_EQ(t.pending_messages(), 0u);
  EXPECT_FALSE(t.has_events());
  EXPECT_FALSE(t.has_pending_guest_actions());
  EXPECT_TRUE(t.message_connections().empty());
  EXPECT_TRUE(t.event_connections().empty());
  EXPECT_EQ(t.host_messages_posted(), 0u);
  EXPECT_EQ(t.host_signals(), 0u);
  EXPECT_EQ(t.guest_signals(), 0u);
  EXPECT_EQ(t.guest_post_message(0, 1, 1, msg), proto::HvStatus::invalid_connection_id)
      << "not closed, no connection";
  ASSERT_TRUE(t.dispatch()) << "open again, and no sink left: nothing is delivered";
  EXPECT_EQ(r.seen, (std::vector<std::string>{}));
  auto m = t.ram().map_pages(pfns);
  ASSERT_TRUE(m);
  for (std::byte b : m->bytes()) ASSERT_EQ(b, std::byte{0});
  ASSERT_TRUE(t.post_message(1, 2, 1, msg));
  EXPECT_EQ(t.host_messages_posted(), 1u);
}

TEST(ChannelRing, RejectsOffsetsThatLeaveARingWithoutADataPage) {
  LoopbackTransport t = make();
  const std::array<std::uint64_t, 4> pfns{10, 11, 12, 13};
  for (std::uint32_t offset : {0u, 1u, 3u, 4u, 5u}) {
    auto m = t.ram().map_pages(pfns);
    ASSERT_TRUE(m);
    auto r = ChannelRing::create(1, std::move(m).value(), offset, t, 0, 2);
    EXPECT_FALSE(r) << offset;
  }
  auto m = t.ram().map_pages(pfns);
  ASSERT_TRUE(m);
  auto r = ChannelRing::create(1, std::move(m).value(), 2, t, 0, 2);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ((*r)->guest_to_host().data_size(), 4096u);
}

TEST(ChannelRing, WritesSignalRelidAndReadsCopies) {
  LoopbackTransport t = make();
  const std::array<std::uint64_t, 4> pfns{20, 21, 22, 23};
  auto m = t.ram().map_pages(pfns);
  ASSERT_TRUE(m);
  auto ring = ChannelRing::create(7, std::move(m).value(), 2, t, 1, 2);
  ASSERT_TRUE(ring);
  ChannelRing& cr = **ring;
  std::vector<std::size_t> observed;
  cr.set_sent_observer([&](proto::ByteSpan p) { observed.push_back(p.size()); });
  const std::array<std::byte, 5> payload{};
  ASSERT_TRUE(cr.send_inband(payload, 9, true));
  ASSERT_TRUE(cr.send_inband(payload, 10, false));
  EXPECT_EQ(observed, (std::vector<std::size_t>{24, 24}));
  EXPECT_EQ(t.take_events(1, 2), (std::vector<std::uint32_t>{7})) << "one signal: the ring was empty once";
  EXPECT_EQ(t.host_signals(), 1u);

  // A guest packet in the other ring, read and decoded from a copy.
  auto d = *proto::make_descriptor(proto::PacketType::data_inband, 0, 0x42, 16, 3);
  auto desc = proto::encode_descriptor(d);
  const std::array<std::byte, 3> body{std::byte{'a'}, std::byte{'b'}, std::byte{'c'}};
  const std::array<proto::ByteSpan, 2> parts{proto::ByteSpan(desc), proto::ByteSpan(body)};
  ASSERT_TRUE(cr.guest_to_host().write(parts));
  auto p = cr.read_packet();
  ASSERT_TRUE(p) << p.message();
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->desc.trans_id, 0x42u);
  EXPECT_EQ((*p)->payload[0], std::byte{'a'});
  EXPECT_NE((*p)->payload.data(), cr.guest_to_host().data().data() + 16) << "not a view into shared memory";
  EXPECT_EQ(cr.last_packet().size(), 24u);
  auto empty = cr.read_packet();
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->has_value());
}

}  // namespace
}  // namespace vmbh::host
