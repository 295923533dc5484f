#include "vmbh/protocols/ring.h"

#include <gtest/gtest.h>

#include <deque>
#include <random>

namespace vmbh::proto {
namespace {

struct TestRing {
  explicit TestRing(std::size_t data_pages) : buf(kRingHeaderSize + data_pages * kRingPageSize) {}
  RingView view() {
    auto v = RingView::create(buf);
    EXPECT_TRUE(v.ok());
    return *v;
  }
  Bytes data(std::size_t at, std::size_t n) const {
    auto first = buf.begin() + static_cast<std::ptrdiff_t>(kRingHeaderSize + at);
    return Bytes(first, first + static_cast<std::ptrdiff_t>(n));
  }
  Bytes buf;
};

Bytes inband(std::size_t payload, std::uint64_t trans_id = 1, std::uint8_t fill = 0x5a) {
  return encode(InbandPacket{0, trans_id, Bytes(payload, std::byte{fill})});
}

// ---------------------------------------------------------------------------
// Layout constants
// ---------------------------------------------------------------------------

TEST(RingLayout, HeaderOffsetsPinned) {
  EXPECT_EQ(kRingHeaderSize, 4096u);  // sizeof(struct hv_ring_buffer): data starts one page in
  EXPECT_EQ(kRingWriteIndexOffset, 0u);
  EXPECT_EQ(kRingReadIndexOffset, 4u);
  EXPECT_EQ(kRingInterruptMaskOffset, 8u);
  EXPECT_EQ(kRingPendingSendSzOffset, 12u);
  EXPECT_EQ(kRingFeatureBitsOffset, 64u);  // after reserved1[12]
  EXPECT_EQ(kRingFeaturePendingSendSz, 1u);
  EXPECT_EQ(kPacketTrailerSize, 8u);  // VMBUS_PKT_TRAILER
  EXPECT_EQ(kRingMinPacketSize, 24u);
}

TEST(RingLayout, HeaderFieldsAtTheirOffsets) {
  TestRing t(1);
  RingView v = t.view();
  v.set_write_index(0x11223344);
  v.set_read_index(0x55667788);
  v.set_interrupt_mask(1);
  v.set_pending_send_sz(0x200);
  v.set_feature_bits(1);
  EXPECT_EQ(Bytes(t.buf.begin(), t.buf.begin() + 16),
            bytes_of(0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55, 1, 0, 0, 0, 0, 2, 0, 0));
  EXPECT_EQ(t.buf[64], std::byte{1});
}

TEST(RingLayout, CreateValidatesSize) {
  Bytes b(4096);
  EXPECT_EQ(RingView::create(b).error().field, std::string_view("ring.size"));  // no data page
  Bytes c(8192 + 8);
  EXPECT_FALSE(RingView::create(c).ok());  // not a page multiple
  Bytes e;
  EXPECT_FALSE(RingView::create(e).ok());
  Bytes d(8192 * 2);
  auto v = RingView::create(d);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->data_size(), 3u * 4096u);
}

// ---------------------------------------------------------------------------
// Pure rules
// ---------------------------------------------------------------------------

TEST(RingRules, BytesToReadAndWriteWrap) {
  EXPECT_EQ(ring_bytes_to_read(0, 0, 4096), 0u);
  EXPECT_EQ(ring_bytes_to_write(0, 0, 4096), 4096u);
  EXPECT_EQ(ring_bytes_to_read(100, 300, 4096), 200u);
  EXPECT_EQ(ring_bytes_to_read(4000, 96, 4096), 192u);  // wrapped
  EXPECT_EQ(ring_bytes_to_write(4000, 96, 4096), 4096u - 192u);
  EXPECT_EQ(ring_bytes_to_write(96, 88, 4096), 8u);
}

TEST(RingRules, FitsNeedsStrictlyMore) {
  EXPECT_FALSE(ring_fits(32, 32));
  EXPECT_TRUE(ring_fits(33, 32));
  EXPECT_EQ(ring_packet_footprint(24), 32u);
  EXPECT_EQ(ring_packet_footprint(21), 32u);
}

TEST(RingRules, SignalAfterWriteOnlyOnEmptyToNonEmptyUnmasked) {
  EXPECT_TRUE(ring_signal_after_write(64, 64, 0));
  EXPECT_FALSE(ring_signal_after_write(64, 64, 1));  // reader masked interrupts
  EXPECT_FALSE(ring_signal_after_write(64, 32, 0));  // ring was not empty
  EXPECT_EQ(ring_trailer(0x10), 0x0000001000000000ull);
}

TEST(RingRules, SignalAfterReadOnlyWhenCrossingPending) {
  const std::uint32_t size = 4096;
  // write at 1000, read moves 0 -> 100: free goes 3096 -> 3196.
  EXPECT_TRUE(ring_signal_after_read(0, 100, 1000, 3100, size));
  EXPECT_TRUE(ring_signal_after_read(0, 100, 1000, 3096, size));   // free_before == pending counts as blocked
  EXPECT_FALSE(ring_signal_after_read(0, 100, 1000, 3095, size));  // writer was not blocked
  EXPECT_FALSE(ring_signal_after_read(0, 100, 1000, 3196, size));  // exactly pending is still not enough
  EXPECT_TRUE(ring_signal_after_read(0, 100, 1000, 3195, size));
  EXPECT_FALSE(ring_signal_after_read(0, 100, 1000, 0, size));       // writer not waiting
  EXPECT_FALSE(ring_signal_after_read(100, 100, 1000, 3100, size));  // nothing read
}

TEST(RingRules, SignalAfterReadAcrossWrap) {
  // write at 64, read moves 4000 -> 16 (wrapped): before 4096-160=3936 free, after 4096-48=4048.
  EXPECT_TRUE(ring_signal_after_read(4000, 16, 64, 4000, 4096));
  EXPECT_FALSE(ring_signal_after_read(4000, 16, 64, 3900, 4096));
  // Draining completely: free becomes the whole ring.
  EXPECT_TRUE(ring_signal_after_read(4000, 64, 64, 4095, 4096));
}

TEST(RingRules, SignalAfterReadInconsistentInputsNeverSignal) {
  // new_read past the write index: freed > free_now.
  EXPECT_FALSE(ring_signal_after_read(0, 2000, 1000, 100, 4096));
}

// ---------------------------------------------------------------------------
// Golden writes
// ---------------------------------------------------------------------------

TEST(RingWrite, GoldenInbandAtKnownIndex) {
  TestRing t(1);
  RingView v = t.view();
  v.set_write_index(0x10);
  v.set_read_index(0x10);
  Bytes pkt = encode(InbandPacket{1, 0x1122334455667788ull, bytes_of(0xaa, 0xbb, 0xcc, 0xdd, 0xee)});
  auto r = v.write(pkt);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);  // empty -> non-empty, mask 0
  EXPECT_EQ(v.write_index(), 0x30u);
  EXPECT_EQ(v.read_index(), 0x10u);
  EXPECT_EQ(t.data(0x10, 32),
            bytes_of(0x06, 0x00, 0x02, 0x00, 0x03, 0x00, 0x01, 0x00,    // descriptor
                     0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,    // trans_id
                     0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x00, 0x00, 0x00,    // payload + zero padding
                     0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00));  // trailer: 0x10 << 32
  EXPECT_EQ(t.data(0, 16), Bytes(16));                                  // nothing before
  EXPECT_EQ(t.data(0x30, 8), Bytes(8));                                 // nothing after
}

