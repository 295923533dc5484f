// The channel manager driven by the guest model over the loopback transport.
#include "vmbh/host/channel_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "vmbh/guest_model/vmbus_guest.h"
#include "vmbh/host/loopback_transport.h"
#include "vmbh/protocols/describe.h"
#include "vmbh/protocols/heartbeat.h"
#include "vmbh/protocols/ic.h"

namespace vmbh {
namespace {

using guest_model::GuestChannel;
using guest_model::GuestOptions;
using guest_model::VmbusGuest;
using host::ChannelManager;
using host::ChannelManagerOptions;
using host::LoopbackTransport;
using proto::VmbusVersion;
using Status = host::Status;

proto::Bytes bytes_of(const std::string& s) {
  proto::Bytes b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}
std::string string_of(proto::ByteSpan b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Echoes every in-band payload back with the same trans_id. A payload
// starting with "bad" is refused with a Status, as a device refuses a
// malformed message.
class EchoDevice final : public host::Device {
 public:
  explicit EchoDevice(std::string name,
                      const std::string& class_id = "11111111-2222-3333-4444-555555555555") {
    id_.name = std::move(name);
    id_.class_id = proto::Guid::from_string(class_id);
    id_.instance_id = proto::Guid::from_string("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
  }
  const host::DeviceIdentity& identity() const override { return id_; }
  void on_open(host::ChannelIo& io) override {
    io_ = &io;
    ++opens;
  }
  Status on_packet(const proto::PacketView& p) override {
    ++packets;
    if (p.payload.size() >= 3 && string_of(p.payload.first(3)) == "bad")
      return Status::fail("echo: refused a packet starting with 'bad'");
    Status s = io_->send_inband(p.payload, p.desc.trans_id, false);
    if (!s) ++send_failures;
    return s;
  }
  void on_close(const std::string& why) override {
    io_ = nullptr;
    closes.push_back(why);
  }
  void on_tick(host::Clock::time_point) override { ++ticks; }
  host::DeviceFacts facts() const override { return {{"packets", std::to_string(packets)}}; }

  host::ChannelIo* io_ = nullptr;
  int opens = 0;
  int packets = 0;
  int send_failures = 0;
  int ticks = 0;
  std::vector<std::string> closes;

 private:
  host::DeviceIdentity id_;
};

class Harness {
 public:
  explicit Harness(ChannelManagerOptions opts = {}, GuestOptions gopts = {})
      : t(make_transport()), mgr(t, with_log(std::move(opts))), guest(t, gopts) {
    EXPECT_TRUE(mgr.start().ok());
  }
  static LoopbackTransport make_transport() {
    auto r = LoopbackTransport::create({.ram_size = std::uint64_t{8} * 1024 * 1024, .vp_count = 4});
    EXPECT_TRUE(r) << r.message();
    return std::move(r).value();
  }
  ChannelManagerOptions with_log(ChannelManagerOptions o) {
    o.log = [this](const std::string& line) { logs.push_back(line); };
    return o;
  }
  EchoDevice* add(const std::string& name) {
    auto d = std::make_unique<EchoDevice>(name);
    EchoDevice* raw = d.get();
    relids[name] = mgr.add_device(std::move(d));
    return raw;
  }
  void connect_and_offer() {
    auto v = guest.connect();
    ASSERT_TRUE(v) << v.message();
    Status s = guest.request_offers();
    ASSERT_TRUE(s) << s.message();
  }
  bool logged(const std::string& needle) const {
    return std::any_of(logs.begin(), logs.end(),
                       [&](const std::string& l) { return l.find(needle) != std::string::npos; });
  }
  std::string state(std::uint32_t relid) const {
    auto c = mgr.channel(relid);
    return c ? c->state : "none";
  }
  // Sends `payload` and returns the echo (or "" if none).
  std::string roundtrip(GuestChannel& c, const std::string& payload, std::uint64_t trans_id = 7) {
    Status s = c.send_inband(bytes_of(payload), trans_id);
    EXPECT_TRUE(s) << s.message();
    EXPECT_TRUE(guest.pump());
    auto r = c.receive();
    EXPECT_TRUE(r) << r.message();
    if (!r || !r->has_value()) return "";
    auto v = proto::decode_packet(**r);
    EXPECT_TRUE(v);
    EXPECT_EQ(v->desc.trans_id, trans_id);
    EXPECT_EQ(v->desc.type, static_cast<std::uint16_t>(proto::PacketType::data_inband));
    return string_of(v->payload.first(payload.size()));
  }

  std::vector<std::string> logs;
  LoopbackTransport t;
  ChannelManager mgr;
  VmbusGuest guest;
  std::map<std::string, std::uint32_t> relids;
};

// ---------------------------------------------------------------------------
// Reuse of one transport across sessions (what host_guest_fuzzer does)

// A session that leaves RAM dirty where the guest model allocated and where
// it did not (a ring GPADL on pages it never handed out, written by both
// sides), and a log of everything either side saw, RAM included.
std::vector<std::string> session_transcript(LoopbackTransport& t) {
  std::vector<std::string> out;
  {
    ChannelManager mgr(t, {.log = [&](const std::string& l) { out.push_back(l); }});
    EXPECT_TRUE(mgr.start());
    const std::uint32_t a = mgr.add_device(std::make_unique<EchoDevice>("a"));
    const std::uint32_t b = mgr.add_device(std::make_unique<EchoDevice>("b"));
    VmbusGuest guest(t, {.scatter_pages = true});
    EXPECT_TRUE(guest.connect());
    EXPECT_TRUE(guest.request_offers());
    auto ca = guest.open(a, 3, 3);
    EXPECT_TRUE(ca) << ca.message();
    if (ca) {
      EXPECT_TRUE((*ca)->send_inband(bytes_of("ping"), 5));
      EXPECT_TRUE(guest.pump());
      auto r = (*ca)->receive();
      out.push_back(r && r->has_value() ? "echo " + std::to_string((*r)->size()) : "no echo");
    }
    const std::vector<std::uint64_t> stray{200, 201, 202, 203};  // never allocated by the model
    auto g = guest.create_gpadl(b, stray);
    EXPECT_TRUE(g) << g.message();
    if (g) {
      proto::OpenChannel o;
      o.child_relid = b;
      o.open_id = b;
      o.ringbuffer_gpadl = *g;
      o.downstream_ringbuffer_page_offset = 2;
      EXPECT_EQ(guest.post(o), proto::HvStatus::success);
      EXPECT_TRUE(guest.pump());
      auto m = t.ram().map_pages(stray);
      EXPECT_TRUE(m);
      auto ring = proto::RingView::create(m->bytes().first(std::size_t{2} * 4096));
      EXPECT_TRUE(ring);
      auto d = *proto::make_descriptor(proto::PacketType::data_inband, 0, 9, 16, 8);
      const auto desc = proto::encode_descriptor(d);
      const proto::Bytes body = bytes_of("stray-pg");
      const std::array<proto::ByteSpan, 2> parts{proto::ByteSpan(desc), proto::ByteSpan(body)};
      EXPECT_TRUE(ring->write(parts));
      EXPECT_EQ(t.guest_signal_event(0, 0x10 + b), proto::HvStatus::success);
      EXPECT_TRUE(guest.pump());
    }
    EXPECT_TRUE(guest.close(a));
    for (const auto& m : guest.received()) out.push_back(proto::describe(m));
    for (const auto& c : mgr.channels()) out.push_back(c.name + " " + c.state);
    out.push_back("posted " + std::to_string(t.host_messages_posted()) + " signals " +
                  std::to_string(t.host_signals()) + "/" + std::to_string(t.guest_signals()));
  }
  auto ram = t.ram().map_range(0, t.ram().regions().front().size);
  EXPECT_TRUE(ram);
  std::size_t nonzero = 0;
  std::string pages;
  for (std::size_t p = 0; p < ram->bytes().size() / 4096; ++p) {
    std::uint64_t sum = 0;
    for (std::byte x : ram->bytes().subspan(p * 4096, 4096)) sum = sum * 31 + std::to_integer<unsigned>(x);
    if (sum != 0) {
      ++nonzero;
      pages += " " + std::to_string(p) + ":" + std::to_string(sum);
    }
  }
  out.push_back("ram" + pages);
  EXPECT_GT(nonzero, 4u) << "the session should leave RAM dirty";
  return out;
}

TEST(Reuse, ASessionOnAResetTransportReplaysExactlyLikeOnAFreshOne) {
  constexpr std::uint64_t kRam = std::uint64_t{256} * 4096;
  auto fresh = LoopbackTransport::create({.ram_size = kRam, .vp_count = 4});
  ASSERT_TRUE(fresh);
  const std::vector<std::string> expected = session_transcript(*fresh);

  auto reused = LoopbackTransport::create({.ram_size = kRam, .vp_count = 4, .cached_mappings = 16});
  ASSERT_TRUE(reused);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(session_transcript(*reused), expected) << "round " << round;
    ASSERT_TRUE(reused->reset());
  }
}

// ---------------------------------------------------------------------------
// Negotiation

TEST(Negotiation, EveryLinuxVersionAgainstEveryCap) {
  for (VmbusVersion cap : proto::kLinuxVmbusVersions) {
    // The guest walks Linux's list down, as vmbus_connect() does.
    Harness h({.max_version = cap});
    auto v = h.guest.connect();
    ASSERT_TRUE(v) << v.message();
    EXPECT_EQ(*v, cap);
    EXPECT_EQ(h.mgr.negotiated_version(), cap);
    for (VmbusVersion r : h.guest.refused_versions()) EXPECT_GT(r, cap);
    EXPECT_EQ(h.guest.refused_versions().size(),
              static_cast<std::size_t>(std::count_if(proto::kLinuxVmbusVersions.begin(),
                                                     proto::kLinuxVmbusVersions.end(),
                                                     [&](VmbusVersion x) { return x > cap; })));
    EXPECT_EQ(h.guest.message_connection_id(), proto::kVmbusMessageConnectionId);
    EXPECT_FALSE(h.logged("arrived on connection")) << "cap " << proto::raw(cap);
    // Each single version on its own: accepted iff not above the cap.
    for (VmbusVersion one : proto::kLinuxVmbusVersions) {
      Harness h1({.max_version = cap});
      const std::array<VmbusVersion, 1> list{one};
      auto r = h1.guest.connect(list);
      EXPECT_EQ(r.ok(), one <= cap) << "cap " << proto::raw(cap) << " requested " << proto::raw(one);
      if (!r) {
        EXPECT_TRUE(h1.logged("refused: newer than this host's cap"));
      }
    }
  }
}

TEST(Negotiation, OldAndUnknownVersionsAreRefusedWithAReason) {
  Harness h;
  const std::array<VmbusVersion, 3> list{static_cast<VmbusVersion>(0x00060000), VmbusVersion::win7,
                                         VmbusVersion::ws2008};
  EXPECT_FALSE(h.guest.connect(list));
  EXPECT_EQ(h.guest.refused_versions().size(), 3u);
  EXPECT_TRUE(h.logged("not a VMBus version"));
  EXPECT_TRUE(h.logged("older than WIN8"));
  EXPECT_FALSE(h.mgr.negotiated_version());
}

TEST(Negotiation, AnswersGoToTheTargetVcpuAndSint) {
  Harness h;
  proto::InitiateContact ic;
  ic.version_requested = proto::raw(VmbusVersion::win10_v5_3);
  ic.target_vcpu = 2;
  ic.msg_sint = 2;
  ASSERT_EQ(h.guest.post(ic), proto::HvStatus::success);
  ASSERT_TRUE(h.t.dispatch());
  auto m = h.t.next_message();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->vp, 2u);
  EXPECT_EQ(m->sint, 2u);
  auto d = proto::decode_channel_message(m->payload, VmbusVersion::win10_v5_3);
  ASSERT_TRUE(d);
  const auto& r = std::get<proto::VersionResponse>(*d);
  EXPECT_EQ(r.version_supported, 1);
  EXPECT_EQ(r.msg_conn_id, proto::kVmbusMessageConnectionId);
}

TEST(Negotiation, InitiateContactOnTheWrongConnectionIsLoggedAndABadSintRefused) {
  Harness h;
  proto::InitiateContact ic;
  ic.version_requested = proto::raw(VmbusVersion::win10_v5_3);
  ic.msg_sint = 16;
  // 5.x on connection 1 instead of 4.
  ASSERT_EQ(h.guest.post_raw(1, proto::encode(ic, VmbusVersion::win10_v5_3)), proto::HvStatus::success);
  ASSERT_TRUE(h.guest.pump());
  EXPECT_TRUE(h.logged("arrived on connection 1"));
  EXPECT_TRUE(h.logged("msg_sint 16 is not a SINT"));
  EXPECT_FALSE(h.mgr.negotiated_version());
}

TEST(Negotiation, MonitorPagesOutsideRamAreNamedBeforeV5) {
  Harness h;
  proto::InitiateContact ic;
  ic.version_requested = proto::raw(VmbusVersion::win10);
  ic.interrupt_page = 0;
  ic.monitor_page1 = 0x100000000ull;  // far beyond 8 MiB of RAM
  ic.monitor_page2 = 4096;
  ASSERT_EQ(h.guest.post(ic), proto::HvStatus::success);
  ASSERT_TRUE(h.guest.pump());
  EXPECT_TRUE(h.logged("monitor_page1 0x100000000 is not a guest RAM page"));
  EXPECT_EQ(h.mgr.negotiated_version(), VmbusVersion::win10);
}

// ---------------------------------------------------------------------------
// Offers, open, close

TEST(Offers, RequestOffersOffersEveryDeviceThenLaterOnesAtOnce) {
  Harness h;
  h.add("a");
  h.add("b");
  EXPECT_EQ(h.state(h.relids["a"]), "pending");
  h.connect_and_offer();
  ASSERT_EQ(h.guest.offers().size(), 2u);
  EXPECT_TRUE(h.guest.all_offers_delivered());
  const auto& o = h.guest.offers().at(h.relids["a"]);
  EXPECT_EQ(o.child_relid, 1u);
  EXPECT_EQ(o.connection_id, 0x11u);
  EXPECT_FALSE(o.monitor_allocated());
  EXPECT_EQ(o.if_type, proto::Guid::from_string("11111111-2222-3333-4444-555555555555"));
  EXPECT_EQ(h.state(h.relids["a"]), "offered");
  // Offers come before ALLOFFERS_DELIVERED.
  const auto& rx = h.guest.received();
  ASSERT_GE(rx.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<proto::AllOffersDelivered>(rx.back()));

  h.add("c");
  ASSERT_TRUE(h.guest.pump());
  EXPECT_EQ(h.guest.offers().size(), 3u);
  EXPECT_EQ(h.state(h.relids["c"]), "offered");
  EXPECT_NE(h.mgr.device("c"), nullptr);
  EXPECT_EQ(h.mgr.device("nope"), nullptr);
}

TEST(Channels, OpenEchoCloseReopen) {
  Harness h;
  EchoDevice* dev = h.add("echo");
  h.connect_and_offer();
  const std::uint32_t relid = h.relids["echo"];
  const std::uint64_t gen = h.mgr.generation();
  auto c = h.guest.open(relid, 3, 5);
  ASSERT_TRUE(c) << c.message();
  EXPECT_GT(h.mgr.generation(), gen);
  EXPECT_EQ(dev->opens, 1);
  auto info = h.mgr.channel(relid);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, "open");
  EXPECT_EQ(info->guest_to_host_ring_size, 2u * 4096);
  EXPECT_EQ(info->host_to_guest_ring_size, 4u * 4096);
  EXPECT_EQ(info->ring_gpadl, (*c)->gpadl());
  for (int i = 0; i < 50; ++i) {
    const std::string msg = "hello " + std::to_string(i);
    EXPECT_EQ(h.roundtrip(**c, msg, 1000 + i), msg);
  }
  EXPECT_EQ(h.mgr.channel(relid)->facts.at(0).second, "50");
  ASSERT_TRUE(h.guest.close(relid));
  ASSERT_EQ(dev->closes.size(), 1u);
  EXPECT_EQ(dev->closes[0], "the guest closed the channel");
  EXPECT_EQ(h.state(relid), "closed");
  auto c2 = h.guest.open(relid, 2, 2);
  ASSERT_TRUE(c2) << c2.message();
  EXPECT_EQ(h.roundtrip(**c2, "again"), "again");
  EXPECT_TRUE(h.guest.bad_messages().empty());
}

TEST(Channels, GpadlOverSeveralMessagesMapsScatteredPages) {
  Harness h;
  h.add("big");
  h.connect_and_offer();
  // 60 pages: GPADL_HEADER (26 PFNs) + two GPADL_BODY, descending PFNs.
  auto c = h.guest.open(h.relids["big"], 30, 30);
  ASSERT_TRUE(c) << c.message();
  std::string big(20000, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  EXPECT_EQ(h.roundtrip(**c, big), big);
}

TEST(Channels, RingsWrapAroundWithOneDataPage) {
  Harness h;
  h.add("tiny");
  h.connect_and_offer();
  auto c = h.guest.open(h.relids["tiny"], 2, 2);
  ASSERT_TRUE(c) << c.message();
  std::uint32_t wraps = 0;
  std::uint32_t last = 0;
  for (int i = 0; i < 400; ++i) {
    std::string msg(static_cast<std::size_t>(1 + (i * 37) % 700), static_cast<char>('A' + i % 26));
    ASSERT_EQ(h.roundtrip(**c, msg, static_cast<std::uint64_t>(i)), msg) << "iteration " << i;
    const std::uint32_t w = (*c)->outbound().write_index();
    if (w < last) ++wraps;
    last = w;
  }
  EXPECT_GT(wraps, 20u);
}

TEST(Channels, SignalsOnlyOnEmptyToNonEmptyAndHonoursInterruptMask) {
  Harness h;
  EchoDevice* dev = h.add("sig");
  h.connect_and_offer();
  auto c = h.guest.open(h.relids["sig"], 4, 4);
  ASSERT_TRUE(c);
  GuestChannel& ch = **c;
  // Three packets written before the host runs: one guest signal.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ch.send_inband(bytes_of("p" + std::to_string(i)), 1));
  EXPECT_EQ(ch.signals_sent(), 1u);
  const std::uint64_t host_signals = h.t.host_signals();
  ASSERT_TRUE(h.guest.pump());
  EXPECT_EQ(dev->packets, 3);
  // Three echoes into an empty ring the guest has not read: one host signal.
  EXPECT_EQ(h.t.host_signals() - host_signals, 1u);
  EXPECT_EQ(ch.events_seen(), 1u);
  for (int i = 0; i < 3; ++i) {
    auto r = ch.receive();
    ASSERT_TRUE(r && r->has_value());
  }
  // The guest masks interrupts: the host writes without signalling.
  ch.inbound().set_interrupt_mask(1);
  ASSERT_TRUE(ch.send_inband(bytes_of("masked"), 2));
  ASSERT_TRUE(h.guest.pump());
  EXPECT_EQ(h.t.host_signals() - host_signals, 1u);
  auto r = ch.receive();
  ASSERT_TRUE(r && r->has_value());
}

TEST(Channels, FullHostRingSetsPendingSendSizeAndTheGuestSignalsWhenItReads) {
  Harness h;
  EchoDevice* dev = h.add("full");
  h.connect_and_offer();
  auto c = h.guest.open(h.relids["full"], 4, 2);  // the host->guest ring has one data page
  ASSERT_TRUE(c);
  GuestChannel& ch = **c;
  const std::string msg(1000, 'z');
  int sent = 0;
  while (dev->send_failures == 0 && sent < 10) {
    ASSERT_TRUE(ch.send_inband(bytes_of(msg), static_cast<std::uint64_t>(sent)));
    ASSERT_TRUE(h.guest.pump());
    ++sent;
  }
  ASSERT_EQ(dev->send_failures, 1);
  EXPECT_TRUE(h.logged("host->guest ring: ring.free: no_space"));
  EXPECT_GT(ch.inbound().pending_send_sz(), 1000u);
  const std::uint64_t guest_signals = ch.signals_sent();
  auto r = ch.receive();
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(ch.signals_sent(), guest_signals + 1) << "the read freed what the host waits for";
  for (;;) {
    auto more = ch.receive();
    ASSERT_TRUE(more);
    if (!more->has_value()) break;
  }
  // The next echo fits and clears the request.
  EXPECT_EQ(h.roundtrip(ch, "small"), "small");
  EXPECT_EQ(ch.inbound().pending_send_sz(), 0u);
}

TEST(Channels, PacketObserverSeesBothDirections) {
  std::vector<std::pair<bool, std::size_t>> seen;
  ChannelManagerOptions o;
  o.packet_observer = [&](std::uint32_t relid, const std::string& dev, bool to_guest, proto::ByteSpan p) {
    EXPECT_EQ(relid, 1u);
    EXPECT_EQ(dev, "obs");
    seen.emplace_back(to_guest, p.size());
  };
  Harness h(o);
  h.add("obs");
  h.connect_and_offer();
  auto c = h.guest.open(1, 2, 2);
  ASSERT_TRUE(c);
  EXPECT_EQ(h.roundtrip(**c, "12345"), "12345");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_pair(false, std::size_t{24}));
  EXPECT_EQ(seen[1], std::make_pair(true, std::size_t{24}));
}

TEST(Channels, ALongBurstIsReadInSlicesAcrossTicks) {
  Harness h({.max_packets_per_signal = 2});
  EchoDevice* dev = h.add("burst");
  h.connect_and_offer();
  auto c = h.guest.open(1, 8, 8);
  ASSERT_TRUE(c);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*c)->send_inband(bytes_of("x"), 1));
  ASSERT_TRUE(h.guest.pump());
  EXPECT_EQ(dev->packets, 2);
  h.mgr.tick(host::Clock::now());
  EXPECT_EQ(dev->packets, 4);
  EXPECT_EQ(dev->ticks, 1);
  h.mgr.tick(host::Clock::now());
  EXPECT_EQ(dev->packets, 5);
}

