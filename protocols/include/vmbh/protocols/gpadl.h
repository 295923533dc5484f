// GPADLs (guest physical address descriptor lists): the GPADL_HEADER and
// GPADL_BODY channel messages' contents, splitting a PFN list into those
// messages the way Linux does (drivers/hv/channel.c, create_gpadl_header), and
// reassembling them on the host with limits a malicious guest cannot exceed.
//
// The messages themselves are decoded and encoded with the other channel
// messages (vmbus.h: decode_channel_message / encode).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

// ---------------------------------------------------------------------------
// Sizes. A channel message is at most 240 bytes (one SynIC payload).

inline constexpr std::size_t kGpadlPageSize = 4096;    // HV_HYP_PAGE_SIZE: PFNs are 4 KiB frames
inline constexpr std::size_t kGpaRangeHeaderSize = 8;  // gpa_range {byte_count u32, byte_offset u32}
// GPADL_HEADER: msg header 8, child_relid 4, gpadl 4, range_buflen 2, rangecount 2 = 20,
// then the first gpa_range (8) and its PFNs.
inline constexpr std::size_t kGpadlHeaderFixedSize = 20;
inline constexpr std::size_t kGpadlHeaderMinSize = kGpadlHeaderFixedSize + kGpaRangeHeaderSize;  // 28
// GPADL_BODY: msg header 8, msgnumber 4, gpadl 4 = 16, then PFNs.
inline constexpr std::size_t kGpadlBodyFixedSize = 16;
// (240 - 28) / 8 = 26 and (240 - 16) / 8 = 28: what fits in one message.
inline constexpr std::size_t kGpadlHeaderMaxPfns = (240 - kGpadlHeaderMinSize) / 8;
inline constexpr std::size_t kGpadlBodyMaxPfns = (240 - kGpadlBodyFixedSize) / 8;
// range_buflen is a u16: 8 bytes for the first range header, 8 per PFN.
inline constexpr std::size_t kGpadlMaxRangeBufLen = 0xFFFF;
inline constexpr std::size_t kGpadlMaxPfns = (kGpadlMaxRangeBufLen - kGpaRangeHeaderSize) / 8;  // 8190
// Linux numbers its GPADL handles from here (vmbus_connection.next_gpadl_handle).
inline constexpr std::uint32_t kLinuxFirstGpadlHandle = 0xE1E10;

// A fixed-capacity list of PFNs: messages carry at most 28, so decoding needs
// no allocation.
template <std::size_t N>
class PfnArray {
 public:
  static constexpr std::size_t kCapacity = N;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool full() const { return size_ == N; }
  std::uint64_t operator[](std::size_t i) const { return data_[i]; }
  std::span<const std::uint64_t> span() const { return std::span<const std::uint64_t>(data_).first(size_); }
  auto begin() const { return span().begin(); }
  auto end() const { return span().end(); }
  // Returns false (and adds nothing) when full.
  bool push_back(std::uint64_t pfn) {
    if (size_ == N) return false;
    data_[size_++] = pfn;
    return true;
  }
  void clear() { size_ = 0; }

  bool operator==(const PfnArray& o) const {
    auto a = span(), b = o.span();
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  std::array<std::uint64_t, N> data_{};
  std::size_t size_ = 0;
};

// CHANNELMSG_GPADL_HEADER (8), guest -> host. The message's length gives the
// number of PFN words it carries: 28 + 8 * n bytes, n <= 26.
struct GpadlHeader {
  std::uint32_t child_relid = 0;
  std::uint32_t gpadl = 0;
  std::uint16_t range_buflen = 0;  // bytes of all ranges: sum of 8 + 8 * pfns per range
  std::uint16_t rangecount = 0;    // Linux always sends 1
  // The first gpa_range's header.
  std::uint32_t byte_count = 0;
  std::uint32_t byte_offset = 0;
  // The u64 words after it in this message: the first range's PFNs. With
  // rangecount > 1, a later range's {byte_count, byte_offset} header is one
  // more word (byte_count in the low half), followed by its PFNs;
  // GpadlAssembler parses them.
  PfnArray<kGpadlHeaderMaxPfns> pfns;

  bool operator==(const GpadlHeader&) const = default;
};

// CHANNELMSG_GPADL_BODY (9), guest -> host: 16 + 8 * n bytes, n <= 28. Linux
// never sets msgnumber (it stays 0 in every body).
struct GpadlBody {
  std::uint32_t msgnumber = 0;
  std::uint32_t gpadl = 0;
  PfnArray<kGpadlBodyMaxPfns> pfns;

  bool operator==(const GpadlBody&) const = default;
};

// Number of 4 KiB pages a range of byte_count bytes starting byte_offset into
// its first page spans.
constexpr std::uint64_t gpa_range_page_count(std::uint32_t byte_count, std::uint32_t byte_offset) {
  return (std::uint64_t{byte_offset % kGpadlPageSize} + byte_count + kGpadlPageSize - 1) / kGpadlPageSize;
}

// ---------------------------------------------------------------------------
// Splitting, as the guest does it.

struct GpadlMessages {
  GpadlHeader header;
  std::vector<GpadlBody> bodies;