TEST(RingWrite, GatheredPartsPadded) {
  TestRing t(1);
  RingView v = t.view();
  auto desc = encode_descriptor(*make_descriptor(PacketType::data_inband, 0, 3, 16, 3));
  Bytes payload = bytes_of(0xa, 0xb, 0xc);
  ByteSpan parts[] = {ByteSpan(desc).first(5), ByteSpan(desc).subspan(5), payload};
  ASSERT_TRUE(v.write(parts).ok());
  EXPECT_EQ(t.data(0, 32), bytes_of(6, 0, 2, 0, 3, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,  //
                                    0xa, 0xb, 0xc, 0, 0, 0, 0, 0,                    //
                                    0, 0, 0, 0, 0, 0, 0, 0));                        // trailer: 0 << 32
}

TEST(RingWrite, GoldenWrappedPayload) {
  TestRing t(1);
  RingView v = t.view();
  v.set_write_index(0xff0);
  v.set_read_index(0xff0);
  Bytes pkt = encode(InbandPacket{0, 2, bytes_of(1, 2, 3, 4, 5, 6, 7, 8)});
  ASSERT_TRUE(v.write(pkt).ok());
  EXPECT_EQ(v.write_index(), 16u);
  EXPECT_EQ(t.data(0xff0, 16), bytes_of(6, 0, 2, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0));
  EXPECT_EQ(t.data(0, 16), bytes_of(1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0xf0, 0x0f, 0, 0));
}

