// The six real IC devices behind the channel manager, driven end to end by
// the model Linux guest over the loopback transport: offers, GPADLs, rings,
// version negotiation, requests and answers, rescind/re-offer and malformed
// guest packets. KVP, VSS and fcopy service messages are answered by the
// daemons' part here (IcDaemon), built on the protocols/ codecs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vmbh/guest_model/vmbus_guest.h"
#include "vmbh/host/channel_manager.h"
#include "vmbh/host/class_ids.h"
#include "vmbh/host/fcopy_device.h"
#include "vmbh/host/heartbeat_device.h"
#include "vmbh/host/kvp_device.h"
#include "vmbh/host/loopback_transport.h"
#include "vmbh/host/shutdown_device.h"
#include "vmbh/host/timesync_device.h"
#include "vmbh/host/vss_device.h"
#include "vmbh/protocols/fcopy.h"
#include "vmbh/protocols/ic.h"
#include "vmbh/protocols/kvp.h"
#include "vmbh/protocols/packet.h"
#include "vmbh/protocols/vss.h"

namespace vmbh {
namespace {

using namespace std::chrono_literals;
using guest_model::GuestChannel;
using guest_model::IcService;
using guest_model::VmbusGuest;
using host::Clock;
using host::Status;
using proto::IcVersion;

constexpr std::size_t kIcStatusOffset = proto::kIcPipeHeaderSize + 12;

void set_status(std::span<std::byte> packet, std::uint32_t status) {
  proto::store_u32(packet, kIcStatusOffset, status);
}

// A completed Done<T>, kept for the assertions.
template <class T>
struct Outcome {
  std::optional<host::Result<T>> result;
  host::Done<T> capture() {
    return [this](host::Result<T> r) { result.emplace(std::move(r)); };
  }
  bool ok() const { return result && result->ok(); }
  std::string message() const { return result ? (result->ok() ? "ok" : result->message()) : "not done"; }
};

// hv_kvp_daemon: pools of strings; GET of a missing key and DELETE of one
// fail with E_FAIL, ENUMERATE past the end answers HV_S_CONT.
struct KvpDaemon {
  bool answer(std::span<std::byte> p) {
    ++requests;
    auto m = proto::decode_ic_message(p);
    if (!m) return false;
    auto req = proto::decode_kvp(m->body);
    if (!req) return false;
    std::uint32_t status = proto::kHvSOk;
    proto::KvpMessage out = *req;
    if (auto* g = std::get_if<proto::KvpGet>(&out)) {
      auto& pool = pools[static_cast<int>(g->pool)];
      auto it = pool.find(g->key);
      if (it == pool.end()) {
        status = proto::kHvEFail;
      } else {
        g->value = proto::KvpValue::string(it->second);
      }
    } else if (auto* s = std::get_if<proto::KvpSet>(&out)) {
      pools[static_cast<int>(s->pool)][s->key] = s->value.text;
    } else if (auto* d = std::get_if<proto::KvpDelete>(&out)) {
      if (pools[static_cast<int>(d->pool)].erase(d->key) == 0) status = proto::kHvEFail;
    } else if (auto* e = std::get_if<proto::KvpEnumerate>(&out)) {
      auto& pool = pools[static_cast<int>(e->pool)];
      if (e->index >= pool.size()) {
        status = proto::kHvSCont;
      } else {
        auto it = std::next(pool.begin(), e->index);
        e->entry = proto::KvpEntry{it->first, proto::KvpValue::string(it->second)};
      }
    } else {
      status = proto::kHvEFail;  // no IP configuration in this guest
    }
    if (status == proto::kHvSOk) {
      auto body = proto::encode_kvp(out);
      if (!body || body->size() != m->body.size()) return false;
      std::copy(body->begin(), body->end(), p.begin() + proto::kIcMessageHeaderSize);
    }
    set_status(p, status);
    return true;
  }
  std::map<int, std::map<std::string, std::string>> pools;
  int requests = 0;
};

// hv_vss_daemon behind hv_snapshot: the daemon succeeds; the kernel fills in
// the answer body and status (protocols' model of hv_snapshot.c).
struct VssDaemon {
  bool answer(std::span<std::byte> p) {
    auto m = proto::decode_ic_message(p);
    if (!m) return false;
    auto req = proto::decode_vss(m->body);
    if (!req) return false;
    ops.push_back(req->op);
    const proto::Bytes body = proto::encode_vss(proto::vss_linux_answer(*req));
    if (body.size() != m->body.size()) return false;
    std::copy(body.begin(), body.end(), p.begin() + proto::kIcMessageHeaderSize);
    set_status(p, proto::vss_linux_answer_status(req->op, true, 0));
    return true;
  }
  std::vector<proto::VssOp> ops;
};

// hv_fcopy_daemon: one file in memory.
struct FcopyDaemon {
  bool answer(std::span<std::byte> p) {
    auto m = proto::decode_ic_message(p);
    if (!m) return false;
    auto req = proto::decode_fcopy(m->body);
    std::uint32_t status = proto::kHvSOk;
    if (!req) {
      status = proto::kHvEFail;
    } else if (const auto* s = std::get_if<proto::FcopyStart>(&*req)) {
      name = s->path_name + "/" + s->file_name;
      size = s->file_size;
      data.clear();
    } else if (const auto* w = std::get_if<proto::FcopyWrite>(&*req)) {
      if (w->offset != data.size()) status = proto::kHvEFail;
      data.insert(data.end(), w->data.begin(), w->data.end());
    } else if (std::holds_alternative<proto::FcopyComplete>(*req)) {
      ++completed;
    }
    set_status(p, status);
    return true;
  }
  std::string name;
  std::uint64_t size = 0;
  proto::Bytes data;
  int completed = 0;
};

class IcLoopback : public ::testing::Test {
 protected:
  IcLoopback() : t(make_transport()), mgr(t, options()), guest(t) {}

