// Guest RAM as the host sees it: a file (memfd for loopback tests and fuzzers,
// QEMU's memory-backend-file for live guests) plus the guest-physical layout.
// GPADL pages are not contiguous in guest memory; map_pages() maps them
// contiguously into the host's address space (one mmap per run of pages), so
// a ring buffer is one linear span whatever the guest did.
//
// In-process users that run many short sessions on one RAM (the loopback
// under a fuzzer) can keep released mappings for reuse and return RAM to all
// zeroes cheaply between sessions: see set_mapping_cache and zero_touched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "vmbh/host/status.h"

namespace vmbh::host {

// One guest-physical RAM range backed by the file at file_offset.
struct RamRegion {
  std::uint64_t gpa = 0;
  std::uint64_t size = 0;
  std::uint64_t file_offset = 0;
};

class MappingCache;

// A host mapping of guest pages; unmapped on destruction (or handed back to
// the RAM's mapping cache, if it has one). Move-only.
class GuestMapping {
 public:
  GuestMapping() = default;
  GuestMapping(std::byte* base, std::size_t size) : base_(base), size_(size) {}
  GuestMapping(GuestMapping&& o) noexcept;
  GuestMapping& operator=(GuestMapping&& o) noexcept;
  GuestMapping(const GuestMapping&) = delete;
  GuestMapping& operator=(const GuestMapping&) = delete;
  ~GuestMapping();
  std::span<std::byte> bytes() const { return {base_, size_}; }

 private:
  friend class GuestRam;
  void release();

  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  std::shared_ptr<MappingCache> cache_;  // where release() puts it back; null: munmap
  std::size_t slot_ = 0;                 // its slot there
};

class GuestRam {
 public:
  // An anonymous memfd of `size` bytes at guest-physical 0 (loopback, fuzzers).
  static Result<GuestRam> create_anonymous(std::uint64_t size);
  // Takes ownership of `fd` (QEMU's memory-backend-file) with the given layout.
  static Result<GuestRam> adopt(int fd, std::vector<RamRegion> regions);

  GuestRam(GuestRam&& o) noexcept;
  GuestRam& operator=(GuestRam&& o) noexcept;
  GuestRam(const GuestRam&) = delete;
  GuestRam& operator=(const GuestRam&) = delete;
  ~GuestRam();

  const std::vector<RamRegion>& regions() const { return regions_; }
  // [gpa, gpa + size), whole pages, all guest RAM; errors name the GPA.
  Result<GuestMapping> map_range(std::uint64_t gpa, std::size_t size) const;
  // The 4 KiB guest frames `pfns`, in order, as one contiguous host mapping.
  Result<GuestMapping> map_pages(std::span<const std::uint64_t> pfns) const;
  // Whether the page at `gpa` (page-aligned) is guest RAM; what map_range
  // checks, without mapping anything.
  bool contains_page(std::uint64_t gpa) const;

  // ---- Reuse across short sessions (loopback, fuzzers)
  // Keep up to `n` released mappings and hand one out again when the same
  // frames are mapped: an mmap per run of pages, its munmap (a TLB flush) and
  // the page faults of a fresh mapping are most of what opening a channel
  // costs in-process. A cached mapping is poisoned for ASan until it is
  // handed out again (a use after release is reported like a use of freed
  // heap; without ASan it goes unnoticed), and then shows the file like a
  // fresh one: reuse is invisible except in addresses. Mappings of more than
  // 64 pages are not cached. 0 (the default): unmap on release.
  void set_mapping_cache(std::size_t n);
  // From now on, remember the frames of every mapping handed out, so that
  // zero_touched() can return RAM to all zeroes without writing the rest.
  void track_touched();
  // Zeroes every frame mapped since track_touched() or the previous call
  // (all of RAM when tracking is off): RAM is as create_anonymous() left it,
  // provided it is written only through mappings from map_pages/map_range.
  Status zero_touched();
  // Zeroes the frames `pfns` (all RAM) without mapping them; frames that
  // tracking knows are still zero are skipped. Like map_pages, const: the
  // contents of RAM are not the state of this object.
  Status zero_pages(std::span<const std::uint64_t> pfns) const;

 private:
  GuestRam(int fd, std::vector<RamRegion> regions);
  const RamRegion* region_of(std::uint64_t gpa) const;
  // Records `pfns` (all RAM) as possibly written, if tracking.
  void touch(std::span<const std::uint64_t> pfns) const;
  Status map_region_views() const;

  int fd_ = -1;
  std::vector<RamRegion> regions_;
  std::shared_ptr<MappingCache> cache_;  // null only when moved from; also keeps the touched frames
  // The zeroing functions' own view of each region, made once.
  mutable std::vector<GuestMapping> region_views_;
};

}  // namespace vmbh::host