TEST(RingWrite, GoldenWrappedInsideDescriptor) {
  TestRing t(1);
  RingView v = t.view();
  v.set_write_index(0xff8);
  v.set_read_index(0xff8);
  Bytes pkt = encode(InbandPacket{0, 0x0102030405060708ull, bytes_of(9)});
  ASSERT_TRUE(v.write(pkt).ok());
  EXPECT_EQ(v.write_index(), 24u);
  EXPECT_EQ(t.data(0xff8, 8), bytes_of(6, 0, 2, 0, 3, 0, 0, 0));
  EXPECT_EQ(t.data(0, 24),
            bytes_of(8, 7, 6, 5, 4, 3, 2, 1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf8, 0x0f, 0, 0));
  // Read back: two spans, and the copy is the original packet.
  auto p = v.peek();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->first.size(), 8u);
  EXPECT_EQ(p->second.size(), 16u);
  EXPECT_EQ(p->next_read_index, 24u);
  Bytes out(64);
  auto r = v.read(out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(r->size)), pkt);
  EXPECT_EQ(v.read_index(), 24u);
}

TEST(RingWrite, GoldenTrailerWrapsAlone) {
  TestRing t(1);
  RingView v = t.view();
  v.set_write_index(0xfe8);
  v.set_read_index(0xfe8);
  Bytes pkt = encode(InbandPacket{0, 0, bytes_of(1)});  // 24 bytes fill the page exactly
  ASSERT_TRUE(v.write(pkt).ok());
  EXPECT_EQ(v.write_index(), 8u);
  EXPECT_EQ(t.data(0, 8), bytes_of(0, 0, 0, 0, 0xe8, 0x0f, 0, 0));
}

TEST(RingWrite, EachPacketTypeThroughRing) {
  TestRing t(1);
  RingView v = t.view();
  GpaDirectPacket g;
  g.trans_id = 3;
  g.ranges.push_back(GpaRange{4096, 0, {0x99}});
  g.payload = bytes_of(1, 2, 3);
  TransferPagePacket x;
  x.xfer_pageset_id = 0xcafe;
  x.ranges = {{10, 20}};
  x.payload = bytes_of(4, 5);
  std::vector<Bytes> pkts = {encode(InbandPacket{1, 1, bytes_of(7)}),
                             encode(CompletionPacket{0, 1, bytes_of(8)}), encode(g), encode(x)};
  for (const Bytes& p : pkts) ASSERT_TRUE(v.write(p).ok());
  Bytes out(256);
  auto r0 = v.read(out);
  ASSERT_TRUE(r0.ok());
  EXPECT_TRUE(decode_inband(ByteSpan(out).first(r0->size)).ok());
  auto r1 = v.read(out);
  ASSERT_TRUE(r1.ok());
  EXPECT_TRUE(decode_completion(ByteSpan(out).first(r1->size)).ok());
  auto r2 = v.read(out);
  ASSERT_TRUE(r2.ok());
  auto gd = decode_gpa_direct(ByteSpan(out).first(r2->size));
  ASSERT_TRUE(gd.ok());
  EXPECT_EQ(gd->ranges, g.ranges);
  auto r3 = v.read(out);
  ASSERT_TRUE(r3.ok());
  auto xd = decode_transfer_page(ByteSpan(out).first(r3->size));
  ASSERT_TRUE(xd.ok());
  EXPECT_EQ(xd->ranges, x.ranges);
  EXPECT_EQ(v.read(out).error().code, Errc::empty);
}

