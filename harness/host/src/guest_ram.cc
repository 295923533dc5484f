#include "vmbh/host/guest_ram.h"

#include <sanitizer/asan_interface.h>  // ASAN_(UN)POISON_MEMORY_REGION: no-ops without ASan
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

namespace vmbh::host {
namespace {

constexpr std::uint64_t kPage = 4096;

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string errno_text() { return std::strerror(errno); }

// A released mapping waits in the cache poisoned, so that under ASan a use
// after release is reported (use-after-poison) as a use of freed heap would
// be. Not mprotect(PROT_NONE): its TLB flush cost as much as the munmap the
// cache saves. Shadow is unpoisoned before any munmap, so a later mapping at
// the same address starts clean.
void hide(std::byte* base, std::size_t size) { ASAN_POISON_MEMORY_REGION(base, size); }
void unhide(std::byte* base, std::size_t size) { ASAN_UNPOISON_MEMORY_REGION(base, size); }
void unmap_hidden(std::byte* base, std::size_t size) {
  unhide(base, size);
  munmap(base, size);
}

}  // namespace

// The mappings kept for reuse, and the frames mapped since the last
// zero_touched(). Shared by a GuestRam and its mappings, so a mapping
// released after its GuestRam is gone still has somewhere to go. Storage is
// allocated once (set_capacity, track): a fuzzer's leak check counts
// mallocs and frees per input, and a cache that grew during an input would
// look like a leak.
class MappingCache {
 public:
  // Mappings of more pages are not cached (a channel's rings are a few pages).
  static constexpr std::size_t kMaxPages = 64;
  struct Slot {
    std::array<std::uint64_t, kMaxPages> pfns{};
    std::size_t count = 0;  // pages; 0: empty slot
    std::byte* base = nullptr;
    bool in_use = false;
    std::uint64_t released = 0;  // when, for least-recently-used eviction
  };

  MappingCache() = default;
  MappingCache(const MappingCache&) = delete;
  MappingCache& operator=(const MappingCache&) = delete;
  ~MappingCache() {
    for (const Slot& s : slots_) {
      if (s.count != 0 && !s.in_use) unmap_hidden(s.base, s.count * kPage);
    }
  }

  // Mappings in use when this is called are unmapped on release.
  void set_capacity(std::size_t n) {
    for (const Slot& s : slots_) {
      if (s.count != 0 && !s.in_use) unmap_hidden(s.base, s.count * kPage);
    }
    slots_.assign(n, Slot{});
  }
  bool enabled() const { return !slots_.empty(); }

  // A released mapping of exactly `pfns` (the most recent), taken: its slot.
  std::optional<std::size_t> take(std::span<const std::uint64_t> pfns) {
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      const Slot& s = slots_[i];
      if (s.in_use || s.count != pfns.size() || (best && slots_[*best].released > s.released)) continue;
      if (std::equal(pfns.begin(), pfns.end(), s.pfns.begin())) best = i;
    }
    if (!best) return std::nullopt;
    Slot& s = slots_[*best];
    unhide(s.base, s.count * kPage);
    s.in_use = true;
    return best;
  }
  // A slot for a new mapping of `pfns` (emptied: the least recently released
  // one is unmapped), or nullopt if it cannot be cached.
  std::optional<std::size_t> place(std::span<const std::uint64_t> pfns, std::byte* base) {
    if (pfns.size() > kMaxPages) return std::nullopt;
    std::optional<std::size_t> victim;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      const Slot& s = slots_[i];
      if (s.in_use) continue;
      if (s.count == 0) {
        victim = i;
        break;
      }
      if (!victim || s.released < slots_[*victim].released) victim = i;
    }
    if (!victim) return std::nullopt;
    Slot& s = slots_[*victim];
    if (s.count != 0) unmap_hidden(s.base, s.count * kPage);
    std::copy(pfns.begin(), pfns.end(), s.pfns.begin());
    s.count = pfns.size();
    s.base = base;
    s.in_use = true;
    return victim;
  }
  // A mapping whose slot was dropped since (set_capacity) is just unmapped.
  void put_back(std::size_t slot, std::byte* base, std::size_t size) {
    if (slot >= slots_.size() || !slots_[slot].in_use || slots_[slot].base != base) {
      munmap(base, size);
      return;
    }
    hide(base, size);
    slots_[slot].in_use = false;
    slots_[slot].released = ++clock_;
  }
  std::byte* base(std::size_t slot) const { return slots_[slot].base; }

  // ---- Touched frames
  void track(const std::vector<RamRegion>& regions) {
    first_page_.clear();
    std::uint64_t pages = 0;
    for (const RamRegion& r : regions) {
      first_page_.push_back(pages);
      pages += r.size / kPage;
    }
    touched_flag_.assign(pages, 0);
    touched_.clear();
    touched_.reserve(pages);
    tracking_ = true;
  }
  bool tracking() const { return tracking_; }
  // The page at `offset` in region `region` may be written from now on.
  void touch(std::size_t region, std::uint64_t offset) {
    if (!tracking_) return;
    const std::uint64_t index = first_page_[region] + offset / kPage;
    if (touched_flag_[index] != 0) return;
    touched_flag_[index] = 1;
    touched_.push_back({region, offset});
  }
  bool touched(std::size_t region, std::uint64_t offset) const {
    return touched_flag_[first_page_[region] + offset / kPage] != 0;
  }
  struct Touched {
    std::size_t region;
    std::uint64_t offset;
  };
  const std::vector<Touched>& touched() const { return touched_; }
  void clear_touched() {
    for (const Touched& t : touched_) touched_flag_[first_page_[t.region] + t.offset / kPage] = 0;
    touched_.clear();
  }

 private:
  std::vector<Slot> slots_;
  std::uint64_t clock_ = 0;
  bool tracking_ = false;
  std::vector<std::uint64_t> first_page_;   // per region: its first page's index
  std::vector<std::uint8_t> touched_flag_;  // per RAM page
  std::vector<Touched> touched_;            // each touched page once
};