TEST(Channels, ModifyChannelIsAnsweredFrom53) {
  Harness h;
  h.add("m");
  h.connect_and_offer();
  ASSERT_TRUE(h.guest.open(1, 2, 2));
  auto r = h.guest.modify(1, 3);
  ASSERT_TRUE(r) << r.message();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(**r, 0u);
  EXPECT_EQ(h.mgr.channel(1)->target_vp, 3u);
  auto bad = h.guest.modify(9, 1);
  ASSERT_TRUE(bad && bad->has_value());
  EXPECT_NE(**bad, 0u);
  EXPECT_TRUE(h.logged("modify_channel relid 9: no such channel"));

  Harness old({.max_version = VmbusVersion::win10_v4_1});
  old.add("m");
  old.connect_and_offer();
  ASSERT_TRUE(old.guest.open(1, 2, 2));
  auto r2 = old.guest.modify(1, 2);
  ASSERT_TRUE(r2);
  EXPECT_FALSE(r2->has_value());
  EXPECT_EQ(old.mgr.channel(1)->target_vp, 2u);
}

// ---------------------------------------------------------------------------
// Rescind, unload, reset

TEST(Lifecycle, RescindOfAnOpenChannelThenReoffer) {
  Harness h;
  EchoDevice* dev = h.add("r");
  h.connect_and_offer();
  const std::uint32_t relid = h.relids["r"];
  auto c = h.guest.open(relid, 2, 2);
  ASSERT_TRUE(c);
  const std::size_t log_before = h.logs.size();
  ASSERT_TRUE(h.mgr.rescind(relid));
  EXPECT_EQ(h.state(relid), "rescinding");
  ASSERT_EQ(dev->closes.size(), 1u);
  EXPECT_EQ(dev->closes[0], "the host rescinded the channel");
  ASSERT_TRUE(h.guest.pump());  // guest: CLOSECHANNEL, GPADL_TEARDOWN, RELID_RELEASED
  EXPECT_EQ(h.state(relid), "rescinded");
  EXPECT_EQ(h.logs.size(), log_before) << h.logs.back();
  EXPECT_FALSE(h.mgr.rescind(relid));
  EXPECT_TRUE(h.guest.rescinded().count(relid));

  ASSERT_TRUE(h.mgr.reoffer(relid));
  ASSERT_TRUE(h.guest.pump());
  EXPECT_EQ(h.state(relid), "offered");
  EXPECT_FALSE(h.guest.rescinded().count(relid));
  auto c2 = h.guest.open(relid, 2, 2);
  ASSERT_TRUE(c2) << c2.message();
  EXPECT_EQ(h.roundtrip(**c2, "back"), "back");
  EXPECT_FALSE(h.mgr.reoffer(relid));
}

