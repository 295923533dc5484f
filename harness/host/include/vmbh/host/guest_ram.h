// Guest RAM as the host sees it: a file (memfd for loopback tests and fuzzers,
// QEMU's memory-backend-file for live guests) plus the guest-physical layout.
// GPADL pages are not contiguous in guest memory; map_pages() maps them
// contiguously into the host's address space (one mmap per run of pages), so
// a ring buffer is one linear span whatever the guest did.
#pragma once

#include <cstddef>
#include <cstdint>
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

// A host mapping of guest pages; unmapped on destruction. Move-only.
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
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
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

 private:
  GuestRam(int fd, std::vector<RamRegion> regions) : fd_(fd), regions_(std::move(regions)) {}
  int fd_ = -1;
  std::vector<RamRegion> regions_;
};

}  // namespace vmbh::host