GuestMapping::GuestMapping(GuestMapping&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      cache_(std::move(o.cache_)),
      slot_(o.slot_) {}

GuestMapping& GuestMapping::operator=(GuestMapping&& o) noexcept {
  if (this != &o) {
    release();
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    cache_ = std::move(o.cache_);
    slot_ = o.slot_;
  }
  return *this;
}

GuestMapping::~GuestMapping() { release(); }

void GuestMapping::release() {
  if (base_ == nullptr) return;
  if (cache_) {
    cache_->put_back(slot_, base_, size_);
  } else {
    munmap(base_, size_);
  }
  base_ = nullptr;
  size_ = 0;
  cache_.reset();
}

Result<GuestRam> GuestRam::create_anonymous(std::uint64_t size) {
  if (size == 0 || size % kPage != 0)
    return Status::fail("guest RAM size " + hex(size) + " is not a positive multiple of 4 KiB");
  int fd = memfd_create("vmbh-guest-ram", MFD_CLOEXEC);
  if (fd < 0) return Status::fail("memfd_create: " + errno_text());
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    Status s = Status::fail("guest RAM: ftruncate to " + hex(size) + ": " + errno_text());
    close(fd);
    return s;
  }
  return GuestRam(fd, {RamRegion{0, size, 0}});
}

Result<GuestRam> GuestRam::adopt(int fd, std::vector<RamRegion> regions) {
  if (fd < 0) return Status::fail("guest RAM: no file descriptor");
  for (const RamRegion& r : regions) {
    if (r.size == 0 || r.gpa % kPage != 0 || r.size % kPage != 0 || r.file_offset % kPage != 0 ||
        r.gpa + r.size < r.gpa) {
      close(fd);
      return Status::fail("guest RAM region at " + hex(r.gpa) + " size " + hex(r.size) +
                          " is not page-aligned");
    }
  }
  return GuestRam(fd, std::move(regions));
}

GuestRam::GuestRam(int fd, std::vector<RamRegion> regions)
    : fd_(fd), regions_(std::move(regions)), cache_(std::make_shared<MappingCache>()) {}

GuestRam::GuestRam(GuestRam&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      regions_(std::move(o.regions_)),
      cache_(std::move(o.cache_)),
      region_views_(std::move(o.region_views_)) {}

GuestRam& GuestRam::operator=(GuestRam&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    regions_ = std::move(o.regions_);
    cache_ = std::move(o.cache_);
    region_views_ = std::move(o.region_views_);
  }
  return *this;
}

GuestRam::~GuestRam() {
  if (fd_ >= 0) close(fd_);
}

Result<GuestMapping> GuestRam::map_range(std::uint64_t gpa, std::size_t size) const {
  if (size == 0 || gpa % kPage != 0 || size % kPage != 0) {
    return Status::fail("guest RAM: range at " + hex(gpa) + " size " + hex(size) + " is not whole pages");
  }
  if (gpa + size < gpa) return Status::fail("guest RAM: range at " + hex(gpa) + " wraps around");
  std::vector<std::uint64_t> pfns(size / kPage);
  for (std::size_t i = 0; i < pfns.size(); ++i) pfns[i] = gpa / kPage + i;
  return map_pages(pfns);
}

void GuestRam::touch(std::span<const std::uint64_t> pfns) const {
  if (!cache_ || !cache_->tracking()) return;
  for (std::uint64_t pfn : pfns) {
    const RamRegion* r = region_of(pfn * kPage);  // map_pages checked it is RAM
    cache_->touch(static_cast<std::size_t>(r - regions_.data()), pfn * kPage - r->gpa);
  }
}

