// KVP codec throughput: decode+validate and encode of a SET request and of an
// ENUMERATE answer (the two messages a host sees most), in messages/s and bytes/s.
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "vmbh/protocols/kvp.h"

namespace {

using namespace vmbh::proto;

KvpMessage set_message() {
  return KvpSet{KvpPool::external, "VirtualMachineName", KvpValue::string("build-runner-07.example.org")};
}
KvpMessage enumerate_answer() {
  return KvpEnumerate{KvpPool::automatic, 0,
                      KvpEntry{"FullyQualifiedDomainName", KvpValue::string("guest-01.example.org")}};
}

Bytes must_encode(const KvpMessage& m) {
  auto r = encode_kvp(m);
  if (!r.ok()) std::abort();
  return std::move(*r);
}

void decode_bench(benchmark::State& state, const KvpMessage& m) {
  const Bytes wire = must_encode(m);
  for (auto _ : state) {
    auto r = decode_kvp(wire);
    if (!r.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}

void encode_bench(benchmark::State& state, const KvpMessage& m) {
  std::size_t size = 0;
  for (auto _ : state) {
    auto r = encode_kvp(m);
    if (!r.ok()) state.SkipWithError("encode failed");
    size = r->size();
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void BM_KvpDecodeSet(benchmark::State& state) { decode_bench(state, set_message()); }
void BM_KvpEncodeSet(benchmark::State& state) { encode_bench(state, set_message()); }
void BM_KvpDecodeEnumerateAnswer(benchmark::State& state) { decode_bench(state, enumerate_answer()); }
void BM_KvpEncodeEnumerateAnswer(benchmark::State& state) { encode_bench(state, enumerate_answer()); }

BENCHMARK(BM_KvpDecodeSet);
BENCHMARK(BM_KvpEncodeSet);
BENCHMARK(BM_KvpDecodeEnumerateAnswer);
BENCHMARK(BM_KvpEncodeEnumerateAnswer);

}  // namespace