TEST(Lifecycle, ReofferBeforeReleaseWaitsForTheRelease) {
  Harness h({}, {.auto_release = false});
  h.add("w");
  h.connect_and_offer();
  ASSERT_TRUE(h.mgr.rescind(1));
  ASSERT_TRUE(h.guest.pump());
  ASSERT_TRUE(h.mgr.reoffer(1));
  ASSERT_TRUE(h.guest.pump());
  EXPECT_EQ(h.state(1), "rescinding");
  ASSERT_TRUE(h.guest.release(1));
  EXPECT_EQ(h.state(1), "offered");
  EXPECT_TRUE(h.guest.offers().count(1));
  EXPECT_FALSE(h.guest.rescinded().count(1));
}

TEST(Lifecycle, UnloadClosesEverythingAndAllowsAFreshSession) {
  Harness h;
  EchoDevice* dev = h.add("u");
  h.add("v");
  h.connect_and_offer();
  ASSERT_TRUE(h.guest.open(1, 2, 2));
  ASSERT_TRUE(h.mgr.rescind(2));
  ASSERT_TRUE(h.guest.pump());
  ASSERT_TRUE(h.guest.unload());
  ASSERT_EQ(dev->closes.size(), 1u);
  EXPECT_EQ(dev->closes[0], "the guest unloaded VMBus");
  EXPECT_FALSE(h.mgr.negotiated_version());
  EXPECT_EQ(h.state(1), "pending");
  EXPECT_EQ(h.state(2), "rescinded");
  EXPECT_EQ(h.mgr.unloads(), 1u);
  EXPECT_EQ(h.mgr.contacts_accepted(), 1u);
  h.connect_and_offer();
  EXPECT_EQ(h.mgr.contacts_accepted(), 2u);
  EXPECT_EQ(h.guest.offers().size(), 1u) << "a rescinded channel stays gone";
  auto c = h.guest.open(1, 2, 2);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(h.roundtrip(**c, "fresh"), "fresh");
}

