#include "vmbh/protocols/gpadl.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "vmbh/protocols/vmbus.h"

namespace vmbh::proto {
namespace {

std::vector<std::uint64_t> pfn_run(std::size_t n, std::uint64_t first = 0x10000) {
  std::vector<std::uint64_t> v(n);
  std::iota(v.begin(), v.end(), first);
  return v;
}

Result<Gpadl> assemble(const GpadlMessages& msgs, GpadlLimits limits = {}) {
  GpadlAssembler a(limits);
  if (Status s = a.start(msgs.header); !s) return s.error();
  for (const auto& b : msgs.bodies) {
    if (Status s = a.add_body(b); !s) return s.error();
  }
  return a.finish();
}

GpadlHeader header_for(std::size_t total_pfns, std::size_t in_header, std::uint32_t gpadl = 7) {
  GpadlHeader h;
  h.child_relid = 1;
  h.gpadl = gpadl;
  h.rangecount = 1;
  h.range_buflen = static_cast<std::uint16_t>(8 + 8 * total_pfns);
  h.byte_count = static_cast<std::uint32_t>(4096 * total_pfns);
  for (std::size_t i = 0; i < in_header; ++i) h.pfns.push_back(100 + i);
  return h;
}

GpadlBody body_for(std::size_t n, std::uint32_t gpadl = 7, std::uint32_t msgnumber = 0) {
  GpadlBody b;
  b.gpadl = gpadl;
  b.msgnumber = msgnumber;
  for (std::size_t i = 0; i < n; ++i) b.pfns.push_back(500 + i);
  return b;
}

TEST(GpadlLimits, FollowFromThe240BytePayload) {
  EXPECT_EQ(kGpadlHeaderMinSize, 28u);
  EXPECT_EQ(kGpadlBodyFixedSize, 16u);
  EXPECT_EQ(kGpadlHeaderMaxPfns, 26u);
  EXPECT_EQ(kGpadlBodyMaxPfns, 28u);
  EXPECT_EQ(kGpadlMaxPfns, 8190u);
  EXPECT_EQ(kLinuxFirstGpadlHandle, 0xE1E10u);
  EXPECT_EQ(gpa_range_page_count(4096, 0), 1u);
  EXPECT_EQ(gpa_range_page_count(4097, 0), 2u);
  EXPECT_EQ(gpa_range_page_count(4096, 1), 2u);
  EXPECT_EQ(gpa_range_page_count(0xFFFFFFFF, 4095), 0x100001u);  // no overflow
}

TEST(GpadlLimits, PfnArrayHoldsItsCapacity) {
  PfnArray<kGpadlHeaderMaxPfns> a;
  for (std::size_t i = 0; i < kGpadlHeaderMaxPfns; ++i) EXPECT_TRUE(a.push_back(i));
  EXPECT_TRUE(a.full());
  EXPECT_FALSE(a.push_back(99));
  EXPECT_EQ(a.size(), 26u);
  PfnArray<kGpadlHeaderMaxPfns> b = a;
  EXPECT_EQ(a, b);
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_FALSE(a == b);
}

TEST(GpadlSplit, ExactlyTwentySixPfnsNeedNoBody) {
  auto pfns = pfn_run(26);
  auto m = split_gpadl(14, kLinuxFirstGpadlHandle, pfns);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->bodies.empty());
  EXPECT_EQ(m->header.pfns.size(), 26u);
  EXPECT_EQ(m->header.range_buflen, 8 + 26 * 8);
  EXPECT_EQ(m->header.rangecount, 1);
  EXPECT_EQ(m->header.byte_count, 26u * 4096);
  EXPECT_EQ(m->header.byte_offset, 0u);
  const Bytes wire = encode(ChannelMessage(m->header), VmbusVersion::win10);
  EXPECT_EQ(wire.size(), 28u + 26 * 8);  // 236: fits in 240
}

TEST(GpadlSplit, TwentySevenPfnsNeedOneBody) {
  auto pfns = pfn_run(27);
  auto m = split_gpadl(14, 9, pfns);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->bodies.size(), 1u);
  EXPECT_EQ(m->bodies[0].pfns.size(), 1u);
  EXPECT_EQ(m->bodies[0].pfns[0], pfns[26]);
  EXPECT_EQ(m->bodies[0].gpadl, 9u);
  EXPECT_EQ(m->bodies[0].msgnumber, 0u);  // Linux never numbers bodies
  EXPECT_EQ(m->header.range_buflen, 8 + 27 * 8);
}

