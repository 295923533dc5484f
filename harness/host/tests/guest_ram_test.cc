#include "vmbh/host/guest_ram.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstring>

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

}  // namespace
}  // namespace vmbh::host