TEST(Lifecycle, GuestResetForgetsTheSession) {
  Harness h;
  EchoDevice* dev = h.add("x");
  h.connect_and_offer();
  ASSERT_TRUE(h.guest.open(1, 2, 2));
  ASSERT_TRUE(h.guest.reset());
  ASSERT_EQ(dev->closes.size(), 1u);
  EXPECT_EQ(dev->closes[0], "the guest was reset");
  EXPECT_FALSE(h.mgr.negotiated_version());
  EXPECT_EQ(h.state(1), "pending");
  EXPECT_EQ(h.mgr.resets(), 1u);
  EXPECT_EQ(h.mgr.unloads(), 0u);
  // The reset dropped the transport's registrations; the manager makes them again.
  EXPECT_EQ(h.t.message_connections(), (std::set<std::uint32_t>{1, 4}));
  EXPECT_TRUE(h.t.event_connections().empty());
  h.connect_and_offer();
  EXPECT_EQ(h.mgr.contacts_accepted(), 2u);
  EXPECT_EQ(h.t.event_connections(), (std::set<std::uint32_t>{0x11}));
  auto c = h.guest.open(1, 2, 2);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(h.roundtrip(**c, "after reset"), "after reset");
}

TEST(Lifecycle, ANewInitiateContactDropsTheOldSession) {
  Harness h;
  EchoDevice* dev = h.add("k");
  h.connect_and_offer();
  ASSERT_TRUE(h.guest.open(1, 2, 2));
  // kexec without unload: the new kernel just connects.
  auto v = h.guest.connect();
  ASSERT_TRUE(v);
  EXPECT_TRUE(h.logged("initiate_contact while connected"));
  EXPECT_EQ(dev->closes.size(), 1u);
}