TEST(GpadlSplit, BodiesHoldTwentyEightEach) {
  auto m = split_gpadl(1, 2, pfn_run(26 + 28));
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->bodies.size(), 1u);
  EXPECT_EQ(m->bodies[0].pfns.size(), 28u);
  EXPECT_EQ(encode(ChannelMessage(m->bodies[0]), VmbusVersion::win8).size(), 240u);
  m = split_gpadl(1, 2, pfn_run(26 + 28 + 1));
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->bodies.size(), 2u);
  EXPECT_EQ(m->bodies[1].pfns.size(), 1u);
}

TEST(GpadlSplit, OneMiBBufferRoundTripsThroughTheWire) {
  auto pfns = pfn_run(256, 0x7654300);
  auto m = split_gpadl(3, kLinuxFirstGpadlHandle, pfns);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->bodies.size(), 9u);  // 26 + 8 * 28 + 6
  EXPECT_EQ(m->bodies.back().pfns.size(), 6u);
  GpadlAssembler a;
  const auto v = VmbusVersion::win10_v5_3;
  auto h = decode_channel_message(encode(ChannelMessage(m->header), v), v);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(a.start(std::get<GpadlHeader>(*h)));
  for (const auto& b : m->bodies) {
    auto d = decode_channel_message(encode(ChannelMessage(b), v), v);
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE(a.add_body(std::get<GpadlBody>(*d)));
  }
  ASSERT_TRUE(a.complete());
  auto g = a.finish();
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(g->gpadl, kLinuxFirstGpadlHandle);
  EXPECT_EQ(g->child_relid, 3u);
  ASSERT_EQ(g->ranges.size(), 1u);
  EXPECT_EQ(g->ranges[0].byte_count, 1u << 20);
  EXPECT_EQ(g->all_pfns(), pfns);
}

TEST(GpadlSplit, RejectsInconsistentInput) {
  auto pfns = pfn_run(3);
  auto m = split_gpadl(1, 2, std::span<const std::uint64_t>{});
  ASSERT_FALSE(m.ok());
  EXPECT_STREQ(m.error().field, "gpadl_header.range_buflen");
  m = split_gpadl(1, 2, pfns, 4096 * 2, 0);  // spans 2 pages, 3 given
  ASSERT_FALSE(m.ok());
  EXPECT_STREQ(m.error().field, "gpa_range.byte_count");
  m = split_gpadl(1, 2, pfns, 4096 * 2 + 1, 0);
  EXPECT_TRUE(m.ok());
  m = split_gpadl(1, 2, pfns, 4096 * 2, 4096);
  ASSERT_FALSE(m.ok());
  EXPECT_STREQ(m.error().field, "gpa_range.byte_offset");
  m = split_gpadl(1, 2, pfns, 4096 * 2, 100);  // 100 + 8192 spans 3 pages
  EXPECT_TRUE(m.ok());
  auto huge = pfn_run(kGpadlMaxPfns + 1);
  m = split_gpadl(1, 2, huge);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::bad_length);
  auto max = pfn_run(kGpadlMaxPfns);
  m = split_gpadl(1, 2, max);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->header.range_buflen, 0xFFF8);
  EXPECT_EQ(assemble(*m)->all_pfns(), max);
}

TEST(GpadlAssembler, HeaderAloneCompletesUpToTwentySix) {
  GpadlAssembler a;
  ASSERT_TRUE(a.start(header_for(26, 26)));
  EXPECT_TRUE(a.complete());
  auto g = a.finish();
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->all_pfns().size(), 26u);
  // A further body is more PFNs than announced.
  auto s = a.add_body(body_for(1));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::bad_length);
  EXPECT_STREQ(s.error().field, "gpadl_body.pfn");
}

TEST(GpadlAssembler, TwentySevenNeedsOneBody) {
  GpadlAssembler a;
  ASSERT_TRUE(a.start(header_for(27, 26)));
  EXPECT_FALSE(a.complete());
  auto early = a.finish();
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code, Errc::truncated);
  ASSERT_TRUE(a.add_body(body_for(1)));
  EXPECT_TRUE(a.complete());
  auto g = a.finish();
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->all_pfns().back(), 500u);
}

