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
constexpr std::size_t kMaxOps = 256;

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

constexpr std::size_t kMaxData = kMaxPages * kRingPageSize;

// Reference model: the packets in the ring, back to back in a flat byte FIFO
// (compacted when it would overflow), plus their lengths. No allocation.
struct Model {
  std::array<std::byte, 2 * kMaxData> bytes;
  std::size_t head = 0, tail = 0;
  std::array<std::uint32_t, kMaxData / kRingMinPacketSize + 1> lens;
  std::size_t first = 0, count = 0;
  std::size_t used = 0;  // ring bytes incl. trailers

  void reset() { head = tail = first = count = used = 0; }
  bool empty() const { return count == 0; }
  ByteSpan front() const { return ByteSpan(bytes.data() + head, lens[first]); }
  // Appends the packet gathered from parts, zero padded.
  void push(std::span<const ByteSpan> parts, std::size_t padded) {
    if (tail + padded > bytes.size()) {
      std::memmove(bytes.data(), bytes.data() + head, tail - head);
      tail -= head;
      head = 0;
    }
    std::size_t at = tail;
    for (ByteSpan part : parts) {
      if (!part.empty()) std::memcpy(bytes.data() + at, part.data(), part.size());
      at += part.size();
    }
    std::memset(bytes.data() + at, 0, tail + padded - at);
    tail += padded;
    lens[(first + count) % lens.size()] = static_cast<std::uint32_t>(padded);
    ++count;
    used += ring_packet_footprint(padded);
  }
  void pop() {
    head += lens[first];
    used -= ring_packet_footprint(lens[first]);
    first = (first + 1) % lens.size();
    --count;
    if (count == 0) head = tail = 0;
  }
};

// Payload bytes: a fixed pattern, sliced at a per-packet offset.
const std::array<std::byte, kMaxData + 512>& pattern() {
  static const auto p = [] {
    std::array<std::byte, kMaxData + 512> a{};
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::byte(static_cast<std::uint8_t>(i * 7 + i / 251));
    return a;
  }();
  return p;
}

// Builds the descriptor and type-specific header of a packet of `kind` with
// an n-byte payload into `hdr` (reused, so no allocation after warm-up).
void make_header(Bytes& hdr, std::uint8_t kind, std::size_t n, std::uint8_t flags, std::uint64_t trans_id) {
  hdr.clear();
  hdr.resize(kPacketDescriptorSize);
  ByteWriter w(hdr);
  PacketType type = PacketType::data_inband;
  const auto f = static_cast<std::uint16_t>(flags & 1);
  switch (kind % 4) {
    case 0:
      break;
    case 1:
      type = PacketType::completion;
      break;
    case 2: {
      type = PacketType::data_using_gpa_direct;
      auto count = static_cast<std::uint32_t>(n * 16);
      auto offset = static_cast<std::uint32_t>(flags) * 16u;
      w.u32(0);
      w.u32(1);
      w.u32(count);
      w.u32(offset);
      for (std::uint64_t i = 0; i < gpa_range_pfn_count(offset, count); ++i) w.u64(trans_id + i);
      break;
    }
    default:
      type = PacketType::data_using_xfer_pages;
      w.u16(flags);
      w.u8(1);
      w.u8(0);
      w.u32(static_cast<std::uint32_t>(n % 7));
      for (std::size_t i = 0; i < n % 7; ++i) {
        w.u32(static_cast<std::uint32_t>(n));
        w.u32(static_cast<std::uint32_t>(i));
      }
  }
  auto d = make_descriptor(type, f, trans_id, hdr.size(), n);
  VMBH_FUZZ_CHECK(d.ok());
  encode_descriptor(*d, std::span<std::byte, kPacketDescriptorSize>(hdr.data(), kPacketDescriptorSize));
}

// Typed decoders accept what make_header built.
void check_typed(ByteSpan pkt, std::uint8_t kind) {
  switch (kind % 4) {
    case 0:
      VMBH_FUZZ_CHECK(decode_inband(pkt).ok());
      break;
    case 1:
      VMBH_FUZZ_CHECK(decode_completion(pkt).ok());
      break;
    case 2:
      VMBH_FUZZ_CHECK(decode_gpa_direct(pkt).ok());
      break;
    default:
      VMBH_FUZZ_CHECK(decode_transfer_page(pkt).ok());
      break;
  }
}

// Copies `n` ring data bytes starting at `at` (wrapping) into / out of a buffer.
void data_get(RingView v, std::uint32_t at, std::span<std::byte> out) {
  const std::size_t first = std::min<std::size_t>(out.size(), v.data_size() - at);
  std::memcpy(out.data(), v.data().data() + at, first);
  std::memcpy(out.data() + first, v.data().data(), out.size() - first);
}
void data_put(RingView v, std::uint32_t at, ByteSpan in) {
  if (in.empty()) return;
  const std::size_t first = std::min<std::size_t>(in.size(), v.data_size() - at);
  std::memcpy(v.data().data() + at, in.data(), first);
  std::memcpy(v.data().data(), in.data() + first, in.size() - first);
}

