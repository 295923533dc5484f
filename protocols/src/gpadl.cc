#include "vmbh/protocols/gpadl.h"

namespace vmbh::proto {

std::vector<std::uint64_t> Gpadl::all_pfns() const {
  std::vector<std::uint64_t> out;
  std::size_t n = 0;
  for (const auto& r : ranges) n += r.pfns.size();
  out.reserve(n);
  for (const auto& r : ranges) out.insert(out.end(), r.pfns.begin(), r.pfns.end());
  return out;
}

Result<GpadlMessages> split_gpadl(std::uint32_t child_relid, std::uint32_t gpadl,
                                  std::span<const std::uint64_t> pfns, std::uint32_t byte_count,
                                  std::uint32_t byte_offset) {
  if (pfns.empty() || pfns.size() > kGpadlMaxPfns) {
    return Error{Errc::bad_length, "gpadl_header.range_buflen", 16};
  }
  if (byte_offset >= kGpadlPageSize) return Error{Errc::bad_value, "gpa_range.byte_offset", 24};
  if (byte_count == 0 || gpa_range_page_count(byte_count, byte_offset) != pfns.size()) {
    return Error{Errc::bad_length, "gpa_range.byte_count", 20};
  }
  GpadlMessages out;
  GpadlHeader& h = out.header;
  h.child_relid = child_relid;
  h.gpadl = gpadl;
  h.rangecount = 1;
  h.range_buflen = static_cast<std::uint16_t>(kGpaRangeHeaderSize + 8 * pfns.size());
  h.byte_count = byte_count;
  h.byte_offset = byte_offset;
  std::size_t i = 0;
  for (; i < pfns.size() && !h.pfns.full(); ++i) h.pfns.push_back(pfns[i]);
  if (i < pfns.size()) {
    out.bodies.reserve((pfns.size() - i + kGpadlBodyMaxPfns - 1) / kGpadlBodyMaxPfns);
  }
  while (i < pfns.size()) {
    GpadlBody& b = out.bodies.emplace_back();
    b.msgnumber = 0;  // as Linux: never numbered
    b.gpadl = gpadl;
    for (; i < pfns.size() && !b.pfns.full(); ++i) b.pfns.push_back(pfns[i]);
  }
  return out;
}

Result<GpadlMessages> split_gpadl(std::uint32_t child_relid, std::uint32_t gpadl,
                                  std::span<const std::uint64_t> pfns) {
  if (pfns.empty() || pfns.size() > kGpadlMaxPfns) {
    return Error{Errc::bad_length, "gpadl_header.range_buflen", 16};
  }
  return split_gpadl(child_relid, gpadl, pfns, static_cast<std::uint32_t>(pfns.size() * kGpadlPageSize), 0);
}

Status GpadlAssembler::start(const GpadlHeader& header) {
  if (started_) return Error{Errc::bad_value, "gpadl_header.gpadl", 12};
  if (header.rangecount == 0) return Error{Errc::bad_value, "gpadl_header.rangecount", 18};
  const std::size_t buflen = header.range_buflen;
  if (buflen < kGpaRangeHeaderSize || buflen % 8 != 0) {
    return Error{Errc::bad_length, "gpadl_header.range_buflen", 16};
  }
  const std::size_t expected = (buflen - kGpaRangeHeaderSize) / 8;
  if (expected > limits_.max_pfns || expected > kGpadlMaxPfns) {
    return Error{Errc::bad_length, "gpadl_header.range_buflen", 16};
  }
  if (header.pfns.size() > expected) return Error{Errc::bad_length, "gpadl_header.range_buflen", 16};
  started_ = true;
  header_ = header;
  expected_words_ = expected;
  have_msgnumber_ = false;
  last_msgnumber_ = 0;
  words_.clear();
  words_.reserve(expected);  // bounded by the limit checked above
  words_.insert(words_.end(), header.pfns.begin(), header.pfns.end());
  return {};
}

Status GpadlAssembler::add_body(const GpadlBody& body) {
  if (!started_ || body.gpadl != header_.gpadl) return Error{Errc::bad_value, "gpadl_body.gpadl", 12};
  if (body.pfns.empty()) return Error{Errc::bad_length, "gpadl_body.pfn", 16};
  if (body.pfns.size() > expected_words_ - words_.size()) {
    return Error{Errc::bad_length, "gpadl_body.pfn", 16};
  }
  if (limits_.msgnumber == GpadlMsgNumberPolicy::sequential && have_msgnumber_ &&
      body.msgnumber != last_msgnumber_ + 1) {
    return Error{Errc::bad_value, "gpadl_body.msgnumber", 8};
  }
  have_msgnumber_ = true;
  last_msgnumber_ = body.msgnumber;
  words_.insert(words_.end(), body.pfns.begin(), body.pfns.end());
  return {};
}

Result<Gpadl> GpadlAssembler::finish() const {
  if (!complete()) return Error{Errc::truncated, "gpadl_body.pfn", words_.size() * 8};
  Gpadl out;
  out.child_relid = header_.child_relid;
  out.gpadl = header_.gpadl;
  out.ranges.reserve(header_.rangecount < 16 ? header_.rangecount : 16);
  std::uint32_t byte_count = header_.byte_count;
  std::uint32_t byte_offset = header_.byte_offset;
  std::size_t at = 0;  // index into words_
  // Error offsets here are byte offsets in the range buffer (first range header at 0).
  for (std::size_t r = 0; r < header_.rangecount; ++r) {
    std::size_t range_at = 0;
    if (r > 0) {
      if (at >= words_.size()) return Error{Errc::bad_length, "gpadl_header.rangecount", 18};
      range_at = kGpaRangeHeaderSize + 8 * at;
      byte_count = static_cast<std::uint32_t>(words_[at]);
      byte_offset = static_cast<std::uint32_t>(words_[at] >> 32);
      ++at;
    }
    if (byte_count == 0) return Error{Errc::bad_value, "gpa_range.byte_count", range_at};
    if (byte_offset >= kGpadlPageSize) return Error{Errc::bad_value, "gpa_range.byte_offset", range_at + 4};
    const std::uint64_t pages = gpa_range_page_count(byte_count, byte_offset);
    if (pages > words_.size() - at) return Error{Errc::bad_length, "gpa_range.byte_count", range_at};
    GpaRange& range = out.ranges.emplace_back();
    range.byte_count = byte_count;
    range.byte_offset = byte_offset;
    const auto n = static_cast<std::size_t>(pages);
    range.pfns.assign(words_.begin() + static_cast<std::ptrdiff_t>(at),
                      words_.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
  }
  if (at != words_.size()) return Error{Errc::bad_length, "gpadl_header.range_buflen", 16};
  return out;
}

void GpadlAssembler::reset() {
  started_ = false;
  header_ = {};
  expected_words_ = 0;
  have_msgnumber_ = false;
  last_msgnumber_ = 0;
  words_.clear();
}

}  // namespace vmbh::proto