  bool operator==(const GpadlMessages&) const = default;
};

// One range over `pfns`: the header takes the first 26 PFNs, then bodies of
// up to 28 each, msgnumber 0, rangecount 1, range_buflen 8 + 8 * pfns.size().
// byte_count/byte_offset must span exactly pfns.size() pages
// (bad_length "gpa_range.byte_count"); byte_offset must be < 4096
// (bad_value "gpa_range.byte_offset"); at most kGpadlMaxPfns PFNs
// (bad_length "gpadl_header.range_buflen"), at least one.
Result<GpadlMessages> split_gpadl(std::uint32_t child_relid, std::uint32_t gpadl,
                                  std::span<const std::uint64_t> pfns, std::uint32_t byte_count,
                                  std::uint32_t byte_offset = 0);
// What Linux sends for a page-aligned buffer: byte_offset 0 and
// byte_count = 4096 * pfns.size().
Result<GpadlMessages> split_gpadl(std::uint32_t child_relid, std::uint32_t gpadl,
                                  std::span<const std::uint64_t> pfns);

// ---------------------------------------------------------------------------
// Reassembly, as the host does it.

struct GpaRange {
  std::uint32_t byte_count = 0;
  std::uint32_t byte_offset = 0;
  std::vector<std::uint64_t> pfns;

  bool operator==(const GpaRange&) const = default;
};

struct Gpadl {
  std::uint32_t child_relid = 0;
  std::uint32_t gpadl = 0;
  std::vector<GpaRange> ranges;

  // All PFNs of all ranges in order.
  std::vector<std::uint64_t> all_pfns() const;
  bool operator==(const Gpadl&) const = default;
};

// How GPADL_BODY.msgnumber is checked. Linux leaves it 0 in every body, so the
// default ignores it; `sequential` requires each body's number to be the
// previous body's plus one (the first body's number is free), which catches
// duplicated and reordered bodies from a client that does number them.
enum class GpadlMsgNumberPolicy : std::uint8_t { ignore, sequential };

struct GpadlLimits {
  // Hard cap on the PFN words one GPADL may announce; the assembler never
  // reserves or stores more. At most kGpadlMaxPfns (range_buflen is a u16).
  std::size_t max_pfns = kGpadlMaxPfns;
  GpadlMsgNumberPolicy msgnumber = GpadlMsgNumberPolicy::ignore;
};

// Collects one GPADL: a header, then bodies until the announced range_buflen
// is filled. A rejected message leaves the state unchanged, so the accepted
// PFN words are always a prefix of what finish() returns.
//
// Errors (all name the field):
//   start() twice                    -> bad_value  "gpadl_header.gpadl"
//   rangecount 0                     -> bad_value  "gpadl_header.rangecount"
//   range_buflen not 8 + 8k          -> bad_length "gpadl_header.range_buflen"
//   range_buflen above the limit     -> bad_length "gpadl_header.range_buflen"
//   header carries more PFNs than range_buflen announces
//                                    -> bad_length "gpadl_header.range_buflen"
//   body without a header            -> bad_value  "gpadl_body.gpadl"
//   body for another gpadl id        -> bad_value  "gpadl_body.gpadl"
//   body with no PFNs                -> bad_length "gpadl_body.pfn"
//   body PFNs past range_buflen      -> bad_length "gpadl_body.pfn"
//   msgnumber out of sequence        -> bad_value  "gpadl_body.msgnumber" (sequential policy)
//   finish() before complete         -> truncated  "gpadl_body.pfn"
//   ranges inconsistent with range_buflen/rangecount (finish)
//                                    -> bad_length "gpa_range.byte_count" / "gpadl_header.rangecount",
//                                       bad_value "gpa_range.byte_offset" (>= 4096),
//                                       bad_value "gpa_range.byte_count" (0)
class GpadlAssembler {
 public:
  GpadlAssembler() = default;
  explicit GpadlAssembler(GpadlLimits limits) : limits_(limits) {}

  Status start(const GpadlHeader& header);
  Status add_body(const GpadlBody& body);

  bool started() const { return started_; }
  bool complete() const { return started_ && words_.size() == expected_words_; }
  std::uint32_t gpadl() const { return header_.gpadl; }
  std::uint32_t child_relid() const { return header_.child_relid; }
  std::size_t expected_words() const { return expected_words_; }
  // The PFN words accepted so far (after the first range header).
  std::span<const std::uint64_t> words() const { return words_; }

  // The assembled GPADL, once complete(). Does not reset the assembler.
  Result<Gpadl> finish() const;
  void reset();

 private:
  GpadlLimits limits_{};
  bool started_ = false;
  GpadlHeader header_{};
  std::size_t expected_words_ = 0;
  bool have_msgnumber_ = false;
  std::uint32_t last_msgnumber_ = 0;
  std::vector<std::uint64_t> words_;
};

}  // namespace vmbh::proto
