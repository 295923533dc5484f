// The whole host (ChannelManager + the six IC devices) against a malicious
// guest over the loopback transport. Each input is a sequence of guest
// actions interleaved with host ticks and host operations:
//
//   - channel messages: guest_model's builders with fuzzed fields, and raw
//     bytes with a chosen message type, connection id and SynIC message type;
//   - GPADL header/body sequences (split, dropped, repeated, renumbered);
//   - open/close/release/modify, signals, resets, unload, transport close;
//   - packets written into the guest->host ring of open channels: IC frames
//     with fuzzed fields, mutated copies of the host's own requests answered
//     in place, raw descriptors and raw ring bytes; corrupted ring indices,
//     interrupt_mask, pending_send_sz and feature bits;
//   - host ticks and host operations (KVP, heartbeat, shutdown, timesync,
//     VSS, fcopy, rescind/re-offer, offered IC versions).
//
// The manager, devices and guest model are rebuilt per input; the transport
// and its guest RAM are reused, reset to their initial state (RAM all zero)
// after each input. Every clock is driven by the input, so runs replay
// exactly. Checked: no sanitizer finding, every Done of a host operation is
// called exactly once (device.h; when_negotiated, which waits for an open
// that may never come, at most once), open channels report their rings.
//
// Why FuzzedDataProvider and not a protobuf action grammar: libprotobuf-mutator
// is not packaged in Debian, and FDP keeps the target self-contained and fast
// (no message parsing per input); it also lets seeds be written by hand
// (fuzz/seeds/host_guest_seeds.cc mirrors the consumption order).
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "host_guest_actions.h"
#include "vmbh/guest_model/vmbus_guest.h"
#include "vmbh/host/channel_manager.h"
#include "vmbh/host/fcopy_device.h"
#include "vmbh/host/heartbeat_device.h"
#include "vmbh/host/kvp_device.h"
#include "vmbh/host/loopback_transport.h"
#include "vmbh/host/shutdown_device.h"
#include "vmbh/host/timesync_device.h"
#include "vmbh/host/vss_device.h"
#include "vmbh/protocols/fcopy.h"
#include "vmbh/protocols/gpadl.h"
#include "vmbh/protocols/heartbeat.h"
#include "vmbh/protocols/ic.h"
#include "vmbh/protocols/kvp.h"
#include "vmbh/protocols/packet.h"
#include "vmbh/protocols/vmbus.h"
#include "vmbh/protocols/vss.h"

namespace {

using namespace vmbh;
using namespace std::chrono_literals;
using guest_model::GuestChannel;
using guest_model::IcService;
using guest_model::VmbusGuest;
using host::Clock;
namespace act = fuzz::host_guest;

constexpr std::size_t kIcStatusOffset = proto::kIcPipeHeaderSize + 12;
constexpr std::size_t kIcFlagsOffset = proto::kIcPipeHeaderSize + 17;

// Done callbacks that check they run exactly once.
struct DoneTracker {
  std::uint64_t issued = 0;
  std::uint64_t completed = 0;
  template <class T>
  host::Done<T> make() {
    ++issued;
    auto fired = std::make_shared<bool>(false);
    return [this, fired](host::Result<T>) {
      VMBH_FUZZ_CHECK(!*fired);
      *fired = true;
      ++completed;
    };
  }
  // when_negotiated waits for a channel that may never open: at most once.
  host::DoneStatus at_most_once() {
    auto fired = std::make_shared<bool>(false);
    return [fired](const host::Status&) {
      VMBH_FUZZ_CHECK(!*fired);
      *fired = true;
    };
  }
  host::DoneStatus make_status() {
    ++issued;
    auto fired = std::make_shared<bool>(false);
    return [this, fired](const host::Status&) {
      VMBH_FUZZ_CHECK(!*fired);
      *fired = true;
      ++completed;
    };
  }
};

// How the "daemon" of a KVP/VSS/fcopy channel answers.
struct DaemonMode {
  bool answer = true;
  std::optional<std::uint32_t> status;                         // else: what a working daemon says
  std::optional<std::pair<std::uint16_t, std::uint8_t>> poke;  // byte offset, value
};

class Session {
 public:
  Session(host::LoopbackTransport& t, FuzzedDataProvider& in, guest_model::GuestOptions gopts)
      : t_(t), in_(in), mgr_(t, {}), guest_(t, gopts) {}

  void run() {
    VMBH_FUZZ_CHECK(mgr_.start().ok());
    add_devices();
    prologue();
    for (std::size_t step = 0; step < act::kMaxSteps && in_.remaining_bytes() > 0 && !closed_; ++step) {
      one_action();
      (void)guest_.pump();
    }
    // Every operation ends: answered, failed on close, or timed out.
    for (int i = 0; i < 3; ++i) {
      now_ += 1h;
      mgr_.tick(now_);
      (void)guest_.pump();
    }
    VMBH_FUZZ_CHECK(done_.completed == done_.issued);
    for (const auto& c : mgr_.channels()) {
      if (c.state == "open") {
        VMBH_FUZZ_CHECK(c.ring_gpadl != 0);
        VMBH_FUZZ_CHECK(c.guest_to_host_ring_size >= 4096 && c.host_to_guest_ring_size >= 4096);
      }
    }
  }

