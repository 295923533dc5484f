// Ring write+read throughput next to a plain memcpy of the same bytes (copy in
// + copy out) through a buffer of the same size. Packet sizes are total packet
// bytes (16-byte descriptor + payload); bytes/s counts those bytes once.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "vmbh/protocols/packet.h"
#include "vmbh/protocols/ring.h"

namespace {

using namespace vmbh::proto;

constexpr std::size_t kRingData = 256 * 1024;

void BM_RingWriteRead(benchmark::State& state) {
  const auto packet = static_cast<std::size_t>(state.range(0));
  Bytes buf(kRingHeaderSize + kRingData);
  RingView ring = *RingView::create(buf);
  auto desc = encode_descriptor(
      *make_descriptor(PacketType::data_inband, 0, 1, kPacketDescriptorSize, packet - kPacketDescriptorSize));
  Bytes payload(packet - kPacketDescriptorSize, std::byte{0x5a});
  const ByteSpan parts[] = {desc, payload};
  Bytes out(packet);
  for (auto _ : state) {
    auto w = ring.write(parts);
    auto r = ring.read(out);
    benchmark::DoNotOptimize(w);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(packet));
}
BENCHMARK(BM_RingWriteRead)->Arg(64)->Arg(1024)->Arg(4096);

void BM_RingMemcpyBaseline(benchmark::State& state) {
  const auto packet = static_cast<std::size_t>(state.range(0));
  Bytes buf(kRingData);
  Bytes in(packet, std::byte{0x5a});
  Bytes out(packet);
  std::size_t pos = 0;
  for (auto _ : state) {
    if (pos + packet > buf.size()) pos = 0;
    std::memcpy(buf.data() + pos, in.data(), packet);
    benchmark::ClobberMemory();
    std::memcpy(out.data(), buf.data() + pos, packet);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    pos += packet + kPacketTrailerSize;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(packet));
}
BENCHMARK(BM_RingMemcpyBaseline)->Arg(64)->Arg(1024)->Arg(4096);

void BM_PacketDecodeGpaDirect(benchmark::State& state) {
  GpaDirectPacket g;
  g.trans_id = 1;
  g.ranges.push_back(GpaRange{16 * 4096, 0, std::vector<std::uint64_t>(16, 0x1000)});
  g.payload = Bytes(64, std::byte{1});
  Bytes b = encode(g);
  for (auto _ : state) {
    auto d = decode_gpa_direct(b);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(b.size()));
}
BENCHMARK(BM_PacketDecodeGpaDirect);

void BM_PacketView(benchmark::State& state) {
  Bytes b = encode(InbandPacket{0, 1, Bytes(200, std::byte{1})});
  for (auto _ : state) {
    auto d = decode_packet(b);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(b.size()));
}
BENCHMARK(BM_PacketView);

}  // namespace