// ---------------------------------------------------------------------------
// Malformed guest input: logged, and the host keeps serving.

class Malformed : public ::testing::Test {
 protected:
  void SetUp() override {
    h.add("good");
    h.add("victim");
    h.connect_and_offer();
    auto c = h.guest.open(1, 2, 2);
    ASSERT_TRUE(c) << c.message();
    good = *c;
  }
  // The rejection was logged and channel 1 still echoes.
  void expect_logged_and_serving(const std::string& needle) {
    ASSERT_TRUE(h.guest.pump());
    EXPECT_TRUE(h.logged(needle)) << "no log line with '" << needle
                                  << "'; last: " << (h.logs.empty() ? "" : h.logs.back());
    EXPECT_EQ(h.roundtrip(*good, "still here"), "still here");
  }
  proto::Bytes raw(const proto::ChannelMessage& m) { return proto::encode(m, VmbusVersion::win10_v5_3); }

  Harness h;
  GuestChannel* good = nullptr;
};

TEST_F(Malformed, MessagesThatDoNotDecode) {
  proto::Bytes open = raw(proto::OpenChannel{2, 2, 0, 0, 2, {}});
  open.resize(20);
  ASSERT_EQ(h.guest.post_raw(1, open), proto::HvStatus::success);
  expect_logged_and_serving("rejected guest message (20 bytes on connection 1): open_channel");
  const proto::Bytes unknown{std::byte{99}, {}, {}, {}, {}, {}, {}, {}};
  ASSERT_EQ(h.guest.post_raw(1, unknown), proto::HvStatus::success);
  expect_logged_and_serving("channel_message.msgtype: unknown_type");
  ASSERT_EQ(h.t.guest_post_message(0, 1, 7, raw(proto::RequestOffers{})), proto::HvStatus::success);
  expect_logged_and_serving("SynIC message of type 0x7");
  EXPECT_EQ(h.t.guest_post_message(0, 1, 1, proto::Bytes(241)), proto::HvStatus::invalid_parameter);
  EXPECT_EQ(h.t.guest_post_message(0, 9, 1, raw(proto::RequestOffers{})),
            proto::HvStatus::invalid_connection_id);
}