 private:
  template <class D>
  D* add(std::unique_ptr<D> d, IcService svc) {
    D* raw = d.get();
    raw->set_clock([this] { return now_; });
    const std::uint32_t relid = mgr_.add_device(std::move(d));
    VMBH_FUZZ_CHECK(relid == static_cast<std::uint32_t>(svc) + 1);
    devices_[static_cast<std::size_t>(svc)] = raw;
    return raw;
  }

  void add_devices() {
    host::HeartbeatOptions hb;
    hb.period = 1s;
    heartbeat_ = add(std::make_unique<host::HeartbeatDevice>(hb), IcService::heartbeat);
    shutdown_ = add(std::make_unique<host::ShutdownDevice>(), IcService::shutdown);
    host::TimesyncOptions ts;
    ts.host_clock = [] { return std::uint64_t{133'000'000'000'000'000}; };
    ts.reference_clock = [] { return std::uint64_t{5'000'000}; };
    ts.period = 5s;  // as vmbh serve runs it: SYNC once ready, then SAMPLEs
    timesync_ = add(std::make_unique<host::TimesyncDevice>(ts), IcService::timesync);
    kvp_ = add(std::make_unique<host::KvpDevice>(), IcService::kvp);
    vss_ = add(std::make_unique<host::VssDevice>(), IcService::vss);
    host::FcopyOptions fo;
    fo.guest = in_.ConsumeBool() ? host::FcopyGuest::uio_daemon : host::FcopyGuest::kernel_driver;
    fcopy_ = add(std::make_unique<host::FcopyDevice>(fo), IcService::fcopy);
    for (IcService s : {IcService::kvp, IcService::vss, IcService::fcopy}) {
      const std::uint32_t relid = static_cast<std::uint32_t>(s) + 1;
      guest_.set_ic_daemon(relid, [this, s](std::span<std::byte> p) { return daemon(s, p); });
    }
  }

  // How far the guest gets before the actions: none, connected, offers
  // received, or every channel open with Linux's drivers answering.
  void prologue() {
    const auto depth = in_.ConsumeIntegralInRange<std::uint8_t>(0, act::kPrologueOpenAll);
    if (depth >= act::kPrologueConnect && !guest_.connect()) return;
    if (depth >= act::kPrologueOffers && !guest_.request_offers()) return;
    if (depth >= act::kPrologueOpenAll) {
      for (std::uint32_t relid = 1; relid <= act::kDevices; ++relid) {
        if (guest_.open(relid, 3, 3)) (void)guest_.act_as_linux_ic(relid, static_cast<IcService>(relid - 1));
      }
    }
  }

  // ---- helpers on the input

  proto::Bytes bytes(std::size_t max) {
    const auto n = in_.ConsumeIntegralInRange<std::size_t>(0, max);
    const std::vector<std::uint8_t> v = in_.ConsumeBytes<std::uint8_t>(n);
    proto::Bytes out(v.size());
    if (!v.empty()) std::memcpy(out.data(), v.data(), v.size());
    return out;
  }
  std::string text(std::size_t max) {
    return in_.ConsumeBytesAsString(in_.ConsumeIntegralInRange<std::size_t>(0, max));
  }
  std::uint32_t relid() {
    const auto k = in_.ConsumeIntegralInRange<std::uint8_t>(0, 9);
    if (k <= 7) return k;  // 1..6 are the devices
    return k == 8 ? in_.ConsumeIntegral<std::uint32_t>() : 2047;
  }
  std::uint32_t vp() {
    const auto k = in_.ConsumeIntegralInRange<std::uint8_t>(0, 5);
    return k == 5 ? in_.ConsumeIntegral<std::uint32_t>() : k;
  }
  std::uint32_t gpadl() {
    switch (in_.ConsumeIntegralInRange<std::uint8_t>(0, 3)) {
      case 0:  // one the guest model created lately
        return guest_.next_gpadl_handle() - 1 - in_.ConsumeIntegralInRange<std::uint32_t>(0, 7);
      case 1:
        if (GuestChannel* c = guest_.channel(relid())) return c->gpadl();
        return 0;
      case 2:
        return act::kRawGpadlBase + in_.ConsumeIntegralInRange<std::uint32_t>(0, 7);
      default:
        return in_.ConsumeIntegral<std::uint32_t>();
    }
  }
  std::uint64_t pfn() {
    const std::uint64_t pages = act::kRamBytes / 4096;
    return in_.ConsumeBool() ? in_.ConsumeIntegralInRange<std::uint64_t>(0, pages + 2)
                             : in_.ConsumeIntegral<std::uint64_t>();
  }
  GuestChannel* open_channel() {
    const std::uint32_t first = in_.ConsumeIntegralInRange<std::uint32_t>(1, act::kDevices);
    for (std::uint32_t i = 0; i < act::kDevices; ++i) {
      if (GuestChannel* c = guest_.channel((first - 1 + i) % act::kDevices + 1)) return c;
    }
    return nullptr;
  }
  host::IcDevice* device() { return devices_[in_.ConsumeIntegralInRange<std::size_t>(0, act::kDevices - 1)]; }
  proto::IcVersion version() {
    static constexpr std::array<proto::IcVersion, 8> kCommon{
        {{1, 0}, {3, 0}, {3, 1}, {3, 2}, {4, 0}, {5, 0}, {1, 1}, {0, 0}}};
    if (in_.ConsumeIntegralInRange<std::uint8_t>(0, 7) != 0) return in_.PickValueInArray(kCommon);
    return {in_.ConsumeIntegral<std::uint16_t>(), in_.ConsumeIntegral<std::uint16_t>()};
  }
  proto::IcMsgType ic_type() {
    const auto k = in_.ConsumeIntegralInRange<std::uint8_t>(0, 7);
    static constexpr std::array<proto::IcMsgType, 7> kTypes{
        proto::IcMsgType::negotiate, proto::IcMsgType::heartbeat, proto::IcMsgType::kvp_exchange,
        proto::IcMsgType::shutdown,  proto::IcMsgType::timesync,  proto::IcMsgType::vss,
        proto::IcMsgType::fcopy};
    return k < 7 ? kTypes[k] : static_cast<proto::IcMsgType>(in_.ConsumeIntegral<std::uint16_t>());
  }
  // The trans_id of the host's latest request on `relid`, or a fuzzed one.
  std::uint64_t trans_id(std::uint32_t relid) {
    if (in_.ConsumeIntegralInRange<std::uint8_t>(0, 3) == 0) return in_.ConsumeIntegral<std::uint64_t>();
    const auto& ex = guest_.ic_exchanges();
    for (auto it = ex.rbegin(); it != ex.rend(); ++it) {
      if (it->relid == relid) return it->trans_id;
    }
    return 1;
  }
  const guest_model::IcExchange* last_request(std::uint32_t relid) {
    const auto& ex = guest_.ic_exchanges();
    for (auto it = ex.rbegin(); it != ex.rend(); ++it) {
      if (it->relid == relid) return &*it;
    }
    return nullptr;
  }

  // ---- the guest's daemons (KVP, VSS, fcopy)

  bool daemon(IcService s, std::span<std::byte> p) {
    const DaemonMode& mode = daemon_[static_cast<std::size_t>(s)];
    if (!mode.answer) return false;
    std::uint32_t status = proto::kHvSOk;
    if (auto m = proto::decode_ic_message(p); m.ok()) {
      const std::size_t at = proto::kIcMessageHeaderSize;
      if (s == IcService::kvp) {
        if (auto req = proto::decode_kvp(m->body); req.ok()) {
          if (auto* g = std::get_if<proto::KvpGet>(&*req)) g->value = proto::KvpValue::string("v");
          if (auto* e = std::get_if<proto::KvpEnumerate>(&*req)) {
            if (e->index < 2) {
              e->entry = proto::KvpEntry{"k" + std::to_string(e->index), proto::KvpValue::string("v")};
            } else {
              status = proto::kHvSCont;
            }
          }
          if (auto body = proto::encode_kvp(*req); body.ok() && body->size() <= p.size() - at)
            std::memcpy(p.data() + at, body->data(), body->size());
        }
      } else if (s == IcService::vss) {
        if (auto req = proto::decode_vss(m->body); req.ok()) {
          const proto::Bytes body = proto::encode_vss(proto::vss_linux_answer(*req));
          if (body.size() <= p.size() - at) std::memcpy(p.data() + at, body.data(), body.size());
          status = proto::vss_linux_answer_status(req->op, true, 0);
        }
      }
    }
    proto::store_u32(p, kIcStatusOffset, mode.status.value_or(status));
    if (mode.poke && mode.poke->first < p.size()) p[mode.poke->first] = std::byte{mode.poke->second};
    return true;
  }

  // ---- actions

  void one_action() {
    switch (static_cast<act::Action>(in_.ConsumeIntegralInRange<std::uint8_t>(0, act::kActionCount - 1))) {
      case act::Action::connect:
        return connect();
      case act::Action::request_offers:
        (void)guest_.request_offers();
        return;
      case act::Action::open: {
        const std::uint32_t r = relid();
        const auto send_pages = in_.ConsumeIntegralInRange<std::uint32_t>(2, 5);
        const auto recv_pages = in_.ConsumeIntegralInRange<std::uint32_t>(2, 5);
        const bool linux_ic = in_.ConsumeBool();
        if (guest_.open(r, send_pages, recv_pages) && linux_ic && r >= 1 && r <= act::kDevices) {
          const bool own = in_.ConsumeBool();  // the driver of the channel's class, or another one
          (void)guest_.act_as_linux_ic(r, static_cast<IcService>(own ? r - 1 : r % act::kDevices));
        }
        return;
      }
      case act::Action::close:
        (void)guest_.close(relid());
        return;
      case act::Action::release:
        (void)guest_.release(relid());
        return;
      case act::Action::message:
        return message();
      case act::Action::raw_message:
        return raw_message();
      case act::Action::gpadl:
        return gpadl_sequence();
      case act::Action::signal: {
        const std::uint32_t v = vp();
        const std::uint32_t conn = in_.ConsumeBool() ? 0x10 + relid() : in_.ConsumeIntegral<std::uint32_t>();
        (void)t_.guest_signal_event(v, conn);
        return;
      }
      case act::Action::ic_frame:
        return ic_frame();
      case act::Action::answer_mutated:
        return answer_mutated();
      case act::Action::raw_packet:
        return raw_packet();
      case act::Action::raw_ring_bytes:
        return raw_ring_bytes();
      case act::Action::corrupt_ring:
        return corrupt_ring();
      case act::Action::guest_read: {
        if (GuestChannel* c = open_channel()) {
          for (int n = in_.ConsumeIntegralInRange<int>(1, 8); n > 0; --n) {
            auto r = c->receive();
            if (!r.ok() || !r->has_value()) break;
          }
        }
        return;
      }
      case act::Action::reset:
        (void)guest_.reset();
        return;
      case act::Action::unload:
        (void)guest_.unload();
        return;
      case act::Action::tick: {
        static constexpr std::array<Clock::duration, 8> kSteps{0s, 100ms, 1s, 2s, 6s, 40s, 80s, 20min};
        now_ += in_.PickValueInArray(kSteps);
        mgr_.tick(now_);
        return;
      }
      case act::Action::host_op:
        return host_op();
      case act::Action::modify: {
        const std::uint32_t r = relid();
        (void)guest_.modify(r, vp());
        return;
      }
      case act::Action::act_as_linux_ic: {
        const std::uint32_t r = relid();
        (void)guest_.act_as_linux_ic(
            r, static_cast<IcService>(in_.ConsumeIntegralInRange<std::uint8_t>(0, act::kDevices - 1)));
        return;
      }
      case act::Action::daemon_mode: {
        DaemonMode& m = daemon_[in_.ConsumeIntegralInRange<std::size_t>(3, 5)];
        m.answer = in_.ConsumeIntegralInRange<std::uint8_t>(0, 3) != 0;
        m.status.reset();
        m.poke.reset();
        if (in_.ConsumeBool()) m.status = in_.ConsumeIntegral<std::uint32_t>();
        if (in_.ConsumeBool()) {
          const auto at = in_.ConsumeIntegral<std::uint16_t>();
          m.poke = std::make_pair(at, in_.ConsumeIntegral<std::uint8_t>());
        }
        return;
      }
      case act::Action::close_transport:
        t_.close("fuzz: the VM went away");
        closed_ = true;
        return;
    }
  }

  void connect() {
    switch (in_.ConsumeIntegralInRange<std::uint8_t>(0, 2)) {
      case 0:
        (void)guest_.connect();
        return;
      case 1: {
        const std::array<proto::VmbusVersion, 1> one{in_.PickValueInArray(proto::kLinuxVmbusVersions)};
        (void)guest_.connect(one);
        return;
      }
      default: {
        proto::InitiateContact ic;
        ic.version_requested = in_.ConsumeBool()
                                   ? proto::raw(in_.PickValueInArray(proto::kLinuxVmbusVersions))
                                   : in_.ConsumeIntegral<std::uint32_t>();
        ic.target_vcpu = vp();
        ic.msg_sint = in_.ConsumeIntegralInRange<std::uint8_t>(0, 17);
        ic.interrupt_page = pfn() * 4096;
        ic.monitor_page1 = pfn() * 4096;
        ic.monitor_page2 = pfn() * 4096;
        ic.feature_flags = in_.ConsumeIntegral<std::uint32_t>();
        (void)guest_.post(ic);
        return;
      }
    }
  }

  void message() {
    switch (in_.ConsumeIntegralInRange<std::uint8_t>(0, 11)) {
      case 0: {
        proto::OpenChannel o;
        o.child_relid = relid();
        o.open_id = in_.ConsumeIntegral<std::uint32_t>();
        o.ringbuffer_gpadl = gpadl();
        o.target_vp = vp();
        o.downstream_ringbuffer_page_offset = in_.ConsumeBool()
                                                  ? in_.ConsumeIntegralInRange<std::uint32_t>(0, 8)
                                                  : in_.ConsumeIntegral<std::uint32_t>();
        (void)guest_.post(o);
        return;
      }
      case 1:
        (void)guest_.post(proto::CloseChannel{relid()});
        return;
      case 2:
        (void)guest_.post(proto::RelidReleased{relid()});
        return;
      case 3: {
        const std::uint32_t r = relid();
        (void)guest_.post(proto::GpadlTeardown{r, gpadl()});
        return;
      }
      case 4: {
        const std::uint32_t r = relid();
        (void)guest_.post(proto::ModifyChannel{r, vp()});
        return;
      }
      case 5:
        (void)guest_.post(proto::RequestOffers{});
        return;
      case 6:
        (void)guest_.post(proto::Unload{});
        return;
      case 7: {
        proto::GpadlHeader h;
        h.child_relid = relid();
        h.gpadl = gpadl();
        h.rangecount = in_.ConsumeIntegralInRange<std::uint16_t>(0, 3);
        const auto n = in_.ConsumeIntegralInRange<std::size_t>(0, proto::kGpadlHeaderMaxPfns);
        for (std::size_t i = 0; i < n; ++i) (void)h.pfns.push_back(pfn());
        h.range_buflen =
            in_.ConsumeBool() ? static_cast<std::uint16_t>(8 + 8 * n) : in_.ConsumeIntegral<std::uint16_t>();
        h.byte_count = in_.ConsumeBool() ? in_.ConsumeIntegralInRange<std::uint32_t>(0, 64) * 4096
                                         : in_.ConsumeIntegral<std::uint32_t>();
        h.byte_offset = in_.ConsumeBool() ? 0 : in_.ConsumeIntegral<std::uint32_t>();
        (void)guest_.post(h);
        return;
      }
      case 8: {
        proto::GpadlBody b;
        b.msgnumber = in_.ConsumeIntegralInRange<std::uint32_t>(0, 4);
        b.gpadl = gpadl();
        const auto n = in_.ConsumeIntegralInRange<std::size_t>(0, proto::kGpadlBodyMaxPfns);
        for (std::size_t i = 0; i < n; ++i) (void)b.pfns.push_back(pfn());
        (void)guest_.post(b);
        return;
      }
      case 9: {
        proto::TlConnectRequest tl;
        if (in_.ConsumeBool()) tl.silo_id = proto::Guid{};
        (void)guest_.post(tl);
        return;
      }
      case 10: {  // a host-to-guest type
        proto::OfferChannel o;
        o.child_relid = relid();
        (void)guest_.post(o);
        return;
      }
      default: {
        proto::InitiateContact ic;
        ic.version_requested = in_.ConsumeIntegral<std::uint32_t>();
        ic.msg_sint = in_.ConsumeIntegral<std::uint8_t>();
        ic.target_vcpu = vp();
        (void)guest_.post(ic);
        return;
      }
    }
  }

  void raw_message() {
    proto::Bytes payload(8);
    proto::store_u32(payload, 0,
                     in_.ConsumeBool() ? in_.ConsumeIntegralInRange<std::uint32_t>(0, 25)
                                       : in_.ConsumeIntegral<std::uint32_t>());
    const proto::Bytes rest = bytes(240);
    payload.insert(payload.end(), rest.begin(), rest.end());
    if (in_.ConsumeBool()) payload.resize(in_.ConsumeIntegralInRange<std::size_t>(0, payload.size()));
    std::uint32_t conn = guest_.message_connection_id();
    switch (in_.ConsumeIntegralInRange<std::uint8_t>(0, 3)) {
      case 0:
        conn = proto::kVmbusMessageConnectionId;
        break;
      case 1:
        conn = proto::kVmbusMessageConnectionId4;
        break;
      case 2:
        conn = in_.ConsumeIntegral<std::uint32_t>();
        break;
      default:
        break;
    }
    const std::uint32_t type = in_.ConsumeIntegralInRange<std::uint8_t>(0, 7) != 0
                                   ? static_cast<std::uint32_t>(proto::HvMessageType::vmbus_channel_message)
                                   : in_.ConsumeIntegral<std::uint32_t>();
    (void)t_.guest_post_message(vp(), conn, type, payload);
  }

  void gpadl_sequence() {
    const std::uint32_t r = relid();
    std::vector<std::uint64_t> pfns(in_.ConsumeIntegralInRange<std::size_t>(1, 70));
    const bool real = in_.ConsumeBool();
    if (real) {
      auto pages = guest_.alloc_pages(pfns.size());
      if (!pages) return;
      pfns = *pages;
    } else {
      for (auto& p : pfns) p = pfn();
    }
    if (in_.ConsumeBool()) {  // the well-formed path, answered and kept
      (void)guest_.create_gpadl(r, pfns);
      return;
    }
    const std::uint32_t handle = gpadl();
    auto msgs = proto::split_gpadl(r, handle, pfns);
    if (in_.ConsumeBool()) {
      const auto byte_count = in_.ConsumeIntegral<std::uint32_t>();
      msgs =
          proto::split_gpadl(r, handle, pfns, byte_count, in_.ConsumeIntegralInRange<std::uint32_t>(0, 8191));
    }
    if (!msgs) return;
    (void)guest_.post(msgs->header);
    for (proto::GpadlBody& b : msgs->bodies) {
      switch (in_.ConsumeIntegralInRange<std::uint8_t>(0, 7)) {
        case 0:  // dropped
          continue;
        case 1:  // repeated
          (void)guest_.post(b);
          break;
        case 2:
          b.msgnumber = in_.ConsumeIntegral<std::uint32_t>();
          break;
        case 3:
          b.gpadl = gpadl();
          break;
        default:
          break;
      }
      (void)guest_.post(b);
    }
    if (real && in_.ConsumeBool()) guest_.free_pages(pfns);
  }

  void ic_frame() {
    GuestChannel* c = open_channel();
    if (c == nullptr) return;
    proto::IcHeader h;
    h.icmsgtype = ic_type();
    h.icverframe = version();
    h.icvermsg = version();
    h.status = in_.ConsumeBool() ? 0 : in_.ConsumeIntegral<std::uint32_t>();
    h.icflags = in_.ConsumeIntegralInRange<std::uint8_t>(0, 3) != 0 ? proto::kIcFlagsGuestResponse
                                                                    : in_.ConsumeIntegral<std::uint8_t>();
    h.ictransaction_id = in_.ConsumeIntegral<std::uint8_t>();
    proto::Bytes body;
    switch (in_.ConsumeIntegralInRange<std::uint8_t>(0, 4)) {
      case 0: {
        proto::IcNegotiateResponse n;
        n.icframe_vercnt = in_.ConsumeIntegralInRange<std::uint16_t>(0, 2);
        n.icmsg_vercnt = in_.ConsumeIntegralInRange<std::uint16_t>(0, 2);
        n.framework = version();
        n.message = version();
        proto::ByteWriter w(body);
        proto::encode(n, w);
        break;
      }
      case 1:
        body = proto::encode_to_bytes(proto::HeartbeatMsg{in_.ConsumeIntegral<std::uint64_t>(), {}});
        break;
      case 2: {
        proto::KvpGet g;
        g.pool = static_cast<proto::KvpPool>(in_.ConsumeIntegralInRange<std::uint8_t>(0, 4));
        g.key = text(16);
        g.value = proto::KvpValue::string(text(16));
        if (auto b = proto::encode_kvp(g); b.ok()) body = *b;
        break;
      }
      case 3: {
        const auto op = static_cast<proto::VssOp>(in_.ConsumeIntegralInRange<std::uint8_t>(0, 9));
        body = proto::encode_vss(proto::make_vss_request(op, in_.ConsumeIntegral<std::uint32_t>()));
        break;
      }
      default:
        body = bytes(128);
        break;
    }
    proto::Bytes frame = proto::encode_ic_message(h, body);
    if (in_.ConsumeIntegralInRange<std::uint8_t>(0, 3) == 0)  // icmsgsize
    {
      const auto size = in_.ConsumeIntegral<std::uint16_t>();
      if (frame.size() >= proto::kIcMessageHeaderSize) {
        frame[proto::kIcPipeHeaderSize + 10] = std::byte{static_cast<std::uint8_t>(size)};
        frame[proto::kIcPipeHeaderSize + 11] = std::byte{static_cast<std::uint8_t>(size >> 8)};
      }
    }
    if (in_.ConsumeBool()) frame.resize(in_.ConsumeIntegralInRange<std::size_t>(0, frame.size()));
    const std::uint64_t id = trans_id(c->relid());
    (void)c->send_inband(frame, id, in_.ConsumeBool());
  }

  // The host's latest request on a channel, answered in place like Linux,
  // with a few bytes changed.
  void answer_mutated() {
    GuestChannel* c = open_channel();
    if (c == nullptr) return;
    const guest_model::IcExchange* ex = last_request(c->relid());
    if (ex == nullptr) return;
    proto::Bytes p = ex->answer ? *ex->answer : ex->request;
    const std::uint64_t id = ex->trans_id;
    if (p.size() > kIcFlagsOffset) p[kIcFlagsOffset] = std::byte{proto::kIcFlagsGuestResponse};
    for (int n = in_.ConsumeIntegralInRange<int>(0, 4); n > 0 && !p.empty(); --n) {
      const auto at = in_.ConsumeIntegralInRange<std::size_t>(0, p.size() - 1);
      p[at] = std::byte{in_.ConsumeIntegral<std::uint8_t>()};
    }
    if (in_.ConsumeBool()) p.resize(in_.ConsumeIntegralInRange<std::size_t>(0, p.size() + 16));
    (void)c->send_inband(p, in_.ConsumeBool() ? id : in_.ConsumeIntegral<std::uint64_t>());
  }

  void raw_packet() {
    GuestChannel* c = open_channel();
    if (c == nullptr) return;
    proto::PacketDescriptor d;
    d.type = in_.ConsumeBool() ? in_.ConsumeIntegralInRange<std::uint16_t>(0, 12)
                               : in_.ConsumeIntegral<std::uint16_t>();
    d.flags = in_.ConsumeIntegral<std::uint16_t>();
    d.trans_id = trans_id(c->relid());
    const proto::Bytes body = bytes(256);
    const std::size_t total = proto::kPacketDescriptorSize + body.size();
    d.offset8 = in_.ConsumeBool() ? std::uint16_t{2} : in_.ConsumeIntegral<std::uint16_t>();
    d.len8 = in_.ConsumeBool() ? static_cast<std::uint16_t>((total + 7) / 8)
                               : in_.ConsumeIntegral<std::uint16_t>();
    const auto desc = proto::encode_descriptor(d);
    proto::Bytes padded = body;
    padded.resize(d.len8 >= 2 ? std::min<std::size_t>(std::size_t{d.len8} * 8 - 16, 4096) : body.size());
    const std::array<proto::ByteSpan, 2> parts{proto::ByteSpan(desc), proto::ByteSpan(padded)};
    (void)c->send_packet(parts);
  }

  void raw_ring_bytes() {
    GuestChannel* c = open_channel();
    if (c == nullptr) return;
    const proto::RingView& ring = c->outbound();
    std::span<std::byte> data = ring.data();
    const proto::Bytes b = bytes(512);
    std::uint32_t at = ring.write_index();
    for (std::byte x : b) {
      if (at >= data.size()) at = 0;
      data[at++] = x;
    }
    ring.set_write_index(in_.ConsumeBool() ? at : in_.ConsumeIntegral<std::uint32_t>());
    (void)t_.guest_signal_event(guest_.options().vp, 0x10 + c->relid());
  }

  void corrupt_ring() {
    GuestChannel* c = open_channel();
    if (c == nullptr) return;
    const proto::RingView& ring = in_.ConsumeBool() ? c->outbound() : c->inbound();
    std::uint32_t v = 0;
    switch (in_.ConsumeIntegralInRange<std::uint8_t>(0, 2)) {
      case 0:
        v = in_.ConsumeIntegralInRange<std::uint32_t>(0, ring.data_size() + 16);
        break;
      case 1:
        v = in_.ConsumeIntegral<std::uint32_t>();
        break;
      default:
        v = ring.write_index() + in_.ConsumeIntegralInRange<std::uint32_t>(0, 64) * 8;
        break;
    }
    switch (in_.ConsumeIntegralInRange<std::uint8_t>(0, 4)) {
      case 0:
        ring.set_write_index(v);
        break;
      case 1:
        ring.set_read_index(v);
        break;
      case 2:
        ring.set_interrupt_mask(v);
        break;
      case 3:
        ring.set_pending_send_sz(v);
        break;
      default:
        ring.set_feature_bits(v);
        break;
    }
    if (in_.ConsumeBool()) (void)t_.guest_signal_event(guest_.options().vp, 0x10 + c->relid());
  }

  void host_op() {
    switch (in_.ConsumeIntegralInRange<std::uint8_t>(0, 19)) {
      case 0: {
        const auto pool = static_cast<proto::KvpPool>(in_.ConsumeIntegralInRange<std::uint8_t>(0, 5));
        kvp_->get(pool, text(24), done_.make<host::KvpResult>());
        return;
      }
      case 1: {
        const auto pool = static_cast<proto::KvpPool>(in_.ConsumeIntegralInRange<std::uint8_t>(0, 4));
        std::string key = text(24);
        proto::KvpValue value = in_.ConsumeBool()
                                    ? proto::KvpValue::string(text(40))
                                    : proto::KvpValue::u64(in_.ConsumeIntegral<std::uint64_t>());
        kvp_->set(pool, std::move(key), std::move(value), done_.make<host::KvpResult>());
        return;
      }
      case 2:
        kvp_->del(proto::KvpPool::external, text(24), done_.make<host::KvpResult>());
        return;
      case 3:
        kvp_->enumerate(proto::KvpPool::guest, in_.ConsumeIntegralInRange<std::uint32_t>(0, 4),
                        done_.make<host::KvpResult>());
        return;
      case 4:
        kvp_->enumerate_all(proto::KvpPool::automatic, done_.make<std::vector<proto::KvpEntry>>());
        return;
      case 5: {
        std::string adapter = text(16);
        kvp_->get_ip_info(std::move(adapter), in_.ConsumeIntegralInRange<std::uint8_t>(0, 4),
                          done_.make<host::KvpResult>());
        return;
      }
      case 6:
        heartbeat_->beat(done_.make<host::HeartbeatSample>());
        return;
      case 7: {
        host::ShutdownParams sp;
        sp.flags = in_.ConsumeBool() ? in_.ConsumeIntegralInRange<std::uint32_t>(0, 5)
                                     : in_.ConsumeIntegral<std::uint32_t>();
        sp.display_message = text(32);
        shutdown_->request(sp, done_.make<std::uint32_t>());
        return;
      }
      case 8:
        timesync_->send(in_.ConsumeIntegral<std::uint8_t>(), done_.make<host::TimesyncResult>());
        return;
      case 9: {
        const auto op = static_cast<proto::VssOp>(in_.ConsumeIntegralInRange<std::uint8_t>(0, 9));
        vss_->request(op, in_.ConsumeIntegral<std::uint32_t>(), done_.make<host::VssResult>());
        return;
      }
      case 10: {
        const proto::Bytes data(in_.ConsumeIntegralInRange<std::size_t>(0, 14000), std::byte{0x5a});
        std::string name = text(16);
        std::string path = text(16);
        const auto flags = in_.ConsumeIntegralInRange<std::uint32_t>(0, 4);
        fcopy_->copy_file(std::move(name), std::move(path), flags, data, done_.make_status());
        return;
      }
      case 11: {
        std::string name = text(16);
        std::string path = text(16);
        const auto flags = in_.ConsumeIntegral<std::uint32_t>();
        const auto size = in_.ConsumeIntegral<std::uint64_t>();
        fcopy_->start(std::move(name), std::move(path), flags, size, done_.make<std::uint32_t>());
        return;
      }
      case 12: {
        const auto offset = in_.ConsumeIntegral<std::uint64_t>();
        fcopy_->write(offset, bytes(64), done_.make<std::uint32_t>());
        return;
      }
      case 13:
        if (in_.ConsumeBool()) {
          fcopy_->complete(done_.make<std::uint32_t>());
        } else {
          fcopy_->cancel(done_.make<std::uint32_t>());
        }
        return;
      case 14:
        (void)mgr_.rescind(relid());
        return;
      case 15:
        (void)mgr_.reoffer(relid());
        return;
      case 16: {
        host::IcDevice* d = device();
        std::vector<proto::IcVersion> fw(in_.ConsumeIntegralInRange<std::size_t>(0, 3));
        for (auto& v : fw) v = version();
        std::vector<proto::IcVersion> msg(in_.ConsumeIntegralInRange<std::size_t>(0, 3));
        for (auto& v : msg) v = version();
        if (in_.ConsumeIntegralInRange<std::uint8_t>(0, 15) == 0) msg.resize(101, proto::IcVersion{1, 0});
        d->set_offered_versions(std::move(fw), std::move(msg));
        return;
      }
      case 17:
        heartbeat_->set_period(in_.ConsumeBool()
                                   ? Clock::duration::zero()
                                   : std::chrono::milliseconds(in_.ConsumeIntegralInRange<int>(1, 5000)));
        return;
      case 18:
        timesync_->set_offset(in_.ConsumeIntegral<std::int64_t>());
        return;
      default: {
        host::IcDevice* d = device();
        d->when_negotiated(done_.at_most_once());
        return;
      }
    }
  }

  host::LoopbackTransport& t_;
  FuzzedDataProvider& in_;
  host::ChannelManager mgr_;
  VmbusGuest guest_;
  Clock::time_point now_ = Clock::time_point{} + 1000h;
  bool closed_ = false;
  DoneTracker done_;
  std::array<host::IcDevice*, act::kDevices> devices_{};
  std::array<DaemonMode, act::kDevices> daemon_{};
  host::HeartbeatDevice* heartbeat_ = nullptr;
  host::ShutdownDevice* shutdown_ = nullptr;
  host::TimesyncDevice* timesync_ = nullptr;
  host::KvpDevice* kvp_ = nullptr;
  host::VssDevice* vss_ = nullptr;
  host::FcopyDevice* fcopy_ = nullptr;
};

// One transport for the whole run, reset after each input: new guest RAM
// per input (a memfd, then a page fault for every page touched) and fresh
// mmaps of each ring were most of the time per input. reset() leaves it as
// create() did (RAM all zero), so each input starts from the same state.
// Resetting at the end rather than the start frees what the input allocated
// in the same input, which libFuzzer's leak check (mallocs vs frees per run)
// expects.
host::LoopbackTransport& transport() {
  static host::LoopbackTransport* t = [] {
    auto r = host::LoopbackTransport::create(
        {.ram_size = act::kRamBytes, .vp_count = 4, .cached_mappings = act::kCachedMappings});
    VMBH_FUZZ_CHECK(r.ok());
    return new host::LoopbackTransport(std::move(r).value());
  }();
  return *t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  host::LoopbackTransport& t = transport();
  guest_model::GuestOptions gopts;
  gopts.scatter_pages = in.ConsumeBool();
  gopts.auto_release = in.ConsumeIntegralInRange<std::uint8_t>(0, 7) != 0;
  {
    Session s(t, in, gopts);
    s.run();
  }
  VMBH_FUZZ_CHECK(t.reset().ok());
  return 0;
}