std::span<std::byte> snapshot(RingView v) {
  static std::array<std::byte, kRingHeaderSize + kMaxData> snap;
  std::memcpy(snap.data(), v.bytes().data(), v.bytes().size());
  return std::span<std::byte>(snap).first(v.bytes().size());
}

void expect_read_error(RingView v, std::span<std::byte> out, const char* field) {
  auto before = snapshot(v);
  auto p = v.peek();
  VMBH_FUZZ_CHECK(!p.ok() && std::strcmp(p.error().field, field) == 0);
  auto r = v.read(out);
  VMBH_FUZZ_CHECK(!r.ok() && std::strcmp(r.error().field, field) == 0);
  VMBH_FUZZ_CHECK(same(before, v.bytes()));
}

// After chaos: no model, only safety and self-consistency.
void chaos(RingView v, FuzzInput& in, std::span<std::byte> out) {
  v.set_write_index(in.u32());
  v.set_read_index(in.u32());
  v.set_interrupt_mask(in.u8());
  v.set_pending_send_sz(in.u32());
  v.set_feature_bits(in.u8());
  data_put(v, v.read_index() % v.data_size(), in.bytes(v.data_size()));
  const auto small = encode_descriptor(PacketDescriptor{6, 2, 2, 0, 1});
  for (int round = 0; round < 8; ++round) {
    auto before = snapshot(v);
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
  static std::array<std::byte, kRingHeaderSize + kMaxData> buf;
  std::memset(buf.data(), 0, kRingHeaderSize + pages * kRingPageSize);
  RingView v = *RingView::create(std::span<std::byte>(buf).first(kRingHeaderSize + pages * kRingPageSize));
  const std::uint32_t size = v.data_size();
  const std::uint32_t start = (in.u16() % (size / 8)) * 8;
  v.set_write_index(start);
  v.set_read_index(start);
  static Model m;
  m.reset();
  static std::array<std::byte, kMaxData> out_buf;
  const std::span<std::byte> out(out_buf.data(), size);
  static Bytes hdr;
  std::uint64_t trans = 0;

  for (std::size_t step = 0; step < kMaxOps && !in.empty(); ++step) {
    switch (in.u8() % ops::kOpCount) {
      case ops::kWrite: {
        const std::uint8_t kind = in.u8();
        const std::size_t n = in.u16() % (size + 64);
        const std::uint8_t flags = in.u8();
        make_header(hdr, kind, n, flags, ++trans);
        // Payload gathered from two slices of the pattern (split chosen by flags).
        const ByteSpan payload = ByteSpan(pattern()).subspan(trans % 256, n);
        const std::size_t split = std::min<std::size_t>(n, flags);
        const ByteSpan parts[] = {hdr, payload.first(split), payload.subspan(split)};
        const std::size_t padded = align8(hdr.size() + n);
        const std::size_t foot = ring_packet_footprint(padded);
        const bool was_empty = m.empty();
        const bool masked = v.interrupt_mask() != 0;
        auto r = v.write(parts);
        VMBH_FUZZ_CHECK(r.ok() == (size - m.used > foot));
        if (!r) {
          VMBH_FUZZ_CHECK(r.error().code == Errc::no_space);
          break;
        }
        VMBH_FUZZ_CHECK(*r == (was_empty && !masked));
        m.push(parts, padded);
        break;
      }
      case ops::kRead: {
        const bool use_peek = (in.u8() & 1) != 0;
        if (m.empty()) {
          VMBH_FUZZ_CHECK(v.peek().error().code == Errc::empty);
          VMBH_FUZZ_CHECK(v.read(out).error().code == Errc::empty);
          break;
        }
        const std::size_t free_before = size - m.used;
        const ByteSpan want = m.front();
        bool signal = false;
        if (use_peek) {
          auto p = v.peek();
          VMBH_FUZZ_CHECK(p.ok());
          VMBH_FUZZ_CHECK(p->size() == want.size());
          VMBH_FUZZ_CHECK(same(p->first, want.first(p->first.size())));
          VMBH_FUZZ_CHECK(same(p->second, want.subspan(p->first.size())));
          auto c = v.consume(*p);
          VMBH_FUZZ_CHECK(c.ok());
          signal = *c;
        } else {
          auto r = v.read(out);
          VMBH_FUZZ_CHECK(r.ok());
          VMBH_FUZZ_CHECK(same(ByteSpan(out).first(r->size), want));
          check_typed(ByteSpan(out).first(r->size), static_cast<std::uint8_t>(r->desc.type == 6    ? 0
                                                                              : r->desc.type == 11 ? 1
                                                                              : r->desc.type == 9  ? 2
                                                                                                   : 3));
          signal = r->signal;
        }
        m.pop();
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
        auto before = snapshot(v);
        const auto bare = encode_descriptor(PacketDescriptor{6, 2, 2, 0, 0});
        auto w = v.write(bare);
        VMBH_FUZZ_CHECK(!w.ok() && std::strcmp(w.error().field, field) == 0);
        VMBH_FUZZ_CHECK(same(before, v.bytes()));
        write_side ? v.set_write_index(saved) : v.set_read_index(saved);
        break;
      }
      case ops::kBadDesc: {
        const std::uint8_t kind = in.u8() % 3;
        if (m.empty()) break;
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