// ---------------------------------------------------------------------------
// Full / empty edges
// ---------------------------------------------------------------------------

TEST(RingWrite, ExactlyFittingWriteRejected) {
  TestRing t(1);
  RingView v = t.view();
  // footprint 4096 == free 4096: rejected.
  auto r = v.write(inband(4096 - 8 - 16));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::no_space);
  EXPECT_STREQ(r.error().field, "ring.free");
  EXPECT_EQ(v.write_index(), 0u);
  // footprint 4088 < 4096: accepted, 8 bytes stay free and nothing else fits.
  ASSERT_TRUE(v.write(inband(4096 - 16 - 16)).ok());
  EXPECT_EQ(*v.bytes_to_write(), 8u);
  EXPECT_EQ(v.write(inband(0)).error().code, Errc::no_space);
}

TEST(RingWrite, ExactFitRejectedWhenNotEmptyEither) {
  TestRing t(1);
  RingView v = t.view();
  ASSERT_TRUE(v.write(inband(0)).ok());  // 24 bytes used
  Bytes out(64);
  ASSERT_TRUE(v.read(out).ok());  // empty again, indices at 24
  ASSERT_TRUE(v.write(inband(1000)).ok());
  std::uint32_t free_bytes = *v.bytes_to_write();
  // A packet whose footprint equals the free space is rejected; 8 less is accepted.
  EXPECT_EQ(v.write(inband(free_bytes - 24)).error().code, Errc::no_space);
  EXPECT_TRUE(v.write(inband(free_bytes - 32)).ok());
  EXPECT_EQ(*v.bytes_to_write(), 8u);
}

TEST(RingRead, EmptyRingIsNamedError) {
  TestRing t(1);
  RingView v = t.view();
  auto r = v.peek();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::empty);
  EXPECT_STREQ(r.error().field, "ring.empty");
}

TEST(RingRead, OutBufferTooSmallLeavesRingUnchanged) {
  TestRing t(1);
  RingView v = t.view();
  ASSERT_TRUE(v.write(inband(100)).ok());
  Bytes before = t.buf;
  Bytes out(64);
  auto r = v.read(out);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().field, "ring.out");
  EXPECT_EQ(t.buf, before);
}

TEST(RingRead, ConsumeAfterReadIndexMovedRejected) {
  TestRing t(1);
  RingView v = t.view();
  ASSERT_TRUE(v.write(inband(8)).ok());
  ASSERT_TRUE(v.write(inband(8)).ok());
  auto p = v.peek();
  ASSERT_TRUE(p.ok());
  Bytes out(64);
  ASSERT_TRUE(v.read(out).ok());
  auto c = v.consume(*p);  // stale
  ASSERT_FALSE(c.ok());
  EXPECT_STREQ(c.error().field, "ring.read_index");
}

TEST(RingRead, PeekDoesNotConsume) {
  TestRing t(1);
  RingView v = t.view();
  ASSERT_TRUE(v.write(inband(8, 42)).ok());
  auto a = v.peek();
  auto b = v.peek();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->desc, b->desc);
  EXPECT_EQ(a->desc.trans_id, 42u);
  EXPECT_EQ(v.read_index(), 0u);
  ASSERT_TRUE(v.consume(*a).ok());
  EXPECT_EQ(v.read_index(), 32u);
  EXPECT_EQ(v.peek().error().code, Errc::empty);
}

// ---------------------------------------------------------------------------
// Signals through the view
// ---------------------------------------------------------------------------

TEST(RingSignal, WriteSignalsOnlyWhenEmptyAndUnmasked) {
  TestRing t(1);
  RingView v = t.view();
  EXPECT_TRUE(*v.write(inband(8)));
  EXPECT_FALSE(*v.write(inband(8)));  // not empty before
  Bytes out(64);
  ASSERT_TRUE(v.read(out).ok());
  ASSERT_TRUE(v.read(out).ok());
  v.set_interrupt_mask(1);
  EXPECT_FALSE(*v.write(inband(8)));  // masked
  ASSERT_TRUE(v.read(out).ok());
  v.set_interrupt_mask(0);
  EXPECT_TRUE(*v.write(inband(8)));
}