const RamRegion* GuestRam::region_of(std::uint64_t gpa) const {
  const RamRegion* region = nullptr;
  for (const RamRegion& r : regions_) {
    if (gpa >= r.gpa && gpa - r.gpa < r.size) region = &r;
  }
  return region;
}

bool GuestRam::contains_page(std::uint64_t gpa) const {
  return gpa % kPage == 0 && region_of(gpa) != nullptr;
}

void GuestRam::set_mapping_cache(std::size_t n) {
  if (cache_) cache_->set_capacity(n);
}

void GuestRam::track_touched() {
  if (cache_) cache_->track(regions_);
}

Status GuestRam::map_region_views() const {
  if (!region_views_.empty()) return {};
  for (const RamRegion& r : regions_) {
    void* p =
        mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, static_cast<off_t>(r.file_offset));
    if (p == MAP_FAILED) {
      region_views_.clear();
      return Status::fail("guest RAM: mapping region at " + hex(r.gpa) + ": " + errno_text());
    }
    region_views_.emplace_back(static_cast<std::byte*>(p), r.size);
  }
  return {};
}

Status GuestRam::zero_pages(std::span<const std::uint64_t> pfns) const {
  if (Status s = map_region_views(); !s) return s;
  for (std::uint64_t pfn : pfns) {
    const RamRegion* r = pfn <= UINT64_MAX / kPage ? region_of(pfn * kPage) : nullptr;
    if (r == nullptr) return Status::fail("guest page frame " + hex(pfn) + " is not guest RAM");
    const std::uint64_t gpa = pfn * kPage;
    const auto i = static_cast<std::size_t>(r - regions_.data());
    if (cache_ && cache_->tracking() && !cache_->touched(i, gpa - r->gpa)) continue;
    std::memset(region_views_[i].bytes().data() + (gpa - r->gpa), 0, kPage);
  }
  return {};
}

Status GuestRam::zero_touched() {
  if (Status s = map_region_views(); !s) return s;
  if (!cache_ || !cache_->tracking()) {
    for (const GuestMapping& v : region_views_) std::memset(v.bytes().data(), 0, v.bytes().size());
    return {};
  }
  for (const MappingCache::Touched& t : cache_->touched())
    std::memset(region_views_[t.region].bytes().data() + t.offset, 0, kPage);
  cache_->clear_touched();
  return {};
}

Result<GuestMapping> GuestRam::map_pages(std::span<const std::uint64_t> pfns) const {
  if (pfns.empty()) return Status::fail("guest RAM: no pages to map");
  if (pfns.size() > (std::uint64_t{1} << 30) / kPage * 64) return Status::fail("guest RAM: too many pages");
  if (cache_ && cache_->enabled()) {
    if (auto slot = cache_->take(pfns)) {
      touch(pfns);
      GuestMapping m(cache_->base(*slot), pfns.size() * kPage);
      m.cache_ = cache_;
      m.slot_ = *slot;
      return m;
    }
  }
  const std::size_t total = pfns.size() * kPage;
  // Reserve the address range, then overlay each run of consecutive pages.
  void* base = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED)
    return Status::fail("guest RAM: reserving " + hex(total) + " bytes: " + errno_text());
  GuestMapping mapping(static_cast<std::byte*>(base), total);
  std::size_t i = 0;
  while (i < pfns.size()) {
    const std::uint64_t pfn = pfns[i];
    if (pfn > (UINT64_MAX / kPage))
      return Status::fail("guest RAM: page frame " + hex(pfn) + " is out of range");
    const std::uint64_t gpa = pfn * kPage;
    const RamRegion* region = region_of(gpa);
    if (region == nullptr) return Status::fail("guest page " + hex(gpa) + " is not guest RAM");
    // Extend the run while the next frame follows within the same region.
    std::size_t run = 1;
    while (i + run < pfns.size() && pfns[i + run] == pfn + run &&
           gpa + run * kPage - region->gpa < region->size) {
      ++run;
    }
    void* at = static_cast<std::byte*>(base) + i * kPage;
    void* got = mmap(at, run * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd_,
                     static_cast<off_t>(region->file_offset + (gpa - region->gpa)));
    if (got == MAP_FAILED) return Status::fail("guest RAM: mapping page " + hex(gpa) + ": " + errno_text());
    i += run;
  }
  touch(pfns);
  if (cache_) {
    if (auto slot = cache_->place(pfns, static_cast<std::byte*>(base))) {
      mapping.cache_ = cache_;
      mapping.slot_ = *slot;
    }
  }
  return mapping;
}

}  // namespace vmbh::host
