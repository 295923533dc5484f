// Packets through the whole host over the loopback: the guest model writes an
// in-band packet, the channel manager reads it and hands it to an echo device,
// which writes it back; the guest reads the echo. Next to it, the same two
// ring writes and reads done directly with RingView (no manager, transport or
// device): BM_LoopbackEcho reports its cost as x_raw_ring, a ratio measured in
// the same run. items/s counts packets (two per round trip).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>
#include <memory>

#include "vmbh/guest_model/vmbus_guest.h"
#include "vmbh/host/channel_manager.h"
#include "vmbh/host/loopback_transport.h"
#include "vmbh/protocols/packet.h"
#include "vmbh/protocols/ring.h"

namespace {

using namespace vmbh;

constexpr std::uint32_t kRingPages = 17;  // header + 64 KiB of data per ring

class Echo final : public host::Device {
 public:
  Echo() {
    id_.name = "echo";
    id_.class_id = proto::Guid::from_string("11111111-2222-3333-4444-555555555555");
  }
  const host::DeviceIdentity& identity() const override { return id_; }
  void on_open(host::ChannelIo& io) override { io_ = &io; }
  host::Status on_packet(const proto::PacketView& p) override {
    return io_->send_inband(p.payload, p.desc.trans_id, false);
  }
  void on_close(const std::string&) override { io_ = nullptr; }

 private:
  host::DeviceIdentity id_;
  host::ChannelIo* io_ = nullptr;
};

// One raw round trip: write to ring a, read it out, write the payload to ring b, read it out.
struct RawRings {
  explicit RawRings(std::size_t data)
      : a_mem(proto::kRingHeaderSize + data),
        b_mem(proto::kRingHeaderSize + data),
        a(*proto::RingView::create(a_mem)),
        b(*proto::RingView::create(b_mem)) {}
  bool roundtrip(proto::ByteSpan payload, proto::Bytes& scratch) {
    auto d = *proto::make_descriptor(proto::PacketType::data_inband, 0, 1, proto::kPacketDescriptorSize,
                                     payload.size());
    auto desc = proto::encode_descriptor(d);
    const proto::ByteSpan parts[] = {desc, payload};
    if (!a.write(parts)) return false;
    scratch.resize(d.packet_size());
    if (!a.read(scratch)) return false;
    auto v = proto::decode_packet(scratch);
    if (!v) return false;
    const proto::ByteSpan back[] = {desc, v->payload};
    if (!b.write(back)) return false;
    return static_cast<bool>(b.read(scratch));
  }
  proto::Bytes a_mem, b_mem;
  proto::RingView a, b;
};

double raw_ns_per_roundtrip(std::size_t payload_size) {
  RawRings rings((kRingPages - 1) * proto::kRingPageSize);
  proto::Bytes payload(payload_size, std::byte{0x5a}), scratch;
  constexpr int kWarm = 2000, kRuns = 50000;
  for (int i = 0; i < kWarm; ++i) (void)rings.roundtrip(payload, scratch);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kRuns; ++i) benchmark::DoNotOptimize(rings.roundtrip(payload, scratch));
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / kRuns;
}

void BM_LoopbackEcho(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  auto t = host::LoopbackTransport::create({.ram_size = 4 * 1024 * 1024, .vp_count = 1});
  if (!t) return state.SkipWithError(t.message().c_str());
  host::ChannelManager mgr(*t);
  (void)mgr.start();
  const std::uint32_t relid = mgr.add_device(std::make_unique<Echo>());
  guest_model::VmbusGuest guest(*t, {.scatter_pages = false});
  if (!guest.connect() || !guest.request_offers()) return state.SkipWithError("no session");
  auto c = guest.open(relid, kRingPages, kRingPages);
  if (!c) return state.SkipWithError(c.message().c_str());
  guest_model::GuestChannel& ch = **c;
  const proto::Bytes payload(size, std::byte{0x5a});

  const double raw_ns = raw_ns_per_roundtrip(size);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (!ch.send_inband(payload, 1) || !guest.pump()) return state.SkipWithError("send failed");
    auto r = ch.receive();
    if (!r || !r->has_value()) return state.SkipWithError("no echo");
    benchmark::DoNotOptimize(r->value().data());
  }
  const auto t1 = std::chrono::steady_clock::now();
  const double ns =
      std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(state.iterations());
  state.counters["raw_ring_ns"] = raw_ns;
  state.counters["x_raw_ring"] = ns / raw_ns;
  state.SetItemsProcessed(2 * state.iterations());
  state.SetBytesProcessed(2 * state.iterations() * static_cast<std::int64_t>(size));
}
BENCHMARK(BM_LoopbackEcho)->Arg(16)->Arg(256)->Arg(4096);

void BM_LoopbackRawRingBaseline(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  RawRings rings((kRingPages - 1) * proto::kRingPageSize);
  proto::Bytes payload(size, std::byte{0x5a}), scratch;
  for (auto _ : state) {
    if (!rings.roundtrip(payload, scratch)) return state.SkipWithError("ring failed");
  }
  state.SetItemsProcessed(2 * state.iterations());
  state.SetBytesProcessed(2 * state.iterations() * static_cast<std::int64_t>(size));
}
BENCHMARK(BM_LoopbackRawRingBaseline)->Arg(16)->Arg(256)->Arg(4096);

}  // namespace