TEST(RingSignal, ReadSignalsWhenPendingSendSizeSatisfied) {
  TestRing t(1);
  RingView v = t.view();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(v.write(inband(1000)).ok());  // 3 x 1032 bytes
  std::uint32_t free0 = *v.bytes_to_write();
  v.set_feature_bits(kRingFeaturePendingSendSz);
  v.set_pending_send_sz(free0 + 100);  // writer waits for a bit more space
  Bytes out(2048);
  auto r = v.read(out);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->signal);
  r = v.read(out);  // already above pending: no second signal
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->signal);
}

TEST(RingSignal, ReadDoesNotSignalWithoutFeatureBit) {
  TestRing t(1);
  RingView v = t.view();
  ASSERT_TRUE(v.write(inband(1000)).ok());
  v.set_pending_send_sz(*v.bytes_to_write());
  Bytes out(2048);
  auto r = v.read(out);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->signal);
}

TEST(RingSignal, ReadDoesNotSignalWhenStillShort) {
  TestRing t(1);
  RingView v = t.view();
  ASSERT_TRUE(v.write(inband(100)).ok());
  ASSERT_TRUE(v.write(inband(100)).ok());
  v.set_feature_bits(kRingFeaturePendingSendSz);
  v.set_pending_send_sz(4096);  // can never be satisfied (free <= size)
  Bytes out(256);
  EXPECT_FALSE(v.read(out)->signal);
  EXPECT_FALSE(v.read(out)->signal);
}

// ---------------------------------------------------------------------------
// Corrupt rings: named error, ring unchanged
// ---------------------------------------------------------------------------

void expect_all_fail_unchanged(TestRing& t, const char* field) {
  RingView v = t.view();
  Bytes before = t.buf;
  Bytes out(8192);
  auto p = v.peek();
  ASSERT_FALSE(p.ok());
  EXPECT_STREQ(p.error().field, field);
  auto r = v.read(out);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().field, field);
  EXPECT_EQ(t.buf, before);
}

TEST(RingCorrupt, WriteIndexOutOfRange) {
  TestRing t(1);
  RingView v = t.view();
  ASSERT_TRUE(v.write(inband(8)).ok());
  v.set_write_index(4096);
  expect_all_fail_unchanged(t, "ring.write_index");
  Bytes before = t.buf;
  EXPECT_STREQ(v.write(inband(8)).error().field, "ring.write_index");
  EXPECT_EQ(t.buf, before);
  v.set_write_index(0xffffffffu);
  expect_all_fail_unchanged(t, "ring.write_index");
}

TEST(RingCorrupt, WriteIndexUnaligned) {
  TestRing t(1);
  RingView v = t.view();
  ASSERT_TRUE(v.write(inband(8)).ok());
  v.set_write_index(33);
  expect_all_fail_unchanged(t, "ring.write_index");
  EXPECT_EQ(v.bytes_to_read().error().code, Errc::bad_value);
}

TEST(RingCorrupt, ReadIndexOutOfRangeOrUnaligned) {
  TestRing t(1);
  RingView v = t.view();
  ASSERT_TRUE(v.write(inband(8)).ok());
  for (std::uint32_t bad : {4096u, 4100u, 4u, 0x80000000u}) {
    v.set_read_index(bad);
    expect_all_fail_unchanged(t, "ring.read_index");
    Bytes before = t.buf;
    EXPECT_STREQ(v.write(inband(8)).error().field, "ring.read_index");
    EXPECT_EQ(t.buf, before);
  }
}

TEST(RingCorrupt, FewerBytesThanMinimalPacket) {
  TestRing t(1);
  RingView v = t.view();
  for (std::uint32_t n : {8u, 16u}) {
    v.set_read_index(0);
    v.set_write_index(n);
    expect_all_fail_unchanged(t, "ring.packet");
  }
}

TEST(RingCorrupt, LengthBeyondAvailable) {
  TestRing t(1);
  RingView v = t.view();
  ASSERT_TRUE(v.write(inband(8)).ok());       // 24 bytes + trailer
  t.buf[kRingHeaderSize + 4] = std::byte{4};  // len8 4: 32 + 8 > 32 available
  expect_all_fail_unchanged(t, "packet.len8");
  t.buf[kRingHeaderSize + 4] = std::byte{0xff};
  t.buf[kRingHeaderSize + 5] = std::byte{0xff};
  expect_all_fail_unchanged(t, "packet.len8");
}