TEST_F(Malformed, HostToGuestTypesAndHvSock) {
  proto::OfferChannel o;
  ASSERT_EQ(h.guest.post(o), proto::HvStatus::success);
  expect_logged_and_serving("a host-to-guest message type sent by the guest");
  ASSERT_EQ(h.guest.post(proto::TlConnectRequest{}), proto::HvStatus::success);
  expect_logged_and_serving("no hv_sock services");
}

TEST_F(Malformed, Gpadls) {
  // Unknown channel: GPADL_CREATED with a failure status.
  auto pages = h.guest.alloc_pages(2);
  ASSERT_TRUE(pages);
  EXPECT_FALSE(h.guest.create_gpadl(42, *pages));
  expect_logged_and_serving("for relid 42: no such channel");
  // A PFN beyond guest RAM.
  const std::array<std::uint64_t, 2> outside{(*pages)[0], 0x123456};
  EXPECT_FALSE(h.guest.create_gpadl(2, outside));
  expect_logged_and_serving("PFN 0x123456 is not guest RAM");
  // A body nobody announced, and a header whose range_buflen is inconsistent.
  proto::GpadlBody body;
  body.gpadl = 0x5555;
  (void)body.pfns.push_back(1);
  ASSERT_EQ(h.guest.post(body), proto::HvStatus::success);
  expect_logged_and_serving("gpadl_body for 0x5555: no GPADL of that handle is being assembled");
  proto::GpadlHeader hdr;
  hdr.child_relid = 2;
  hdr.gpadl = 0x6666;
  hdr.rangecount = 1;
  hdr.range_buflen = 13;
  hdr.byte_count = 4096;
  (void)hdr.pfns.push_back((*pages)[0]);
  ASSERT_EQ(h.guest.post(hdr), proto::HvStatus::success);
  expect_logged_and_serving("gpadl_header.range_buflen");
  EXPECT_FALSE(h.guest.gpadl_status(0x6666)) << "an undecodable header names no GPADL to answer";
  // A header announcing more than bodies deliver, then a body for another handle.
  hdr.gpadl = 0x7777;
  hdr.range_buflen = 8 + 8 * 30;
  hdr.byte_count = 30 * 4096;
  ASSERT_EQ(h.guest.post(hdr), proto::HvStatus::success);
  ASSERT_TRUE(h.guest.pump());
  EXPECT_FALSE(h.guest.gpadl_status(0x7777));
  // Duplicate handle while the first is still assembling: ignored.
  ASSERT_EQ(h.guest.post(hdr), proto::HvStatus::success);
  expect_logged_and_serving("the handle is already in use");
  // Bodies delivering more PFNs than announced: dropped, answered with a failure.
  proto::GpadlBody b2;
  b2.gpadl = 0x7777;
  for (int i = 0; i < 28; ++i) (void)b2.pfns.push_back((*pages)[0]);
  ASSERT_EQ(h.guest.post(b2), proto::HvStatus::success);
  ASSERT_TRUE(h.guest.pump());
  EXPECT_FALSE(h.guest.gpadl_status(0x7777));
  b2.pfns.clear();
  (void)b2.pfns.push_back(1);
  (void)b2.pfns.push_back(1);
  ASSERT_EQ(h.guest.post(b2), proto::HvStatus::success);
  expect_logged_and_serving("gpadl_body for 0x7777: gpadl_body.pfn: bad_length");
  EXPECT_EQ(h.guest.gpadl_status(0x7777), std::optional<std::uint32_t>(0xC0000001));
  // Teardown of the ring GPADL of an open channel.
  ASSERT_EQ(h.guest.post(proto::GpadlTeardown{1, good->gpadl()}), proto::HvStatus::success);
  expect_logged_and_serving("still holds the rings of open channel 1");
  EXPECT_FALSE(h.guest.torn_down(good->gpadl()));
  // Teardown of an unknown GPADL, and of one under another relid.
  ASSERT_EQ(h.guest.post(proto::GpadlTeardown{2, 0x9999}), proto::HvStatus::success);
  expect_logged_and_serving("gpadl_teardown 0x9999 for relid 2: no such GPADL");
  auto g = h.guest.create_gpadl(2, *pages);
  ASSERT_TRUE(g) << g.message();
  ASSERT_EQ(h.guest.post(proto::GpadlTeardown{1, *g}), proto::HvStatus::success);
  expect_logged_and_serving("the GPADL belongs to relid 2");
  EXPECT_TRUE(h.guest.teardown_gpadl(2, *g));
}

