// Decode+validate and encode throughput of a VSS FREEZE and a full fcopy WRITE.
#include <benchmark/benchmark.h>

#include "vmbh/protocols/fcopy.h"
#include "vmbh/protocols/vss.h"

namespace {

using namespace vmbh::proto;

void BM_VssFreezeDecode(benchmark::State& state) {
  const Bytes wire = encode_vss(make_vss_request(VssOp::freeze));
  for (auto _ : state) {
    auto m = decode_vss(wire);
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_VssFreezeDecode);

void BM_VssFreezeEncode(benchmark::State& state) {
  const VssMessage m = make_vss_request(VssOp::freeze);
  Bytes out;
  out.reserve(kVssMsgSize);
  for (auto _ : state) {
    out.clear();
    ByteWriter w(out);
    encode(m, w);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kVssMsgSize));
}
BENCHMARK(BM_VssFreezeEncode);

FcopyWrite full_write() {
  FcopyWrite w;
  w.offset = 1 << 20;
  w.data.assign(kFcopyDataFragment, std::byte{0x5A});
  return w;
}

void BM_FcopyWrite6144Decode(benchmark::State& state) {
  const Bytes wire = *encode_fcopy(FcopyMessage{full_write()});
  for (auto _ : state) {
    auto m = decode_fcopy(wire);
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_FcopyWrite6144Decode);

void BM_FcopyWrite6144Encode(benchmark::State& state) {
  const FcopyWrite m = full_write();
  Bytes out;
  out.reserve(kFcopyWriteSize);
  for (auto _ : state) {
    out.clear();
    ByteWriter w(out);
    Status s = encode(m, w);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kFcopyWriteSize));
}
BENCHMARK(BM_FcopyWrite6144Encode);

}  // namespace
