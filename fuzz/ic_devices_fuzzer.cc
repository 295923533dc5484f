// The six IC host devices driven by a malicious guest: after a Linux-style
// negotiation, the input starts operations and feeds arbitrary or mutated
// guest answers, ticks the clock, refuses sends, closes and reopens.
// Input (fuzz_input.h order):
//   device u8 % 7 (heartbeat, shutdown, timesync, kvp, vss, fcopy 6.1, fcopy 6.12 uio)
//   then steps, action u8 % 6:
//     0 start an operation: sub u8, then per device (kvp: pool u8, key len u8 + bytes,
//       value len u8 + bytes, index u8; vss: flags u32; fcopy: a u16, b u16)
//     1 raw guest packet: mode u8 (trans_id: 0 last sent, 1 all-ones, 2 u64 follows;
//       bit 4: completion packet), len u16 % 8192, bytes
//     2 Linux's answer to the last packet sent: n u8 % 4 mutations {offset u16, value u8}
//     3 tick: ms u32 % 200000
//     4 close and reopen (negotiating again)
//     5 refuse the next u8 % 3 sends
// Checks: every Done is called exactly once (all of them by the final close),
// failed on_packet statuses carry a message, facts() stays callable (at the
// end of the steps and after the final close).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fake_channel_io.h"
#include "fuzz_check.h"
#include "fuzz_input.h"
#include "linux_ic_guest.h"
#include "vmbh/host/fcopy_device.h"
#include "vmbh/host/heartbeat_device.h"
#include "vmbh/host/kvp_device.h"
#include "vmbh/host/shutdown_device.h"
#include "vmbh/host/timesync_device.h"
#include "vmbh/host/vss_device.h"

namespace {

using namespace vmbh;
using host::Clock;
using host::testing::FakeChannelIo;
using host::testing::LinuxIcGuest;
using host::testing::LinuxService;

struct Tracker {
  std::uint64_t started = 0;
  std::uint64_t completed = 0;

  template <class T>
  host::Done<T> track() {
    ++started;
    auto called = std::make_shared<bool>(false);
    return [this, called](host::Result<T> r) {
      VMBH_FUZZ_CHECK(!*called);
      *called = true;
      if (!r.ok()) VMBH_FUZZ_CHECK(!r.message().empty());
      ++completed;
    };
  }
  host::DoneStatus track_status() {
    ++started;
    auto called = std::make_shared<bool>(false);
    return [this, called](const host::Status& s) {
      VMBH_FUZZ_CHECK(!*called);
      *called = true;
      if (!s.ok()) VMBH_FUZZ_CHECK(!s.message().empty());
      ++completed;
    };
  }
};

std::string small_text(fuzz::FuzzInput& in) {
  const std::size_t n = in.u8() % 8;
  std::string s;
  for (std::byte b : in.bytes(n)) s.push_back(static_cast<char>('a' + std::to_integer<int>(b) % 26));
  return s;
}

proto::Bytes pattern(std::size_t n) {
  proto::Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = std::byte(static_cast<std::uint8_t>(i));
  return b;
}

void start_operation(std::uint32_t kind, host::IcDevice& dev, fuzz::FuzzInput& in, Tracker& t) {
  const std::uint8_t sub = in.u8();
  switch (kind) {
    case 0:
      static_cast<host::HeartbeatDevice&>(dev).beat(t.track<host::HeartbeatSample>());
      break;
    case 1: {
      host::ShutdownParams p;
      p.flags = sub % 8;
      static_cast<host::ShutdownDevice&>(dev).request(p, t.track<std::uint32_t>());
      break;
    }
    case 2:
      static_cast<host::TimesyncDevice&>(dev).send(static_cast<std::uint8_t>(sub % 4),
                                                   t.track<host::TimesyncResult>());
      break;
    case 3: {
      auto& kvp = static_cast<host::KvpDevice&>(dev);
      const auto pool = static_cast<proto::KvpPool>(in.u8() % proto::kKvpPoolCount);
      std::string key = small_text(in);
      std::string value = small_text(in);
      const std::uint8_t index = in.u8();
      switch (sub % 7) {
        case 0:
          kvp.get(pool, key, t.track<host::KvpResult>());
          break;
        case 1:
          kvp.set(pool, key, proto::KvpValue::string(value), t.track<host::KvpResult>());
          break;
        case 2:
          kvp.del(pool, key, t.track<host::KvpResult>());
          break;
        case 3:
          kvp.enumerate(pool, index, t.track<host::KvpResult>());
          break;
        case 4:
          kvp.get_ip_info(key, proto::kKvpAddrFamilyIpv4, t.track<host::KvpResult>());
          break;
        case 5: {
          proto::KvpIpAddress ip;
          ip.adapter_id = key;
          ip.ip_addr = value;
          kvp.set_ip_info(ip, t.track<host::KvpResult>());
          break;
        }
        default:
          kvp.enumerate_all(pool, t.track<std::vector<proto::KvpEntry>>());
          break;
      }
      break;
    }
    case 4:
      static_cast<host::VssDevice&>(dev).request(static_cast<proto::VssOp>(sub % proto::kVssOpCount),
                                                 in.u32(), t.track<host::VssResult>());
      break;
    default: {
      auto& fc = static_cast<host::FcopyDevice&>(dev);
      const std::uint16_t a = in.u16();
      const std::uint16_t b = in.u16();
      switch (sub % 5) {
        case 0:
          fc.start("f", "/p", a % 4, b, t.track<std::uint32_t>());
          break;
        case 1:
          fc.write(a, pattern(b % 7000), t.track<std::uint32_t>());
          break;
        case 2:
          fc.complete(t.track<std::uint32_t>());
          break;
        case 3:
          fc.cancel(t.track<std::uint32_t>());
          break;
        default:
          fc.copy_file("f", "/p", a % 4, pattern(b % 20000), t.track_status());
          break;
      }
      break;
    }
  }
}

std::unique_ptr<host::IcDevice> make_device(std::uint32_t kind) {
  switch (kind) {
    case 0:
      return std::make_unique<host::HeartbeatDevice>();
    case 1:
      return std::make_unique<host::ShutdownDevice>();
    case 2:
      return std::make_unique<host::TimesyncDevice>();
    case 3:
      return std::make_unique<host::KvpDevice>();
    case 4:
      return std::make_unique<host::VssDevice>();
    case 5:
      return std::make_unique<host::FcopyDevice>();
    default: {
      host::FcopyOptions o;
      o.guest = host::FcopyGuest::uio_daemon;
      return std::make_unique<host::FcopyDevice>(o);
    }
  }
}

constexpr LinuxService kServices[] = {LinuxService::heartbeat, LinuxService::shutdown, LinuxService::timesync,
                                      LinuxService::kvp,       LinuxService::vss,      LinuxService::fcopy,
                                      LinuxService::fcopy_uio};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  const std::uint32_t kind = in.u8() % 7;
  Clock::time_point now = Clock::time_point{} + std::chrono::hours(1);
  Tracker tracker;
  auto dev = make_device(kind);
  dev->set_clock([&now] { return now; });
  auto io = std::make_unique<FakeChannelIo>();
  auto guest = std::make_unique<LinuxIcGuest>(*dev, *io, kServices[kind]);
  dev->on_open(*io);
  guest->answer_all();