TEST(GpadlAssembler, WrongGpadlIdInBody) {
  GpadlAssembler a;
  ASSERT_TRUE(a.start(header_for(30, 26, 7)));
  auto s = a.add_body(body_for(4, 8));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::bad_value);
  EXPECT_STREQ(s.error().field, "gpadl_body.gpadl");
  EXPECT_FALSE(a.complete());
  EXPECT_TRUE(a.add_body(body_for(4, 7)));
  EXPECT_TRUE(a.complete());
}

TEST(GpadlAssembler, TooManyPfnsInBodyRejectedWithoutChange) {
  GpadlAssembler a;
  ASSERT_TRUE(a.start(header_for(30, 26)));
  auto s = a.add_body(body_for(5));  // 4 expected
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::bad_length);
  EXPECT_EQ(a.words().size(), 26u);  // unchanged
  ASSERT_TRUE(a.add_body(body_for(3)));
  s = a.add_body(body_for(2));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(a.words().size(), 29u);
  ASSERT_TRUE(a.add_body(body_for(1)));
  EXPECT_TRUE(a.complete());
}

TEST(GpadlAssembler, DuplicateBodyAfterCompletionRejected) {
  auto m = split_gpadl(1, 7, pfn_run(40));
  ASSERT_TRUE(m.ok());
  GpadlAssembler a;
  ASSERT_TRUE(a.start(m->header));
  ASSERT_TRUE(a.add_body(m->bodies[0]));
  auto s = a.add_body(m->bodies[0]);
  ASSERT_FALSE(s.ok());
  EXPECT_STREQ(s.error().field, "gpadl_body.pfn");
  EXPECT_EQ(a.finish()->all_pfns(), pfn_run(40));
}

TEST(GpadlAssembler, SequentialPolicyCatchesDuplicateAndReorderedBodies) {
  GpadlLimits limits;
  limits.msgnumber = GpadlMsgNumberPolicy::sequential;
  GpadlAssembler a(limits);
  ASSERT_TRUE(a.start(header_for(26 + 3 * 28, 26)));
  ASSERT_TRUE(a.add_body(body_for(28, 7, 1)));
  auto dup = a.add_body(body_for(28, 7, 1));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, Errc::bad_value);
  EXPECT_STREQ(dup.error().field, "gpadl_body.msgnumber");
  auto skip = a.add_body(body_for(28, 7, 3));
  ASSERT_FALSE(skip.ok());
  EXPECT_STREQ(skip.error().field, "gpadl_body.msgnumber");
  ASSERT_TRUE(a.add_body(body_for(28, 7, 2)));
  ASSERT_TRUE(a.add_body(body_for(28, 7, 3)));
  EXPECT_TRUE(a.complete());

  // The default policy accepts Linux's all-zero numbering.
  GpadlAssembler linux_style;
  ASSERT_TRUE(linux_style.start(header_for(26 + 2 * 28, 26)));
  EXPECT_TRUE(linux_style.add_body(body_for(28, 7, 0)));
  EXPECT_TRUE(linux_style.add_body(body_for(28, 7, 0)));
  EXPECT_TRUE(linux_style.complete());
}

TEST(GpadlAssembler, BodyBeforeHeaderAndHeaderTwice) {
  GpadlAssembler a;
  auto s = a.add_body(body_for(1));
  ASSERT_FALSE(s.ok());
  EXPECT_STREQ(s.error().field, "gpadl_body.gpadl");
  ASSERT_TRUE(a.start(header_for(27, 26)));
  s = a.start(header_for(27, 26));
  ASSERT_FALSE(s.ok());
  EXPECT_STREQ(s.error().field, "gpadl_header.gpadl");
  a.reset();
  EXPECT_FALSE(a.started());
  EXPECT_TRUE(a.start(header_for(27, 26)));
}

TEST(GpadlAssembler, HeaderInconsistentWithRangeBuflen) {
  GpadlAssembler a;
  GpadlHeader h = header_for(3, 4);  // carries 4, announces 3
  auto s = a.start(h);
  ASSERT_FALSE(s.ok());
  EXPECT_STREQ(s.error().field, "gpadl_header.range_buflen");
  EXPECT_FALSE(a.started());
  h = header_for(3, 3);
  h.range_buflen = 4;
  EXPECT_FALSE(a.start(h).ok());
  h.range_buflen = 33;
  EXPECT_FALSE(a.start(h).ok());
  h = header_for(3, 3);
  h.rangecount = 0;
  s = a.start(h);
  ASSERT_FALSE(s.ok());
  EXPECT_STREQ(s.error().field, "gpadl_header.rangecount");
}