  static host::LoopbackTransport make_transport() {
    auto r = host::LoopbackTransport::create({.ram_size = std::uint64_t{16} * 1024 * 1024, .vp_count = 4});
    EXPECT_TRUE(r) << r.message();
    return std::move(r).value();
  }
  host::ChannelManagerOptions options() {
    host::ChannelManagerOptions o;
    o.log = [this](const std::string& line) { logs.push_back(line); };
    return o;
  }

  void SetUp() override {
    ASSERT_TRUE(mgr.start());
    host::HeartbeatOptions hb;
    hb.period = 1s;
    heartbeat = add(std::make_unique<host::HeartbeatDevice>(hb));
    shutdown = add(std::make_unique<host::ShutdownDevice>());
    host::TimesyncOptions ts;
    ts.host_clock = [] { return std::uint64_t{133'000'000'000'000'000}; };
    ts.reference_clock = [] { return std::uint64_t{5'000'000}; };
    timesync = add(std::make_unique<host::TimesyncDevice>(ts));
    kvp = add(std::make_unique<host::KvpDevice>());
    vss = add(std::make_unique<host::VssDevice>());
    fcopy = add(std::make_unique<host::FcopyDevice>());
    ASSERT_TRUE(guest.connect());
    ASSERT_TRUE(guest.request_offers());
    ASSERT_EQ(guest.offers().size(), 6u);
    guest.set_ic_daemon(relid(kvp), [this](std::span<std::byte> p) { return kvp_daemon.answer(p); });
    guest.set_ic_daemon(relid(vss), [this](std::span<std::byte> p) { return vss_daemon.answer(p); });
    guest.set_ic_daemon(relid(fcopy), [this](std::span<std::byte> p) { return fcopy_daemon.answer(p); });
    for (auto& [dev, svc] : services) open(dev, svc);
  }

  template <class D>
  D* add(std::unique_ptr<D> d) {
    D* raw = d.get();
    raw->set_clock([this] { return now; });
    const std::uint32_t r = mgr.add_device(std::move(d));
    EXPECT_NE(r, 0u);
    relids[raw] = r;
    services.emplace_back(raw, service_of(r));
    return raw;
  }
  static IcService service_of(std::uint32_t relid) {
    // Devices are added in IcService order, relids from 1.
    return static_cast<IcService>(relid - 1);
  }
  std::uint32_t relid(const host::IcDevice* d) const { return relids.at(d); }

  // Opens the device's channel in the guest and lets the driver answer.
  void open(host::IcDevice* d, IcService svc) {
    auto c = guest.open(relid(d), 4, 4);
    ASSERT_TRUE(c) << d->identity().name << ": " << c.message();
    ASSERT_TRUE(guest.act_as_linux_ic(relid(d), svc));
  }
  void reopen(host::IcDevice* d) {
    ASSERT_TRUE(guest.close(relid(d)));
    open(d, service_of(relid(d)));
  }
  void pump() { ASSERT_TRUE(guest.pump()); }
  void advance(Clock::duration by) {
    now += by;
    mgr.tick(now);
    pump();
  }
  bool logged(const std::string& needle) const {
    return std::any_of(logs.begin(), logs.end(),
                       [&](const std::string& l) { return l.find(needle) != std::string::npos; });
  }
  // Everything still answers: a heartbeat and a KVP round trip.
  void expect_serving(const std::string& context) {
    Outcome<host::HeartbeatSample> beat;
    heartbeat->beat(beat.capture());
    pump();
    EXPECT_TRUE(beat.ok()) << context << ": " << beat.message();
    Outcome<host::KvpResult> set;
    kvp->set(proto::KvpPool::automatic, "alive", proto::KvpValue::string(context), set.capture());
    pump();
    ASSERT_TRUE(set.ok()) << context << ": " << set.message();
    EXPECT_EQ(set.result->value().status, proto::kHvSOk) << context;
  }

  std::vector<std::string> logs;
  host::LoopbackTransport t;
  host::ChannelManager mgr;
  VmbusGuest guest;
  Clock::time_point now = Clock::time_point{} + 1000h;
  std::map<const host::IcDevice*, std::uint32_t> relids;
  std::vector<std::pair<host::IcDevice*, IcService>> services;
  host::HeartbeatDevice* heartbeat = nullptr;
  host::ShutdownDevice* shutdown = nullptr;
  host::TimesyncDevice* timesync = nullptr;
  host::KvpDevice* kvp = nullptr;
  host::VssDevice* vss = nullptr;
  host::FcopyDevice* fcopy = nullptr;
  KvpDaemon kvp_daemon;
  VssDaemon vss_daemon;
  FcopyDaemon fcopy_daemon;
};

TEST_F(IcLoopback, EveryChannelOpensAndNegotiatesLinuxsNewestVersions) {
  const std::map<std::string, IcVersion> want{{"heartbeat", {3, 0}}, {"shutdown", {3, 2}},
                                              {"timesync", {4, 0}},  {"kvp", {4, 0}},
                                              {"vss", {5, 0}},       {"fcopy", {1, 1}}};
  for (auto& [dev, svc] : services) {
    const std::string& name = dev->identity().name;
    EXPECT_EQ(mgr.channel(relid(dev))->state, "open") << name;
    ASSERT_TRUE(dev->ready()) << name << ": " << dev->failure();
    EXPECT_EQ(dev->framework_version(), (IcVersion{3, 0})) << name;
    EXPECT_EQ(dev->message_version(), want.at(name)) << name;
  }
  EXPECT_TRUE(timesync->uses_ref_layout());
  EXPECT_EQ(guest.ic_exchanges().size(), 6u);
  for (const auto& ex : guest.ic_exchanges()) EXPECT_TRUE(ex.answer) << "relid " << ex.relid;
  EXPECT_TRUE(guest.bad_messages().empty()) << guest.bad_messages().front();
}

// What Linux picks: its own list in order (newest first), the first version
// the host also offered; nothing if none.
std::optional<IcVersion> linux_pick(std::span<const IcVersion> linux_list,
                                    const std::vector<IcVersion>& host) {
  for (IcVersion v : linux_list) {
    if (std::find(host.begin(), host.end(), v) != host.end()) return v;
  }
  return std::nullopt;
}

TEST_F(IcLoopback, NegotiationMatrixAgainstOlderHosts) {
  struct Case {
    host::IcDevice* dev;
    std::span<const IcVersion> linux_fw;
    std::span<const IcVersion> linux_msg;
    std::vector<std::vector<IcVersion>> host_msg;
  };
  const std::vector<Case> cases{
      {heartbeat,
       proto::kLinuxUtilFrameworkVersions,
       proto::kLinuxHeartbeatVersions,
       {{{1, 0}}, {{3, 0}}, {{1, 0}, {3, 0}}, {{2, 0}}}},
      {shutdown,
       proto::kLinuxUtilFrameworkVersions,
       proto::kLinuxShutdownVersions,
       {{{1, 0}}, {{3, 0}}, {{3, 1}, {1, 0}}, {{3, 0}, {3, 2}}, {{4, 0}}}},
      {timesync,
       proto::kLinuxUtilFrameworkVersions,
       proto::kLinuxTimesyncVersions,
       {{{1, 0}}, {{3, 0}}, {{3, 0}, {1, 0}}, {{2, 0}}}},
      {kvp,
       proto::kLinuxUtilFrameworkVersions,
       proto::kLinuxKvpVersions,
       {{{1, 0}}, {{3, 0}}, {{1, 0}, {3, 0}, {4, 0}}, {{5, 0}}}},
      {vss,
       proto::kLinuxVssFcopyFrameworkVersions,
       proto::kLinuxVssVersions,
       {{{5, 0}}, {{4, 0}}, {{4, 0}, {5, 0}}}},
      {fcopy, proto::kLinuxVssFcopyFrameworkVersions, proto::kLinuxFcopyVersions, {{{1, 1}}, {{1, 0}}}},
  };
  const std::vector<std::vector<IcVersion>> host_fw{{{1, 0}}, {{3, 0}}, {{3, 0}, {1, 0}}};
  int ran = 0;
  for (const Case& c : cases) {
    for (const auto& fw : host_fw) {
      for (const auto& msg : c.host_msg) {
        const std::string what = c.dev->identity().name + " host fw " + host::to_string(fw[0]) +
                                 (fw.size() > 1 ? "+" : "") + " msg " + host::to_string(msg[0]) +
                                 (msg.size() > 1 ? "+" : "");
        c.dev->set_offered_versions(fw, msg);
        reopen(c.dev);
        ++ran;
        const auto pf = linux_pick(c.linux_fw, fw);
        const auto pm = linux_pick(c.linux_msg, msg);
        if (!pf || !pm) {
          EXPECT_EQ(c.dev->state(), host::IcState::failed) << what;
          EXPECT_FALSE(c.dev->failure().empty()) << what;
          continue;
        }
        ASSERT_TRUE(c.dev->ready()) << what << ": " << c.dev->failure();
        EXPECT_EQ(c.dev->framework_version(), *pf) << what;
        EXPECT_EQ(c.dev->message_version(), *pm) << what;
        // The negotiated version carries requests (layouts differ by version).
        if (c.dev == heartbeat) {
          Outcome<host::HeartbeatSample> b;
          heartbeat->beat(b.capture());
          pump();
          EXPECT_TRUE(b.ok()) << what << ": " << b.message();
        } else if (c.dev == timesync) {
          Outcome<host::TimesyncResult> s;
          timesync->sync(s.capture());
          pump();
          ASSERT_TRUE(s.ok()) << what << ": " << s.message();
          EXPECT_EQ(s.result->value().status, proto::kHvSOk) << what;
          EXPECT_EQ(s.result->value().ref_layout, *pm == (IcVersion{4, 0})) << what;
        } else if (c.dev == shutdown) {
          Outcome<std::uint32_t> s;
          shutdown->reboot(false, s.capture());
          pump();
          ASSERT_TRUE(s.ok()) << what << ": " << s.message();
          EXPECT_EQ(s.result->value(), proto::kHvSOk) << what;
        }
      }
    }
  }
  EXPECT_EQ(ran, 3 * (4 + 5 + 4 + 4 + 3 + 2));
}

TEST_F(IcLoopback, HeartbeatSequenceIncreasesEveryPeriod) {
  for (int i = 0; i < 6; ++i) advance(1s);
  const auto& h = heartbeat->history();
  ASSERT_GE(h.size(), 5u);
  for (std::size_t i = 0; i < h.size(); ++i) {
    EXPECT_TRUE(h[i].error.empty()) << h[i].error;
    ASSERT_TRUE(h[i].received);
    EXPECT_EQ(*h[i].received, h[i].sent + 1);
    if (i > 0) {
      EXPECT_EQ(h[i].sent, h[i - 1].sent + 1);
    }
  }
  EXPECT_EQ(heartbeat->count(), h.size());
  EXPECT_EQ(heartbeat->missed(), 0u);
  EXPECT_EQ(heartbeat->last_sequence(), h.back().sent + 1);
  // Half a period later: no extra beat.
  const std::size_t n = h.size();
  advance(500ms);
  EXPECT_EQ(heartbeat->history().size(), n);
}

TEST_F(IcLoopback, RequestsAreAnsweredThroughTheWholeStack) {
  // KVP: SET, GET, ENUMERATE to the end, GET of a missing key.
  Outcome<host::KvpResult> set;
  kvp->set(proto::KvpPool::external, "HostName", proto::KvpValue::string("vmbh-host"), set.capture());
  Outcome<host::KvpResult> get;
  kvp->get(proto::KvpPool::external, "HostName", get.capture());  // queued behind the SET
  pump();
  ASSERT_TRUE(set.ok()) << set.message();
  EXPECT_EQ(set.result->value().status, proto::kHvSOk);
  ASSERT_TRUE(get.ok()) << get.message();
  ASSERT_TRUE(get.result->value().value);
  EXPECT_EQ(get.result->value().value->text, "vmbh-host");
  EXPECT_EQ(kvp_daemon.pools[static_cast<int>(proto::KvpPool::external)].at("HostName"), "vmbh-host");
  Outcome<std::vector<proto::KvpEntry>> all;
  kvp->enumerate_all(proto::KvpPool::external, all.capture());
  pump();
  ASSERT_TRUE(all.ok()) << all.message();
  ASSERT_EQ(all.result->value().size(), 1u);
  EXPECT_EQ(all.result->value()[0].key, "HostName");
  Outcome<host::KvpResult> missing;
  kvp->get(proto::KvpPool::guest, "nope", missing.capture());
  pump();
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing.result->value().status, proto::kHvEFail);

  // Shutdown: Linux accepts reboot, refuses flags outside 0..5.
  Outcome<std::uint32_t> reboot;
  shutdown->reboot(true, reboot.capture());
  Outcome<std::uint32_t> bad;
  shutdown->request(host::ShutdownParams{.flags = 7}, bad.capture());
  pump();
  ASSERT_TRUE(reboot.ok()) << reboot.message();
  EXPECT_EQ(reboot.result->value(), proto::kHvSOk);
  ASSERT_TRUE(bad.ok()) << bad.message();
  EXPECT_EQ(bad.result->value(), proto::kHvEFail);

  // Timesync: SYNC and SAMPLE in the 4.0 layout.
  Outcome<host::TimesyncResult> sync;
  timesync->sync(sync.capture());
  Outcome<host::TimesyncResult> sample;
  timesync->sample(sample.capture());
  pump();
  ASSERT_TRUE(sync.ok()) << sync.message();
  EXPECT_TRUE(sync.result->value().ref_layout);
  EXPECT_EQ(sync.result->value().parenttime, 133'000'000'000'000'000u);
  ASSERT_TRUE(sample.ok()) << sample.message();

  // VSS: the feature check, then freeze and thaw.
  Outcome<host::VssResult> hbu;
  vss->hot_backup(hbu.capture());
  Outcome<host::VssResult> freeze;
  vss->freeze(freeze.capture());
  Outcome<host::VssResult> thaw;
  vss->thaw(thaw.capture());
  pump();
  ASSERT_TRUE(hbu.ok()) << hbu.message();
  EXPECT_EQ(hbu.result->value().flags, proto::kVssHbuNoAutoRecovery);
  ASSERT_TRUE(freeze.ok() && thaw.ok()) << freeze.message() << " / " << thaw.message();
  EXPECT_TRUE(freeze.result->value().ok());
  EXPECT_TRUE(thaw.result->value().ok());
  EXPECT_EQ(vss_daemon.ops,
            (std::vector<proto::VssOp>{proto::VssOp::hot_backup, proto::VssOp::freeze, proto::VssOp::thaw}));

  // fcopy: a file over three WRITE fragments.
  proto::Bytes file(15000);
  for (std::size_t i = 0; i < file.size(); ++i) file[i] = static_cast<std::byte>(i * 7 + 3);
  std::optional<Status> copied;
  fcopy->copy_file("f.bin", "/tmp", proto::kFcopyOverWrite, file, [&](Status s) { copied = std::move(s); });
  pump();
  ASSERT_TRUE(copied);
  EXPECT_TRUE(*copied) << copied->message();
  EXPECT_EQ(fcopy_daemon.name, "/tmp/f.bin");
  EXPECT_EQ(fcopy_daemon.size, file.size());
  EXPECT_EQ(fcopy_daemon.data, file);
  EXPECT_EQ(fcopy_daemon.completed, 1);

  for (auto& [dev, svc] : services) EXPECT_EQ(dev->pending(), 0u) << dev->identity().name;
  EXPECT_TRUE(guest.bad_messages().empty()) << guest.bad_messages().front();
  // Every answer echoed its request's trans_id.
  for (const auto& ex : guest.ic_exchanges()) EXPECT_TRUE(ex.answer) << "relid " << ex.relid;
}

TEST_F(IcLoopback, RescindAndReofferBringsTheDeviceBack) {
  for (host::IcDevice* d : std::vector<host::IcDevice*>{kvp, heartbeat}) {
    const std::uint32_t r = relid(d);
    // A request in flight when the channel goes away fails with the reason.
    guest.set_ic_daemon(relid(kvp), nullptr);
    Outcome<host::KvpResult> lost;
    if (d == kvp) kvp->get(proto::KvpPool::external, "x", lost.capture());
    pump();
    ASSERT_TRUE(mgr.rescind(r));
    pump();
    EXPECT_EQ(mgr.channel(r)->state, "rescinded") << d->identity().name;
    EXPECT_EQ(d->state(), host::IcState::closed);
    EXPECT_EQ(guest.channel(r), nullptr);
    if (d == kvp) {
      ASSERT_TRUE(lost.result);
      EXPECT_NE(lost.message().find("rescinded"), std::string::npos) << lost.message();
    }
    guest.set_ic_daemon(relid(kvp), [this](std::span<std::byte> p) { return kvp_daemon.answer(p); });
    ASSERT_TRUE(mgr.reoffer(r));
    pump();
    EXPECT_EQ(mgr.channel(r)->state, "offered");
    open(d, service_of(r));
    ASSERT_TRUE(d->ready()) << d->failure();
    expect_serving("after re-offer of " + d->identity().name);
  }
  EXPECT_TRUE(guest.bad_messages().empty()) << guest.bad_messages().front();
}

TEST_F(IcLoopback, MalformedPacketsOnOneChannelLeaveTheOthersWorking) {
  GuestChannel* ts = guest.channel(relid(timesync));
  ASSERT_NE(ts, nullptr);
  const std::size_t notes_before = logs.size();
  // Too short for an IC message.
  ASSERT_TRUE(ts->send_inband(proto::Bytes(5), 1));
  pump();
  EXPECT_TRUE(logged("timesync: malformed guest packet"));
  expect_serving("after a short packet");
  // A well-formed IC answer without the response bit, and one matching no request.
  proto::IcHeader h = proto::make_ic_request_header(proto::IcMsgType::timesync, {3, 0}, {4, 0});
  ASSERT_TRUE(ts->send_inband(proto::encode_ic_message(h, proto::Bytes(48)), 2));
  h.icflags = proto::kIcFlagsGuestResponse;
  ASSERT_TRUE(ts->send_inband(proto::encode_ic_message(h, proto::Bytes(48)), 0x4242));
  pump();
  EXPECT_TRUE(logged("without the response bit"));
  EXPECT_TRUE(logged("matches no pending request"));
  // Another packet type.
  auto d = proto::make_descriptor(proto::PacketType::completion, 0, 3, proto::kPacketDescriptorSize, 8);
  ASSERT_TRUE(d);
  const auto desc = proto::encode_descriptor(*d);
  const proto::Bytes body(8);
  const std::array<proto::ByteSpan, 2> parts{proto::ByteSpan(desc), proto::ByteSpan(body)};
  ASSERT_TRUE(ts->send_packet(parts));
  pump();
  EXPECT_TRUE(logged("IC answers are in-band packets"));
  expect_serving("after malformed IC frames");
  EXPECT_TRUE(timesync->ready());
  // The device still answers properly on the same channel.
  Outcome<host::TimesyncResult> ok;
  timesync->sync(ok.capture());
  pump();
  EXPECT_TRUE(ok.ok()) << ok.message();

  // A corrupt write index: the channel stops, the request times out, the rest serve.
  ts->outbound().set_write_index(3);
  ASSERT_EQ(t.guest_signal_event(0, 0x10 + relid(timesync)), proto::HvStatus::success);
  pump();
  EXPECT_NE(mgr.channel(relid(timesync))->error.find("ring.write_index"), std::string::npos)
      << mgr.channel(relid(timesync))->error;
  Outcome<host::TimesyncResult> lost;
  timesync->sync(lost.capture());
  pump();
  expect_serving("with a broken timesync ring");
  advance(6s);
  ASSERT_TRUE(lost.result);
  EXPECT_FALSE(lost.ok());
  EXPECT_NE(lost.message().find("timesync"), std::string::npos) << lost.message();
  // Garbage channel messages in between.
  ASSERT_EQ(guest.post_raw(guest.message_connection_id(), proto::Bytes(16, std::byte{0xee})),
            proto::HvStatus::success);
  pump();
  expect_serving("after a garbage channel message");
  // The guest reopens the channel: timesync works again.
  reopen(timesync);
  ASSERT_TRUE(timesync->ready()) << timesync->failure();
  Outcome<host::TimesyncResult> again;
  timesync->sync(again.capture());
  pump();
  EXPECT_TRUE(again.ok()) << again.message();
  EXPECT_GT(logs.size(), notes_before);
  for (auto& [dev, svc] : services) EXPECT_EQ(mgr.channel(relid(dev))->state, "open") << dev->identity().name;
}

}  // namespace
}  // namespace vmbh