TEST_F(Malformed, OpenChannel) {
  auto pages = h.guest.alloc_pages(4);
  ASSERT_TRUE(pages);
  auto g = h.guest.create_gpadl(2, *pages);
  ASSERT_TRUE(g);
  auto open = [&](std::uint32_t relid, std::uint32_t gpadl, std::uint32_t offset) {
    proto::OpenChannel o;
    o.child_relid = relid;
    o.open_id = 77;
    o.ringbuffer_gpadl = gpadl;
    o.downstream_ringbuffer_page_offset = offset;
    ASSERT_EQ(h.guest.post(o), proto::HvStatus::success);
  };
  open(2, 0xdead, 2);
  expect_logged_and_serving("gpadl 0xdead offset 2: no such GPADL");
  EXPECT_EQ(h.guest.open_status(2), std::optional<std::uint32_t>(0xC0000001));
  open(2, *g, 1);
  expect_logged_and_serving("leaves a ring without a header and a data page");
  open(2, *g, 3);
  expect_logged_and_serving("leaves a ring without a header and a data page");
  open(1, *g, 2);
  expect_logged_and_serving("the channel is open");
  open(9, *g, 2);
  expect_logged_and_serving("open_channel relid 9");
  open(2, good->gpadl(), 2);
  expect_logged_and_serving("the GPADL belongs to relid 1");
  EXPECT_EQ(h.state(2), "offered");
  open(2, *g, 2);  // and now properly
  ASSERT_TRUE(h.guest.pump());
  EXPECT_EQ(h.state(2), "open");
}

TEST_F(Malformed, CloseReleaseAndMessagesBeforeContact) {
  ASSERT_EQ(h.guest.post(proto::CloseChannel{2}), proto::HvStatus::success);
  expect_logged_and_serving("close_channel for channel 2 (victim): the channel is offered");
  ASSERT_EQ(h.guest.post(proto::CloseChannel{50}), proto::HvStatus::success);
  expect_logged_and_serving("close_channel relid 50: no such channel");
  ASSERT_EQ(h.guest.post(proto::RelidReleased{2}), proto::HvStatus::success);
  expect_logged_and_serving("relid_released 2: the channel is offered, not rescinded");
  ASSERT_EQ(h.t.guest_signal_event(0, 0x12), proto::HvStatus::success);
  expect_logged_and_serving("signal on channel 2 (victim): the channel is offered, not open");

  Harness fresh;
  ASSERT_EQ(fresh.guest.post(proto::RequestOffers{}), proto::HvStatus::success);
  ASSERT_TRUE(fresh.guest.pump());
  EXPECT_TRUE(fresh.logged("no INITIATE_CONTACT has been accepted yet"));
}

