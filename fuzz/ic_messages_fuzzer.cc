// Fuzzes the IC service bodies. Input: a selector byte, then message bytes.
//   selector % 5 == 0  heartbeat body
//                   1  shutdown body
//                   2  timesync body, service version 3.0 (old layout)
//                   3  timesync body, service version 4.0 (ref-data layout)
//                   4  a whole IC packet, dispatched on icmsgtype (timesync
//                      layout from icvermsg); also described for the trace
//                      printer as a ring packet of every IC device
// Every successful decode must survive decode(encode(decode(x))) == decode(x).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/describe_ic.h"
#include "vmbh/protocols/heartbeat.h"
#include "vmbh/protocols/ic.h"
#include "vmbh/protocols/packet.h"
#include "vmbh/protocols/shutdown.h"
#include "vmbh/protocols/timesync.h"

namespace {

using namespace vmbh::proto;

// memcmp instead of a byte loop: much cheaper under coverage instrumentation.
bool same_bytes(ByteSpan a, ByteSpan b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

Bytes& scratch() {
  static Bytes b;
  b.clear();
  return b;
}

void check_time(std::uint64_t hv) {
  const UnixTimespec ts = hv_time_to_timespec(hv);
  VMBH_FUZZ_CHECK(ts.tv_nsec >= 0 && ts.tv_nsec < 1'000'000'000 && ts.tv_nsec % 100 == 0);
  VMBH_FUZZ_CHECK(timespec_to_hv_time(ts) == hv);
  const auto t = hv_time_to_sys_time(hv);
  if (t) {
    VMBH_FUZZ_CHECK(sys_time_to_hv_time(*t) == hv);
    VMBH_FUZZ_CHECK(std::chrono::floor<std::chrono::seconds>(*t).time_since_epoch().count() == ts.tv_sec);
  }
}

void heartbeat(ByteSpan body) {
  auto d = decode_heartbeat(body);
  VMBH_FUZZ_CHECK(d.ok() == (body.size() >= kHeartbeatMinSize));
  if (!d) return;
  Bytes& b = scratch();
  ByteWriter w(b);
  encode(*d, w);
  VMBH_FUZZ_CHECK(b.size() == kHeartbeatMsgSize);
  const std::size_t n = std::min(body.size(), kHeartbeatMsgSize);
  VMBH_FUZZ_CHECK(same_bytes(ByteSpan(b).first(n), body.first(n)));
  auto again = decode_heartbeat(b);
  VMBH_FUZZ_CHECK(again.ok() && *again == *d);
  VMBH_FUZZ_CHECK(heartbeat_reply(*d).seq_num == d->seq_num + 1);
}

void shutdown(ByteSpan body) {
  auto d = decode_shutdown(body);
  VMBH_FUZZ_CHECK(d.ok() == (body.size() >= kShutdownMsgSize));
  if (!d) return;
  Bytes& b = scratch();
  ByteWriter w(b);
  encode(*d, w);
  VMBH_FUZZ_CHECK(same_bytes(b, body.first(kShutdownMsgSize)));
  auto again = decode_shutdown(b);
  VMBH_FUZZ_CHECK(again.ok() && *again == *d);
  const auto action = shutdown_action(d->flags);
  VMBH_FUZZ_CHECK(action.has_value() == (d->flags <= 5));
  if (action) VMBH_FUZZ_CHECK(shutdown_flags(*action, shutdown_forced(d->flags)) == d->flags);
  VMBH_FUZZ_CHECK((linux_shutdown_status(d->flags, true) == kHvSOk) == action.has_value());
  // The text decodes or fails cleanly (UTF-16 round trips are the utf16 tests' job).
  auto text = d->display_message_utf8();
  if (text) VMBH_FUZZ_CHECK(text->size() <= 3 * kShutdownDisplayMessageSize / 2);
}

void timesync(ByteSpan body, IcVersion version) {
  auto d = decode_timesync(body, version);
  const std::size_t need = timesync_uses_ref_data(version) ? kTimesyncRefDataSize : kTimesyncDataSize;
  VMBH_FUZZ_CHECK(d.ok() == (body.size() >= need));
  if (!d) return;
  Bytes& b = scratch();
  ByteWriter w(b);
  encode(*d, w);
  VMBH_FUZZ_CHECK(same_bytes(b, body.first(need)));
  auto again = decode_timesync(b, version);
  VMBH_FUZZ_CHECK(again.ok() && *again == *d);
  std::visit([](const auto& m) { check_time(m.parenttime); }, *d);
}

// Linux's handling on each channel: answers keep the length, carry
// transaction|response, and a heartbeat answer holds seq_num + 1.
void linux_answers(ByteSpan in) {
  static Bytes buf;
  for (LinuxIcService svc : {LinuxIcService::heartbeat, LinuxIcService::shutdown, LinuxIcService::timesync}) {
    buf.assign(in.begin(), in.end());
    LinuxIcGuestState st;
    st.service_version = {4, 0};
    const LinuxIcAnswer a = linux_ic_answer_in_place(svc, buf, st);
    VMBH_FUZZ_CHECK(buf.size() == in.size());
    if (!a.answered) {
      VMBH_FUZZ_CHECK(same_bytes(buf, in));
      continue;
    }
    VMBH_FUZZ_CHECK(buf[25] == std::byte{kIcFlagsGuestResponse});
    if (a.effect == LinuxIcEffect::heartbeat) VMBH_FUZZ_CHECK(load_u64(buf, 28) == load_u64(in, 28) + 1);
    if (a.effect == LinuxIcEffect::rejected) VMBH_FUZZ_CHECK(load_u32(buf, 20) == kHvEFail);
  }
}

// The trace printer's view of the same bytes in an in-band packet: a line for
// every device, whatever the bytes (timesync in both layouts).
void describe(ByteSpan in) {
  const Bytes pkt = encode(InbandPacket{0, 1, Bytes(in.begin(), in.end())});
  if (pkt.empty()) return;  // too large for a packet
  for (const char* device : {"heartbeat", "shutdown", "timesync", "kvp", "vss", "fcopy"}) {
    IcVersions versions;
    VMBH_FUZZ_CHECK(!describe_ic_packet(device, pkt, versions).empty());
  }
  IcVersions v3;
  v3.message = IcVersion{3, 0};
  VMBH_FUZZ_CHECK(!describe_ic_packet("timesync", pkt, v3).empty());
}

void packet(ByteSpan in) {
  linux_answers(in);
  describe(in);
  auto m = decode_ic_message(in);
  if (!m) return;
  {
    Bytes& b = scratch();
    ByteWriter w(b);
    encode(*m, w);
    VMBH_FUZZ_CHECK(same_bytes(b, in));
    auto again = decode_ic_message(b);
    VMBH_FUZZ_CHECK(again.ok() && *again == *m);
  }
  switch (m->header.icmsgtype) {
    case IcMsgType::heartbeat:
      heartbeat(m->body);
      break;
    case IcMsgType::shutdown:
      shutdown(m->body);
      break;
    case IcMsgType::timesync:
      timesync(m->body, m->header.icvermsg);
      break;
    case IcMsgType::negotiate: {
      auto n = decode_ic_negotiate(m->body);
      if (n) {
        Bytes& b = scratch();
        ByteWriter w(b);
        encode(*n, w);
        VMBH_FUZZ_CHECK(same_bytes(b, m->body));
      }
      break;
    }
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vmbh::fuzz::FuzzInput input(data, size);
  const std::uint8_t selector = input.u8();
  ByteSpan rest = input.rest();
  switch (selector % 5) {
    case 0:
      heartbeat(rest);
      break;
    case 1:
      shutdown(rest);
      break;
    case 2:
      timesync(rest, {3, 0});
      break;
    case 3:
      timesync(rest, {4, 0});
      break;
    default:
      packet(rest);
      break;
  }
  return 0;
}
