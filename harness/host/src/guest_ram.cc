#include "vmbh/host/guest_ram.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
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

}  // namespace

GuestMapping::GuestMapping(GuestMapping&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)), size_(std::exchange(o.size_, 0)) {}

GuestMapping& GuestMapping::operator=(GuestMapping&& o) noexcept {
  if (this != &o) {
    if (base_ != nullptr) munmap(base_, size_);
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

GuestMapping::~GuestMapping() {
  if (base_ != nullptr) munmap(base_, size_);
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

GuestRam::GuestRam(GuestRam&& o) noexcept : fd_(std::exchange(o.fd_, -1)), regions_(std::move(o.regions_)) {}

GuestRam& GuestRam::operator=(GuestRam&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    regions_ = std::move(o.regions_);
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

Result<GuestMapping> GuestRam::map_pages(std::span<const std::uint64_t> pfns) const {
  if (pfns.empty()) return Status::fail("guest RAM: no pages to map");
  if (pfns.size() > (std::uint64_t{1} << 30) / kPage * 64) return Status::fail("guest RAM: too many pages");
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
    const RamRegion* region = nullptr;
    for (const RamRegion& r : regions_) {
      if (gpa >= r.gpa && gpa - r.gpa < r.size) region = &r;
    }
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
  return mapping;
}

}  // namespace vmbh::host
