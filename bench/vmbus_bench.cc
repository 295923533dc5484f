// VMBus channel message and GPADL throughput.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "vmbh/protocols/gpadl.h"
#include "vmbh/protocols/vmbus.h"

namespace {

using namespace vmbh::proto;

constexpr VmbusVersion kVersion = VmbusVersion::win10_v5_3;

ChannelMessage sample_offer() {
  OfferChannel o;
  o.if_type = Guid::from_string("57164f39-9115-4e78-ab55-382f3bd5422d");
  o.if_instance = Guid::from_string("eb765408-105f-49b6-b4aa-c123b64d17d4");
  o.child_relid = 14;
  o.connection_id = 30;
  o.interrupt_flags = 1;
  return o;
}

ChannelMessage sample_gpadl_header() {
  std::vector<std::uint64_t> pfns(26);
  std::iota(pfns.begin(), pfns.end(), 0x10000);
  return split_gpadl(14, kLinuxFirstGpadlHandle, pfns).value().header;
}

void decode_bench(benchmark::State& state, const ChannelMessage& m) {
  const Bytes wire = encode(m, kVersion);
  for (auto _ : state) {
    auto d = decode_channel_message(wire, kVersion);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}

void encode_bench(benchmark::State& state, const ChannelMessage& m) {
  Bytes out;
  out.reserve(kChannelMessageMaxSize);
  for (auto _ : state) {
    out.clear();
    ByteWriter w(out);
    encode(m, kVersion, w);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}

void BM_VmbusDecodeOffer(benchmark::State& state) { decode_bench(state, sample_offer()); }
void BM_VmbusEncodeOffer(benchmark::State& state) { encode_bench(state, sample_offer()); }
void BM_VmbusDecodeGpadlHeader(benchmark::State& state) { decode_bench(state, sample_gpadl_header()); }
void BM_VmbusEncodeGpadlHeader(benchmark::State& state) { encode_bench(state, sample_gpadl_header()); }

// A 1 MiB buffer: 256 PFNs -> header + 9 bodies -> wire -> decode -> assemble.
void BM_VmbusGpadlSplitAssemble1MiB(benchmark::State& state) {
  std::vector<std::uint64_t> pfns(256);
  std::iota(pfns.begin(), pfns.end(), 0x40000);
  std::size_t wire_bytes = 0;
  for (auto _ : state) {
    auto msgs = split_gpadl(14, kLinuxFirstGpadlHandle, pfns);
    GpadlAssembler a;
    const Bytes h = encode(msgs->header, kVersion);
    wire_bytes = h.size();
    auto dh = decode_channel_message(h, kVersion);
    (void)a.start(std::get<GpadlHeader>(*dh));
    for (const auto& b : msgs->bodies) {
      const Bytes wb = encode(b, kVersion);
      wire_bytes += wb.size();
      auto db = decode_channel_message(wb, kVersion);
      (void)a.add_body(std::get<GpadlBody>(*db));
    }
    auto g = a.finish();
    benchmark::DoNotOptimize(g);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));  // GPADLs
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire_bytes));
}

BENCHMARK(BM_VmbusDecodeOffer);
BENCHMARK(BM_VmbusEncodeOffer);
BENCHMARK(BM_VmbusDecodeGpadlHeader);
BENCHMARK(BM_VmbusEncodeGpadlHeader);
BENCHMARK(BM_VmbusGpadlSplitAssemble1MiB);

}  // namespace