TEST(GpadlAssembler, HardCapOnAnnouncedSize) {
  GpadlLimits limits;
  limits.max_pfns = 100;
  GpadlAssembler a(limits);
  auto s = a.start(header_for(101, 26));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::bad_length);
  EXPECT_FALSE(a.started());
  EXPECT_TRUE(a.start(header_for(100, 26)));
  // The largest range_buflen a u16 allows stays within the default cap.
  GpadlAssembler b;
  GpadlHeader big = header_for(0, 0);
  big.range_buflen = 0xFFF8;
  EXPECT_TRUE(b.start(big));
  EXPECT_EQ(b.expected_words(), kGpadlMaxPfns);
}

TEST(GpadlAssembler, EmptyBodyRejected) {
  GpadlAssembler a;
  ASSERT_TRUE(a.start(header_for(27, 26)));
  auto s = a.add_body(body_for(0));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::bad_length);
}

TEST(GpadlAssembler, MultipleRanges) {
  // Range 1: 2 pages at offset 0x800 spanning 3 PFNs; range 2: 1 page.
  GpadlHeader h;
  h.gpadl = 5;
  h.rangecount = 2;
  h.byte_count = 8192;
  h.byte_offset = 0x800;
  for (std::uint64_t p : {10, 11, 12}) h.pfns.push_back(p);
  h.pfns.push_back(std::uint64_t{4096} | (std::uint64_t{0} << 32));  // range 2 header
  h.pfns.push_back(20);
  h.range_buflen = static_cast<std::uint16_t>(8 + 5 * 8);
  GpadlAssembler a;
  ASSERT_TRUE(a.start(h));
  auto g = a.finish();
  ASSERT_TRUE(g.ok()) << g.error().message();
  ASSERT_EQ(g->ranges.size(), 2u);
  EXPECT_EQ(g->ranges[0].byte_offset, 0x800u);
  EXPECT_EQ(g->ranges[0].pfns, (std::vector<std::uint64_t>{10, 11, 12}));
  EXPECT_EQ(g->ranges[1].byte_count, 4096u);
  EXPECT_EQ(g->ranges[1].pfns, (std::vector<std::uint64_t>{20}));
  EXPECT_EQ(g->all_pfns(), (std::vector<std::uint64_t>{10, 11, 12, 20}));
}

TEST(GpadlAssembler, RangesInconsistentWithBuffer) {
  GpadlAssembler a;
  GpadlHeader h = header_for(3, 3);
  h.byte_count = 4096 * 4;  // needs 4 PFNs, 3 announced
  ASSERT_TRUE(a.start(h));
  auto g = a.finish();
  ASSERT_FALSE(g.ok());
  EXPECT_STREQ(g.error().field, "gpa_range.byte_count");

  GpadlAssembler b;
  h = header_for(3, 3);
  h.byte_count = 4096 * 2;  // leaves a PFN over
  ASSERT_TRUE(b.start(h));
  g = b.finish();
  ASSERT_FALSE(g.ok());
  EXPECT_STREQ(g.error().field, "gpadl_header.range_buflen");

  GpadlAssembler c;
  h = header_for(3, 3);
  h.rangecount = 2;  // no room for a second range
  ASSERT_TRUE(c.start(h));
  g = c.finish();
  ASSERT_FALSE(g.ok());
  EXPECT_STREQ(g.error().field, "gpadl_header.rangecount");

  GpadlAssembler d;
  h = header_for(1, 1);
  h.byte_count = 0;
  ASSERT_TRUE(d.start(h));
  EXPECT_EQ(d.finish().error().code, Errc::bad_value);

  GpadlAssembler e;
  h = header_for(1, 1);
  h.byte_count = 1;
  h.byte_offset = 4096;
  ASSERT_TRUE(e.start(h));
  EXPECT_STREQ(e.finish().error().field, "gpa_range.byte_offset");
}

TEST(GpadlAssembler, HugeRangecountIsBoundedByTheWords) {
  GpadlAssembler a;
  GpadlHeader h = header_for(1, 1);
  h.rangecount = 0xFFFF;
  ASSERT_TRUE(a.start(h));
  auto g = a.finish();
  ASSERT_FALSE(g.ok());
  EXPECT_STREQ(g.error().field, "gpadl_header.rangecount");
}

}  // namespace
}  // namespace vmbh::proto