  for (int step = 0; step < 200 && !in.empty(); ++step) {
    switch (in.u8() % 6) {
      case 0:
        start_operation(kind, *dev, in, tracker);
        break;
      case 1: {
        const std::uint8_t mode = in.u8();
        std::uint64_t id = io->sent.empty() ? 0 : io->sent.back().trans_id;
        if (mode % 4 == 1) id = ~std::uint64_t{0};
        if (mode % 4 == 2) id = in.u64();
        const std::size_t len = in.u16() % 8192;
        const proto::ByteSpan bytes = in.bytes(len);
        const auto type = (mode & 0x10) ? proto::PacketType::completion : proto::PacketType::data_inband;
        host::Status s = host::testing::deliver(*dev, bytes, id, type);
        if (!s.ok()) VMBH_FUZZ_CHECK(!s.message().empty());
        break;
      }
      case 2: {
        if (io->sent.empty()) break;
        auto answer = guest->answer_for(io->sent.size() - 1);
        const std::size_t n = in.u8() % 4;
        for (std::size_t i = 0; i < n; ++i) {
          const std::uint16_t off = in.u16();
          const std::uint8_t v = in.u8();
          if (answer && !answer->empty()) (*answer)[off % answer->size()] = std::byte{v};
        }
        if (!answer) break;
        const std::uint64_t id = kind == 6 ? host::testing::kUioTransId : io->sent.back().trans_id;
        host::Status s = host::testing::deliver(*dev, *answer, id);
        if (!s.ok()) VMBH_FUZZ_CHECK(!s.message().empty());
        break;
      }
      case 3:
        now += std::chrono::milliseconds(in.u32() % 200000);
        dev->on_tick(now);
        break;
      case 4:
        dev->on_close("fuzz: reopen");
        io = std::make_unique<FakeChannelIo>();
        guest = std::make_unique<LinuxIcGuest>(*dev, *io, kServices[kind]);
        dev->on_open(*io);
        guest->answer_all();
        break;
      default:
        io->refuse_sends = in.u8() % 3;
        break;
    }
  }
  // Once per input, not per step: facts() only reads counters and state, and
  // a call per step made it the largest cost of the target (under ASan every
  // fact is a string allocation) while adding nothing but hit-count features
  // that grow with the number of steps. Every state a step can leave is the
  // end state of some shorter input.
  VMBH_FUZZ_CHECK(!dev->facts().empty());
  dev->on_close("fuzz: end");
  VMBH_FUZZ_CHECK(!dev->facts().empty());
  VMBH_FUZZ_CHECK(dev->pending() == 0);
  VMBH_FUZZ_CHECK(tracker.completed == tracker.started);
  return 0;
}