TEST(RingCorrupt, LengthCoveringTrailerOnlyRejected) {
  TestRing t(1);
  RingView v = t.view();
  ASSERT_TRUE(v.write(inband(8)).ok());       // 32 bytes available
  t.buf[kRingHeaderSize + 4] = std::byte{4};  // 32 bytes: no room left for the trailer
  expect_all_fail_unchanged(t, "packet.len8");
}

TEST(RingCorrupt, OffsetInsideDescriptor) {
  TestRing t(1);
  RingView v = t.view();
  ASSERT_TRUE(v.write(inband(8)).ok());
  t.buf[kRingHeaderSize + 2] = std::byte{1};
  expect_all_fail_unchanged(t, "packet.offset8");
  t.buf[kRingHeaderSize + 2] = std::byte{0};
  expect_all_fail_unchanged(t, "packet.offset8");
}

TEST(RingCorrupt, OffsetBeyondLength) {
  TestRing t(1);
  RingView v = t.view();
  ASSERT_TRUE(v.write(inband(8)).ok());
  t.buf[kRingHeaderSize + 2] = std::byte{4};  // offset8 4 > len8 3
  expect_all_fail_unchanged(t, "packet.offset8");
}

TEST(RingCorrupt, ErrorOffsetPointsIntoRing) {
  TestRing t(1);
  RingView v = t.view();
  v.set_read_index(0x100);
  v.set_write_index(0x100);
  ASSERT_TRUE(v.write(inband(8)).ok());
  t.buf[kRingHeaderSize + 0x100 + 4] = std::byte{0x40};
  auto r = v.peek();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().offset, kRingHeaderSize + 0x100 + 4);
}

TEST(RingWrite, MalformedPacketRejected) {
  TestRing t(1);
  RingView v = t.view();
  Bytes before = t.buf;
  Bytes pkt = inband(8);
  pkt[4] = std::byte{2};  // len8 says 16 but 24 bytes given
  EXPECT_STREQ(v.write(pkt).error().field, "packet.len8");
  Bytes short_pkt = bytes_of(6, 0, 2, 0);
  EXPECT_EQ(v.write(short_pkt).error().code, Errc::truncated);
  Bytes bad_off = inband(8);
  bad_off[2] = std::byte{1};
  EXPECT_STREQ(v.write(bad_off).error().field, "packet.offset8");
  EXPECT_EQ(t.buf, before);
}

// ---------------------------------------------------------------------------
// Property test against a reference queue
// ---------------------------------------------------------------------------

struct Model {
  std::deque<Bytes> packets;
  std::size_t used = 0;
};

