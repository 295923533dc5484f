// Differential fuzz target for the VMBus ring buffer and packet codecs.
// Ring mode drives RingView with a fuzz-chosen operation sequence next to a
// reference model (a queue of packets and a used-byte count) and checks they
// agree on every result, byte and signal; corrupted indices/descriptors must
// give the named error and leave the ring unchanged; after "chaos" (arbitrary
// indices and data) only safety properties are checked. Decode mode checks
// decode(encode(decode(x))) == decode(x) for every packet type and that a
// decoded packet survives a trip through a ring. Input format: ring_fuzz_ops.h.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "ring_fuzz_ops.h"
#include "vmbh/protocols/packet.h"
#include "vmbh/protocols/ring.h"

namespace {

using namespace vmbh::proto;
using vmbh::fuzz::FuzzInput;
namespace ops = vmbh::fuzz::ring_ops;

constexpr std::size_t kMaxPages = 4;
constexpr std::size_t kMaxOps = 512;

bool same(ByteSpan a, ByteSpan b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

template <class T, class Decode>
void check_round_trip(ByteSpan in, Decode decode) {
  Result<T> d = decode(in);
  if (!d) {
    VMBH_FUZZ_CHECK(d.error().field != nullptr);
    return;
  }
  Bytes re = encode(*d);
  VMBH_FUZZ_CHECK(!re.empty());
  VMBH_FUZZ_CHECK(re.size() == encoded_size(*d));
  Result<T> d2 = decode(re);
  VMBH_FUZZ_CHECK(d2.ok());
  VMBH_FUZZ_CHECK(*d2 == *d);
}

void decode_mode(ByteSpan in) {
  auto v = decode_packet(in);
  if (v) {
    VMBH_FUZZ_CHECK(kPacketDescriptorSize + v->header.size() + v->payload.size() == in.size());
    VMBH_FUZZ_CHECK(in.size() % kPacketAlign == 0);
  }
  check_round_trip<InbandPacket>(in, decode_inband);
  check_round_trip<CompletionPacket>(in, decode_completion);
  check_round_trip<GpaDirectPacket>(in, decode_gpa_direct);
  check_round_trip<TransferPagePacket>(in, decode_transfer_page);
  if (!v) return;
  if (v->desc.offset8 == 2 && v->desc.type == static_cast<std::uint16_t>(PacketType::data_inband)) {
    auto d = decode_inband(in);
    VMBH_FUZZ_CHECK(d.ok() && same(encode(*d), in));  // byte-exact when there is no extra header
  }
  // Any valid packet goes through a one-page ring unchanged (if it fits).
  static std::array<std::byte, kRingHeaderSize + kRingPageSize> ring_buf;
  std::memset(ring_buf.data(), 0, kRingHeaderSize);
  RingView ring = *RingView::create(ring_buf);
  const std::uint32_t start = static_cast<std::uint32_t>(in.size() % kRingPageSize) & ~7u;
  ring.set_write_index(start);
  ring.set_read_index(start);
  auto w = ring.write(in);
  VMBH_FUZZ_CHECK(w.ok() == ring_fits(kRingPageSize, ring_packet_footprint(in.size())));
  if (!w) return;
  VMBH_FUZZ_CHECK(*w);
  static std::array<std::byte, kRingPageSize> out;
  auto r = ring.read(out);
  VMBH_FUZZ_CHECK(r.ok() && !r->signal);
  VMBH_FUZZ_CHECK(same(ByteSpan(out).first(r->size), in));
  VMBH_FUZZ_CHECK(ring.read_index() == ring.write_index());
}

struct Model {
  std::deque<Bytes> packets;
  std::size_t used = 0;
};

Bytes make_packet(std::uint8_t kind, std::size_t n, std::uint8_t flags, std::uint64_t trans_id) {
  const std::byte fill{static_cast<std::uint8_t>(trans_id)};
  const auto f = static_cast<std::uint16_t>(flags & 1);
  switch (kind % 4) {
    case 0:
      return encode(InbandPacket{f, trans_id, Bytes(n, fill)});
    case 1:
      return encode(CompletionPacket{f, trans_id, Bytes(n, fill)});
    case 2: {
      GpaDirectPacket g;
      g.flags = f;
      g.trans_id = trans_id;
      auto count = static_cast<std::uint32_t>(n * 16);
      auto offset = static_cast<std::uint32_t>(flags) * 16u;
      g.ranges.push_back(
          GpaRange{count, offset, std::vector<std::uint64_t>(gpa_range_pfn_count(offset, count), trans_id)});
      g.payload = Bytes(n / 4, fill);
      return encode(g);
    }
    default: {
      TransferPagePacket x;
      x.flags = f;
      x.trans_id = trans_id;
      x.xfer_pageset_id = flags;
      x.sender_owns_set = 1;
      x.ranges.assign(n % 7, TransferPageRange{static_cast<std::uint32_t>(n), flags});
      x.payload = Bytes(n, fill);
      return encode(x);
    }
  }
}

// Copies `n` ring data bytes starting at `at` (wrapping) into / out of a buffer.
void data_get(RingView v, std::uint32_t at, std::span<std::byte> out) {
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = v.data()[(at + i) % v.data_size()];
}
void data_put(RingView v, std::uint32_t at, ByteSpan in) {
  for (std::size_t i = 0; i < in.size(); ++i) v.data()[(at + i) % v.data_size()] = in[i];
}

void expect_read_error(RingView v, Bytes& out, const char* field) {
  Bytes before(v.bytes().begin(), v.bytes().end());
  auto p = v.peek();
  VMBH_FUZZ_CHECK(!p.ok() && std::strcmp(p.error().field, field) == 0);
  auto r = v.read(out);
  VMBH_FUZZ_CHECK(!r.ok() && std::strcmp(r.error().field, field) == 0);
  VMBH_FUZZ_CHECK(same(before, v.bytes()));
}

// After chaos: no model, only safety and self-consistency.
void chaos(RingView v, FuzzInput& in, Bytes& out) {
  v.set_write_index(in.u32());
  v.set_read_index(in.u32());
  v.set_interrupt_mask(in.u8());
  v.set_pending_send_sz(in.u32());
  v.set_feature_bits(in.u8());
  data_put(v, v.read_index() % v.data_size(), in.bytes(v.data_size()));
  const Bytes small = encode(InbandPacket{0, 1, {}});
  for (int round = 0; round < 8; ++round) {
    Bytes before(v.bytes().begin(), v.bytes().end());
    auto avail = v.bytes_to_read();
    auto r = v.read(out);
    if (r) {
      VMBH_FUZZ_CHECK(avail.ok());
      VMBH_FUZZ_CHECK(r->size >= kPacketDescriptorSize && r->size % 8 == 0);
      VMBH_FUZZ_CHECK(r->size + kPacketTrailerSize <= *avail);
      auto pv = decode_packet(ByteSpan(out).first(r->size));
      VMBH_FUZZ_CHECK(pv.ok() && pv->desc == r->desc);
      VMBH_FUZZ_CHECK(*v.bytes_to_read() == *avail - r->size - kPacketTrailerSize);
    } else {
      VMBH_FUZZ_CHECK(r.error().field != nullptr);
      VMBH_FUZZ_CHECK(same(before, v.bytes()));
    }
    avail = v.bytes_to_read();
    auto w = v.write(small);
    if (w) {
      VMBH_FUZZ_CHECK(avail.ok() && *v.bytes_to_read() == *avail + ring_packet_footprint(small.size()));
    } else if (avail) {
      VMBH_FUZZ_CHECK(w.error().code == Errc::no_space);
    }
  }
}

void ring_mode(FuzzInput& in) {
  const std::size_t pages = 1 + in.u8() % kMaxPages;
  static std::array<std::byte, kRingHeaderSize + kMaxPages * kRingPageSize> buf;
  std::memset(buf.data(), 0, buf.size());
  RingView v = *RingView::create(std::span<std::byte>(buf).first(kRingHeaderSize + pages * kRingPageSize));
  const std::uint32_t size = v.data_size();
  const std::uint32_t start = (in.u16() % (size / 8)) * 8;
  v.set_write_index(start);
  v.set_read_index(start);
  Model m;
  Bytes out(size);
  std::uint64_t trans = 0;

  for (std::size_t step = 0; step < kMaxOps && !in.empty(); ++step) {
    switch (in.u8() % ops::kOpCount) {
      case ops::kWrite: {
        std::uint8_t kind = in.u8();
        std::size_t n = in.u16() % (size + 64);
        std::uint8_t flags = in.u8();
        Bytes pkt = make_packet(kind, n, flags, ++trans);
        VMBH_FUZZ_CHECK(!pkt.empty());
        const std::size_t foot = ring_packet_footprint(pkt.size());
        const bool was_empty = m.packets.empty();
        const bool masked = v.interrupt_mask() != 0;
        auto r = v.write(pkt);
        VMBH_FUZZ_CHECK(r.ok() == (size - m.used > foot));
        if (!r) {
          VMBH_FUZZ_CHECK(r.error().code == Errc::no_space);
          break;
        }
        VMBH_FUZZ_CHECK(*r == (was_empty && !masked));
        m.used += foot;
        m.packets.push_back(std::move(pkt));
        break;
      }
      case ops::kRead: {
        const bool use_peek = in.u8() & 1;
        if (m.packets.empty()) {
          VMBH_FUZZ_CHECK(v.peek().error().code == Errc::empty);
          VMBH_FUZZ_CHECK(v.read(out).error().code == Errc::empty);
          break;
        }
        const std::size_t free_before = size - m.used;
        const Bytes& want = m.packets.front();
        bool signal = false;
        if (use_peek) {
          auto p = v.peek();
          VMBH_FUZZ_CHECK(p.ok());
          VMBH_FUZZ_CHECK(p->size() == want.size());
          VMBH_FUZZ_CHECK(same(p->first, ByteSpan(want).first(p->first.size())));
          VMBH_FUZZ_CHECK(same(p->second, ByteSpan(want).subspan(p->first.size())));
          auto c = v.consume(*p);
          VMBH_FUZZ_CHECK(c.ok());
          signal = *c;
        } else {
          auto r = v.read(out);
          VMBH_FUZZ_CHECK(r.ok());
          VMBH_FUZZ_CHECK(same(ByteSpan(out).first(r->size), want));
          signal = r->signal;
        }
        m.used -= ring_packet_footprint(want.size());
        m.packets.pop_front();
        const std::size_t free_after = size - m.used;
        const std::uint32_t pending = v.pending_send_sz();
        const bool want_signal = (v.feature_bits() & kRingFeaturePendingSendSz) != 0 && pending != 0 &&
                                 free_before <= pending && free_after > pending;
        VMBH_FUZZ_CHECK(signal == want_signal);
        break;
      }
      case ops::kMask:
        v.set_interrupt_mask(in.u8() & 1);
        break;
      case ops::kPending:
        v.set_feature_bits(in.u8() & 1);
        v.set_pending_send_sz(in.u16() % (size + 16));
        break;
      case ops::kBadIndex: {
        const bool write_side = (in.u8() & 1) == 0;
        std::uint32_t value = in.u32();
        if (value < size && value % 8 == 0) value += 4;  // force invalid: unaligned
        const std::uint32_t saved = write_side ? v.write_index() : v.read_index();
        write_side ? v.set_write_index(value) : v.set_read_index(value);
        const char* field = write_side ? "ring.write_index" : "ring.read_index";
        expect_read_error(v, out, field);
        Bytes before(v.bytes().begin(), v.bytes().end());
        auto w = v.write(encode(InbandPacket{}));
        VMBH_FUZZ_CHECK(!w.ok() && std::strcmp(w.error().field, field) == 0);
        VMBH_FUZZ_CHECK(same(before, v.bytes()));
        write_side ? v.set_write_index(saved) : v.set_read_index(saved);
        break;
      }
      case ops::kBadDesc: {
        const std::uint8_t kind = in.u8() % 3;
        if (m.packets.empty()) break;
        std::array<std::byte, kPacketDescriptorSize> saved{};
        const std::uint32_t at = v.read_index();
        data_get(v, at, saved);
        PacketDescriptor d = *decode_descriptor_raw(saved);
        const char* field = "packet.offset8";
        if (kind == 0) {
          d.len8 = static_cast<std::uint16_t>((m.used - kPacketTrailerSize) / 8 + 1);
          field = "packet.len8";
        } else if (kind == 1) {
          d.offset8 = static_cast<std::uint16_t>(trans & 1);
        } else {
          d.offset8 = static_cast<std::uint16_t>(d.len8 + 1);
        }
        data_put(v, at, encode_descriptor(d));
        expect_read_error(v, out, field);
        data_put(v, at, saved);
        break;
      }
      case ops::kChaos:
        chaos(v, in, out);
        return;
    }
    auto avail = v.bytes_to_read();
    VMBH_FUZZ_CHECK(avail.ok() && *avail == m.used);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput in(data, size);
  if (in.u8() % 2 == 1) {
    decode_mode(in.rest());
  } else {
    ring_mode(in);
  }
  return 0;
}
