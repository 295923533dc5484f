// IC codecs: decode+validate and encode of whole packets (messages/s, bytes/s).
#include <benchmark/benchmark.h>

#include "vmbh/protocols/heartbeat.h"
#include "vmbh/protocols/ic.h"
#include "vmbh/protocols/shutdown.h"
#include "vmbh/protocols/timesync.h"

namespace {

using namespace vmbh::proto;

void finish(benchmark::State& state, std::size_t bytes) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

void BM_IcNegotiateDecode(benchmark::State& state) {
  const Bytes pkt = *host_negotiate_offer(kLinuxUtilFrameworkVersions, kLinuxShutdownVersions);
  for (auto _ : state) {
    auto m = decode_ic_message(pkt);
    auto n = decode_ic_negotiate(m->body);
    benchmark::DoNotOptimize(n);
  }
  finish(state, pkt.size());
}
BENCHMARK(BM_IcNegotiateDecode);

void BM_IcNegotiateEncode(benchmark::State& state) {
  IcNegotiate n;
  (void)n.framework.assign(kLinuxUtilFrameworkVersions);
  (void)n.message.assign(kLinuxShutdownVersions);
  const IcHeader h = make_ic_request_header(IcMsgType::negotiate, {3, 0}, {3, 2});
  Bytes body, pkt;
  for (auto _ : state) {
    body.clear();
    pkt.clear();
    ByteWriter bw(body);
    encode(n, bw);
    ByteWriter pw(pkt);
    encode_ic_message(h, body, pw);
    benchmark::DoNotOptimize(pkt.data());
  }
  finish(state, pkt.size());
}
BENCHMARK(BM_IcNegotiateEncode);

void BM_IcNegotiateLinuxSelect(benchmark::State& state) {
  const Bytes offer = *host_negotiate_offer(kLinuxUtilFrameworkVersions, kLinuxShutdownVersions);
  Bytes buf = offer;
  for (auto _ : state) {
    std::copy(offer.begin(), offer.end(), buf.begin());
    auto r = linux_negotiate_in_place(buf, kLinuxUtilFrameworkVersions, kLinuxShutdownVersions);
    benchmark::DoNotOptimize(r);
  }
  finish(state, offer.size());
}
BENCHMARK(BM_IcNegotiateLinuxSelect);

template <class T, class Decode>
void decode_bench(benchmark::State& state, IcMsgType type, IcVersion version, const T& msg, Decode decode) {
  const Bytes pkt = encode_ic_message(make_ic_request_header(type, {3, 0}, version), encode_to_bytes(msg));
  for (auto _ : state) {
    auto m = decode_ic_message(pkt);
    auto d = decode(m->body);
    benchmark::DoNotOptimize(d);
  }
  finish(state, pkt.size());
}

template <class T>
void encode_bench(benchmark::State& state, IcMsgType type, IcVersion version, const T& msg) {
  const IcHeader h = make_ic_request_header(type, {3, 0}, version);
  Bytes body, pkt;
  for (auto _ : state) {
    body.clear();
    pkt.clear();
    ByteWriter bw(body);
    encode(msg, bw);
    ByteWriter pw(pkt);
    encode_ic_message(h, body, pw);
    benchmark::DoNotOptimize(pkt.data());
  }
  finish(state, pkt.size());
}

HeartbeatMsg sample_heartbeat() {
  HeartbeatMsg hb;
  hb.seq_num = 12345;
  return hb;
}
ShutdownMsg sample_shutdown() {
  ShutdownMsg s;
  s.flags = shutdown_flags(ShutdownAction::shutdown, true);
  (void)s.set_display_message("Shutdown requested by the host");
  return s;
}
TimesyncRefData sample_ref() {
  return TimesyncRefData{133500000000000000ull, 42, kTimesyncFlagSample, 0, 2, {}};
}
TimesyncData sample_v3() { return TimesyncData{133500000000000000ull, 0, 16, kTimesyncFlagSync}; }

void BM_IcHeartbeatDecode(benchmark::State& s) {
  decode_bench(s, IcMsgType::heartbeat, {3, 0}, sample_heartbeat(), decode_heartbeat);
}
void BM_IcHeartbeatEncode(benchmark::State& s) {
  encode_bench(s, IcMsgType::heartbeat, {3, 0}, sample_heartbeat());
}
void BM_IcShutdownDecode(benchmark::State& s) {
  decode_bench(s, IcMsgType::shutdown, {3, 2}, sample_shutdown(), decode_shutdown);
}
void BM_IcShutdownEncode(benchmark::State& s) {
  encode_bench(s, IcMsgType::shutdown, {3, 2}, sample_shutdown());
}
void BM_IcTimesyncV4Decode(benchmark::State& s) {
  decode_bench(s, IcMsgType::timesync, {4, 0}, sample_ref(), [](ByteSpan b) {
    return decode_timesync(b, IcVersion{4, 0});
  });
}
void BM_IcTimesyncV4Encode(benchmark::State& s) {
  encode_bench(s, IcMsgType::timesync, {4, 0}, sample_ref());
}
void BM_IcTimesyncV3Decode(benchmark::State& s) {
  decode_bench(s, IcMsgType::timesync, {3, 0}, sample_v3(), [](ByteSpan b) {
    return decode_timesync(b, IcVersion{3, 0});
  });
}
void BM_IcTimesyncV3Encode(benchmark::State& s) { encode_bench(s, IcMsgType::timesync, {3, 0}, sample_v3()); }
BENCHMARK(BM_IcHeartbeatDecode);
BENCHMARK(BM_IcHeartbeatEncode);
BENCHMARK(BM_IcShutdownDecode);
BENCHMARK(BM_IcShutdownEncode);
BENCHMARK(BM_IcTimesyncV4Decode);
BENCHMARK(BM_IcTimesyncV4Encode);
BENCHMARK(BM_IcTimesyncV3Decode);
BENCHMARK(BM_IcTimesyncV3Encode);

void BM_IcHvTimeToTimespec(benchmark::State& state) {
  std::uint64_t t = 133500000000000000ull;
  for (auto _ : state) {
    auto ts = hv_time_to_timespec(t++);
    auto back = timespec_to_hv_time(ts);
    benchmark::DoNotOptimize(back);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_IcHvTimeToTimespec);

}  // namespace