TEST_F(Malformed, RingPackets) {
  auto c = h.guest.open(2, 2, 2);
  ASSERT_TRUE(c);
  GuestChannel& victim = **c;
  // A device refusing a packet: logged, the next packet is served.
  EXPECT_EQ(h.roundtrip(victim, "bad packet"), "");
  EXPECT_TRUE(h.logged("channel 2 (victim): echo: refused a packet"));
  EXPECT_EQ(h.roundtrip(victim, "fine"), "fine");
  // A descriptor whose offset8 is below the descriptor itself.
  proto::PacketDescriptor d{6, 1, 3, 0, 5};
  const auto desc = proto::encode_descriptor(d);
  const proto::Bytes pad(8);
  const std::array<proto::ByteSpan, 2> parts{proto::ByteSpan(desc), proto::ByteSpan(pad)};
  // RingView refuses to write it, so write the bytes by hand.
  std::span<std::byte> data = victim.outbound().data();
  const std::uint32_t w = victim.outbound().write_index();
  std::memcpy(data.data() + w, desc.data(), desc.size());
  std::memset(data.data() + w + 16, 0, 16);
  victim.outbound().set_write_index(w + 32);
  (void)parts;
  ASSERT_EQ(h.t.guest_signal_event(0, 0x12), proto::HvStatus::success);
  expect_logged_and_serving("channel 2: guest->host ring: packet.offset8");
  EXPECT_NE(h.mgr.channel(2)->error.find("packet.offset8"), std::string::npos);
  // A corrupt write index on the victim: logged once per distinct error.
  victim.outbound().set_write_index(3);
  ASSERT_EQ(h.t.guest_signal_event(0, 0x12), proto::HvStatus::success);
  expect_logged_and_serving("ring.write_index");
  const std::size_t n = h.logs.size();
  ASSERT_EQ(h.t.guest_signal_event(0, 0x12), proto::HvStatus::success);
  ASSERT_TRUE(h.guest.pump());
  EXPECT_EQ(h.logs.size(), n);
  // The guest closes the broken channel; the host tears it down normally.
  ASSERT_TRUE(h.guest.close(2));
  EXPECT_EQ(h.state(2), "closed");
}

// ---------------------------------------------------------------------------
// IC answers from the model

class IcProbe final : public host::Device {
 public:
  IcProbe() {
    id_.name = "heartbeat";
    id_.class_id = proto::Guid::from_string("57164f39-9115-4e78-ab55-382f3bd5422d");
    id_.instance_id = proto::Guid::from_string("57164f39-9115-4e78-ab55-382f3bd5422e");
  }
  const host::DeviceIdentity& identity() const override { return id_; }
  void on_open(host::ChannelIo& io) override {
    io_ = &io;
    auto offer =
        proto::host_negotiate_offer(proto::kLinuxUtilFrameworkVersions, proto::kLinuxHeartbeatVersions);
    EXPECT_TRUE(offer);
    EXPECT_TRUE(io.send_inband(*offer, 1, true));
  }
  Status on_packet(const proto::PacketView& p) override {
    answers.emplace_back(p.payload.begin(), p.payload.end());
    return {};
  }
  void on_close(const std::string&) override { io_ = nullptr; }
  host::ChannelIo* io_ = nullptr;
  std::vector<proto::Bytes> answers;

 private:
  host::DeviceIdentity id_;
};

TEST(IcModel, NegotiatesAndAnswersHeartbeatsLikeLinux) {
  Harness h;
  auto probe = std::make_unique<IcProbe>();
  IcProbe* p = probe.get();
  const std::uint32_t relid = h.mgr.add_device(std::move(probe));
  h.connect_and_offer();
  auto c = h.guest.open(relid, 2, 2);
  ASSERT_TRUE(c);
  ASSERT_TRUE(h.guest.act_as_linux_ic(relid, guest_model::IcService::heartbeat));
  ASSERT_EQ(p->answers.size(), 1u);
  auto msg = proto::decode_ic_message(p->answers[0]);
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->header.icflags, proto::kIcFlagsGuestResponse);
  auto resp = proto::decode_ic_negotiate_response(msg->body);
  ASSERT_TRUE(resp);
  EXPECT_TRUE(resp->accepted());
  EXPECT_EQ(resp->framework, (proto::IcVersion{3, 0}));
  EXPECT_EQ(resp->message, (proto::IcVersion{3, 0}));

  proto::Bytes body;
  proto::ByteWriter w(body);
  proto::encode(proto::HeartbeatMsg{41, {}}, w);
  const proto::Bytes hb = proto::encode_ic_message(
      proto::make_ic_request_header(proto::IcMsgType::heartbeat, {3, 0}, {3, 0}), body);
  ASSERT_TRUE(p->io_->send_inband(hb, 2, true));
  ASSERT_TRUE(h.guest.pump());
  ASSERT_EQ(p->answers.size(), 2u);
  auto m2 = proto::decode_ic_message(p->answers[1]);
  ASSERT_TRUE(m2);
  auto beat = proto::decode_heartbeat(m2->body);
  ASSERT_TRUE(beat);
  EXPECT_EQ(beat->seq_num, 42u);
  EXPECT_EQ(h.guest.ic_exchanges().size(), 2u);
}

}  // namespace
}  // namespace vmbh
