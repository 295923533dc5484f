#include "vmbh/host/guest_ram.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <vector>

namespace vmbh::host {
namespace {

constexpr std::size_t kPage = 4096;

TEST(GuestRam, MapPagesIsContiguousAndSharedWithTheGuestView) {
  auto ram = GuestRam::create_anonymous(64 * kPage);
  ASSERT_TRUE(ram) << ram.message();
  auto whole = ram->map_range(0, 64 * kPage);
  ASSERT_TRUE(whole) << whole.message();
  // Mark each guest page with its frame number.
  for (std::uint32_t p = 0; p < 64; ++p) std::memcpy(whole->bytes().data() + p * kPage, &p, sizeof p);

  const std::array<std::uint64_t, 5> pfns{9, 3, 4, 5, 40};  // out of order, one run of three
  auto m = ram->map_pages(pfns);
  ASSERT_TRUE(m) << m.message();
  ASSERT_EQ(m->bytes().size(), pfns.size() * 4096);
  for (std::size_t i = 0; i < pfns.size(); ++i) {
    std::uint32_t v = 0;
    std::memcpy(&v, m->bytes().data() + i * kPage, sizeof v);
    EXPECT_EQ(v, pfns[i]) << "page " << i;
  }
  // A write through the contiguous view lands in the guest page.
  const std::uint32_t marker = 0xfeedface;
  std::memcpy(m->bytes().data() + 4096 + 8, &marker, sizeof marker);
  std::uint32_t seen = 0;
  std::memcpy(&seen, whole->bytes().data() + 3 * kPage + 8, sizeof seen);
  EXPECT_EQ(seen, marker);
}

TEST(GuestRam, PagesOutsideRamAreRejectedWithTheirAddress) {
  auto ram = GuestRam::create_anonymous(16 * kPage);
  ASSERT_TRUE(ram);
  const std::array<std::uint64_t, 2> pfns{1, 16};
  auto m = ram->map_pages(pfns);
  ASSERT_FALSE(m);
  EXPECT_NE(m.message().find("0x10000"), std::string::npos) << m.message();
  EXPECT_FALSE(ram->map_pages({}));
  EXPECT_FALSE(ram->map_range(15 * kPage, 2 * kPage));
  EXPECT_FALSE(ram->map_range(100, 4096));
  const std::array<std::uint64_t, 1> huge{UINT64_MAX};
  EXPECT_FALSE(ram->map_pages(huge));
}

TEST(GuestRam, RegionsMapFileOffsets) {
  // Two regions as QEMU lays out RAM split at 4 GiB: gpa 0..8 pages at file 0,
  // gpa 4 GiB.. at file 8 pages.
  auto anon = GuestRam::create_anonymous(16 * kPage);
  ASSERT_TRUE(anon);
  auto flat = anon->map_range(0, 16 * kPage);
  ASSERT_TRUE(flat);
  std::memset(flat->bytes().data() + 8 * kPage, 0xab, 4096);
  int fd = memfd_create("t", 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 16 * kPage), 0);
  auto split = GuestRam::adopt(fd, {{0, 8 * kPage, 0}, {0x100000000ull, 8 * kPage, 8 * kPage}});
  ASSERT_TRUE(split) << split.message();
  const std::array<std::uint64_t, 1> high{0x100000000ull / 4096};
  auto m = split->map_pages(high);
  ASSERT_TRUE(m) << m.message();
  const std::array<std::uint64_t, 1> hole{9};
  EXPECT_FALSE(split->map_pages(hole));
  EXPECT_FALSE(GuestRam::adopt(-1, {}));
  int fd2 = memfd_create("t2", 0);
  EXPECT_FALSE(GuestRam::adopt(fd2, {{1, 4096, 0}}));  // misaligned: fd2 closed by adopt
}

std::uint32_t word_at(const GuestMapping& m, std::size_t offset) {
  std::uint32_t v = 0;
  std::memcpy(&v, m.bytes().data() + offset, sizeof v);
  return v;
}

TEST(GuestRam, CachedMappingsAreHandedOutAgainForTheSameFramesOnly) {
  auto ram = GuestRam::create_anonymous(64 * kPage);
  ASSERT_TRUE(ram);
  ram->set_mapping_cache(2);
  const std::array<std::uint64_t, 3> a{9, 3, 4};
  const std::array<std::uint64_t, 3> b{9, 3, 5};
  std::byte* first = nullptr;
  {
    auto m = ram->map_pages(a);
    ASSERT_TRUE(m);
    first = m->bytes().data();
    const std::uint32_t marker = 0x5eed;
    std::memcpy(m->bytes().data() + 2 * kPage, &marker, sizeof marker);  // frame 4
  }
  auto again = ram->map_pages(a);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->bytes().data(), first) << "the released mapping is reused";
  EXPECT_EQ(word_at(*again, 2 * kPage), 0x5eedu);
  // While it is in use, the same frames get a second mapping of the same memory.
  auto twin = ram->map_pages(a);
  ASSERT_TRUE(twin);
  EXPECT_NE(twin->bytes().data(), again->bytes().data());
  EXPECT_EQ(word_at(*twin, 2 * kPage), 0x5eedu);
  // Other frames never get it.
  auto other = ram->map_pages(b);
  ASSERT_TRUE(other);
  EXPECT_EQ(word_at(*other, 2 * kPage), 0u) << "frame 5, not 4";
}