void run_random_ops(std::size_t data_pages, std::uint32_t seed, int ops) {
  TestRing t(data_pages);
  RingView v = t.view();
  const std::uint32_t size = v.data_size();
  // Start somewhere other than 0 so wrap-around happens early.
  std::mt19937 gen(seed);
  auto rng = [&gen] { return static_cast<std::uint32_t>(gen()); };
  std::uint32_t start = static_cast<std::uint32_t>(rng() % (size / 8)) * 8;
  v.set_read_index(start);
  v.set_write_index(start);
  Model m;
  Bytes out(size);
  std::uint64_t trans = 0;
  int wraps = 0, fulls = 0, empties = 0;
  for (int i = 0; i < ops; ++i) {
    std::uint32_t op = rng() % 100;
    if (op < 3) v.set_interrupt_mask(rng() % 2);
    if (op < 6) {
      v.set_feature_bits(rng() % 2);
      v.set_pending_send_sz(rng() % 3 == 0 ? 0 : static_cast<std::uint32_t>(rng() % (size + 64)));
    }
    // Alternate filling and draining phases so both full and empty are reached.
    const std::uint32_t write_share = (i / 150) % 2 == 0 ? 70 : 30;
    if (op < write_share) {
      // Sizes skewed small, sometimes large, always including odd ones.
      std::size_t max = (rng() % 8 == 0) ? size : 300;
      std::size_t n = rng() % max;
      const std::byte fill{static_cast<std::uint8_t>(i)};
      Bytes pkt;
      switch (rng() % 4) {
        case 0:
          pkt = encode(InbandPacket{static_cast<std::uint16_t>(rng() % 2), ++trans, Bytes(n, fill)});
          break;
        case 1:
          pkt = encode(CompletionPacket{0, ++trans, Bytes(n, fill)});
          break;
        case 2: {
          GpaDirectPacket g;
          g.trans_id = ++trans;
          auto bytes = static_cast<std::uint32_t>(n);
          g.ranges.push_back(
              GpaRange{bytes, 0, std::vector<std::uint64_t>(gpa_range_pfn_count(0, bytes), 5)});
          g.payload = Bytes(n / 2, fill);
          pkt = encode(g);
          break;
        }
        default: {
          TransferPagePacket x;
          x.trans_id = ++trans;
          x.ranges.assign(n % 5, TransferPageRange{1, 2});
          x.payload = Bytes(n, fill);
          pkt = encode(x);
        }
      }
      ASSERT_FALSE(pkt.empty());
      std::size_t foot = ring_packet_footprint(pkt.size());
      std::uint32_t old_write = v.write_index();
      bool was_empty = m.packets.empty();
      bool mask = v.interrupt_mask() != 0;
      auto r = v.write(pkt);
      bool fits = size - m.used > foot;
      ASSERT_EQ(r.ok(), fits) << "op " << i << " used " << m.used << " foot " << foot;
      if (!fits) {
        ++fulls;
        EXPECT_EQ(r.error().code, Errc::no_space);
        continue;
      }
      EXPECT_EQ(*r, was_empty && !mask) << i;
      if (old_write + foot > size) ++wraps;
      m.packets.push_back(pkt);
      m.used += foot;
    } else {
      bool use_peek = rng() % 2 == 0;
      std::size_t free_before = size - m.used;
      if (m.packets.empty()) {
        ++empties;
        EXPECT_EQ(v.peek().error().code, Errc::empty);
        EXPECT_EQ(v.read(out).error().code, Errc::empty);
        continue;
      }
      const Bytes& want = m.packets.front();
      bool signal = false;
      if (use_peek) {
        auto p = v.peek();
        ASSERT_TRUE(p.ok()) << p.error().message();
        Bytes got(p->first.begin(), p->first.end());
        got.insert(got.end(), p->second.begin(), p->second.end());
        ASSERT_EQ(got, want) << i;
        auto c = v.consume(*p);
        ASSERT_TRUE(c.ok());
        signal = *c;
      } else {
        auto r = v.read(out);
        ASSERT_TRUE(r.ok()) << r.error().message();
        ASSERT_EQ(Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(r->size)), want) << i;
        signal = r->signal;
      }
      std::size_t foot = ring_packet_footprint(want.size());
      m.used -= foot;
      m.packets.pop_front();
      std::size_t free_after = size - m.used;
      std::uint32_t pending = v.pending_send_sz();
      bool want_signal =
          (v.feature_bits() & 1) && pending != 0 && free_before <= pending && free_after > pending;
      EXPECT_EQ(signal, want_signal) << i;
    }
    ASSERT_EQ(*v.bytes_to_read(), m.used) << i;
  }
  // The run must have exercised every edge.
  EXPECT_GT(wraps, 0);
  EXPECT_GT(fulls, 0);
  EXPECT_GT(empties, 0);
}

TEST(RingProperty, RandomOpsOneDataPage) {
  for (std::uint32_t seed = 1; seed <= 4; ++seed) run_random_ops(1, seed, 3000);
}
TEST(RingProperty, RandomOpsTwoDataPages) {
  for (std::uint32_t seed = 10; seed <= 13; ++seed) run_random_ops(2, seed, 3000);
}
TEST(RingProperty, RandomOpsThreeDataPages) { run_random_ops(3, 99, 5000); }
TEST(RingProperty, RandomOpsSixteenDataPages) { run_random_ops(16, 7, 5000); }

}  // namespace
}  // namespace vmbh::proto