#if defined(__SANITIZE_ADDRESS__)
#define VMBH_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VMBH_TEST_ASAN 1
#endif
#endif

TEST(GuestRamDeathTest, ACachedMappingIsPoisonedUntilHandedOutAgain) {
#ifndef VMBH_TEST_ASAN
  GTEST_SKIP() << "only ASan builds see the poison";
#else
  auto ram = GuestRam::create_anonymous(16 * kPage);
  ASSERT_TRUE(ram);
  ram->set_mapping_cache(4);
  const std::array<std::uint64_t, 1> pfn{5};
  std::byte* addr = nullptr;
  {
    auto m = ram->map_pages(pfn);
    ASSERT_TRUE(m);
    addr = m->bytes().data();
    addr[0] = std::byte{1};
  }
  // A use after release is reported as a use of freed heap would be.
  volatile std::byte* stale = addr;
  EXPECT_DEATH(stale[0] = std::byte{2}, "use-after-poison");
  auto again = ram->map_pages(pfn);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->bytes().data(), addr);
  EXPECT_EQ(again->bytes()[0], std::byte{1});
  again->bytes()[1] = std::byte{3};
#endif
}

TEST(GuestRam, ACachedMappingShowsWritesMadeThroughOtherMappings) {
  auto ram = GuestRam::create_anonymous(16 * kPage);
  ASSERT_TRUE(ram);
  ram->set_mapping_cache(4);
  const std::array<std::uint64_t, 2> pfns{7, 2};
  { ASSERT_TRUE(ram->map_pages(pfns)); }  // cached
  auto whole = ram->map_range(0, 16 * kPage);
  ASSERT_TRUE(whole);
  const std::uint32_t marker = 0xabcd;
  std::memcpy(whole->bytes().data() + 2 * kPage + 4, &marker, sizeof marker);
  auto m = ram->map_pages(pfns);
  ASSERT_TRUE(m);
  EXPECT_EQ(word_at(*m, kPage + 4), marker);
}

TEST(GuestRam, EvictionAndOversizedMappingsStillWork) {
  auto ram = GuestRam::create_anonymous(256 * kPage);
  ASSERT_TRUE(ram);
  ram->set_mapping_cache(1);
  for (std::uint64_t p = 0; p < 8; ++p) {
    const std::array<std::uint64_t, 1> one{p};
    auto m = ram->map_pages(one);
    ASSERT_TRUE(m);
    std::memcpy(m->bytes().data(), &p, sizeof p);
  }
  std::vector<std::uint64_t> many(100);  // more than a cache slot holds
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = 199 - i;
  for (int round = 0; round < 2; ++round) {
    auto m = ram->map_pages(many);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->bytes().size(), many.size() * kPage);
  }
  auto whole = ram->map_range(0, 8 * kPage);
  ASSERT_TRUE(whole);
  for (std::uint32_t p = 0; p < 8; ++p) EXPECT_EQ(word_at(*whole, p * kPage), p);
  // A mapping outliving its GuestRam still unmaps cleanly (ASan/valgrind).
  const std::array<std::uint64_t, 1> last{3};
  auto survivor = ram->map_pages(last);
  ASSERT_TRUE(survivor);
  { GuestRam gone = std::move(ram).value(); }
  EXPECT_EQ(word_at(*survivor, 0), 3u);
}

TEST(GuestRam, ZeroTouchedClearsEveryMappedPageAndNothingElseIsNeeded) {
  auto ram = GuestRam::create_anonymous(32 * kPage);
  ASSERT_TRUE(ram);
  ram->track_touched();
  ram->set_mapping_cache(4);
  const std::array<std::uint64_t, 3> ring{20, 5, 6};
  {
    auto m = ram->map_pages(ring);
    ASSERT_TRUE(m);
    std::memset(m->bytes().data(), 0xa5, m->bytes().size());
  }
  const std::array<std::uint64_t, 1> one{11};
  auto held = ram->map_pages(one);  // still mapped at zero_touched(): cleared too
  ASSERT_TRUE(held);
  std::memset(held->bytes().data(), 0x5a, kPage);
  ASSERT_TRUE(ram->zero_touched());
  EXPECT_EQ(word_at(*held, 100), 0u);
  // Every byte of RAM is zero again.
  {
    auto whole = ram->map_range(0, 32 * kPage);
    ASSERT_TRUE(whole);
    for (std::byte b : whole->bytes()) ASSERT_EQ(b, std::byte{0});
    std::memset(whole->bytes().data(), 0x11, whole->bytes().size());  // touches every page
  }
  ASSERT_TRUE(ram->zero_touched());
  auto whole = ram->map_range(0, 32 * kPage);
  ASSERT_TRUE(whole);
  for (std::byte b : whole->bytes()) ASSERT_EQ(b, std::byte{0});
}

TEST(GuestRam, ZeroPagesClearsFramesWithoutMappingThem) {
  auto anon = GuestRam::create_anonymous(16 * kPage);
  ASSERT_TRUE(anon);
  auto whole = anon->map_range(0, 16 * kPage);
  ASSERT_TRUE(whole);
  std::memset(whole->bytes().data(), 0x77, whole->bytes().size());
  const std::array<std::uint64_t, 2> pfns{3, 9};
  ASSERT_TRUE(anon->zero_pages(pfns));
  EXPECT_EQ(word_at(*whole, 3 * kPage + 8), 0u);
  EXPECT_EQ(word_at(*whole, 9 * kPage + 4092), 0u);
  EXPECT_EQ(word_at(*whole, 4 * kPage), 0x77777777u);
  const std::array<std::uint64_t, 1> outside{16};
  EXPECT_FALSE(anon->zero_pages(outside));
  // Without tracking, zero_touched() clears all of RAM.
  ASSERT_TRUE(anon->zero_touched());
  for (std::byte b : whole->bytes()) ASSERT_EQ(b, std::byte{0});

  // Regions at file offsets: frame 0x100000 is at file page 8.
  int fd = memfd_create("t", 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 16 * kPage), 0);
  auto split = GuestRam::adopt(fd, {{0, 8 * kPage, 0}, {0x100000000ull, 8 * kPage, 8 * kPage}});
  ASSERT_TRUE(split);
  split->track_touched();
  const std::array<std::uint64_t, 1> high{0x100000000ull / 4096 + 1};
  auto m = split->map_pages(high);
  ASSERT_TRUE(m);
  std::memset(m->bytes().data(), 0x42, kPage);
  ASSERT_TRUE(split->zero_pages(high));
  EXPECT_EQ(word_at(*m, 12), 0u);
  std::memset(m->bytes().data(), 0x42, kPage);
  ASSERT_TRUE(split->zero_touched());
  EXPECT_EQ(word_at(*m, 12), 0u);
}

}  // namespace
}  // namespace vmbh::host
