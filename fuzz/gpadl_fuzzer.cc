// GPADL assembly from a sequence of channel messages, as a malicious guest
// sends them. Input: byte 0 = options (bit 0: sequential msgnumber policy,
// bit 1: cap of 64 PFN words), then records {u8 length, length bytes of one
// channel message}. Messages decode at 5.3; GPADL_HEADER starts the assembler,
// GPADL_BODY feeds it, anything else is ignored.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "vmbh/protocols/gpadl.h"
#include "vmbh/protocols/vmbus.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vmbh::proto;
  vmbh::fuzz::FuzzInput in(data, size);
  const std::uint8_t options = in.u8();
  GpadlLimits limits;
  if (options & 1) limits.msgnumber = GpadlMsgNumberPolicy::sequential;
  if (options & 2) limits.max_pfns = 64;
  GpadlAssembler a(limits);
  std::vector<std::uint64_t> accepted;  // PFN words of every accepted message, in order
  constexpr VmbusVersion v = VmbusVersion::win10_v5_3;

  while (!in.empty()) {
    const std::size_t len = in.u8();
    auto msg = decode_channel_message(in.bytes(len), v);
    if (!msg.ok()) continue;
    if (const auto* h = std::get_if<GpadlHeader>(&*msg)) {
      const bool was_started = a.started();
      if (a.start(*h).ok()) {
        VMBH_FUZZ_CHECK(!was_started);
        accepted.assign(h->pfns.begin(), h->pfns.end());
      }
    } else if (const auto* b = std::get_if<GpadlBody>(&*msg)) {
      if (a.add_body(*b).ok()) accepted.insert(accepted.end(), b->pfns.begin(), b->pfns.end());
    }
    // Rejected messages leave the state unchanged; nothing exceeds the cap.
    VMBH_FUZZ_CHECK(a.words().size() == accepted.size());
    VMBH_FUZZ_CHECK(std::equal(accepted.begin(), accepted.end(), a.words().begin()));
    VMBH_FUZZ_CHECK(a.words().size() <= a.expected_words());
    VMBH_FUZZ_CHECK(a.expected_words() <= limits.max_pfns);
  }
  if (!a.complete()) {
    VMBH_FUZZ_CHECK(!a.finish().ok());
    return 0;
  }
  auto g = a.finish();
  if (!g.ok()) return 0;
  const std::vector<std::uint64_t> all = g->all_pfns();
  VMBH_FUZZ_CHECK(g->gpadl == a.gpadl());
  VMBH_FUZZ_CHECK(!g->ranges.empty());
  if (g->ranges.size() == 1) {
    // The assembled PFN list is exactly the accepted words, and splitting it
    // again as Linux would reassembles to the same GPADL.
    VMBH_FUZZ_CHECK(all == accepted);
    const GpaRange& r = g->ranges[0];
    auto split = split_gpadl(g->child_relid, g->gpadl, r.pfns, r.byte_count, r.byte_offset);
    VMBH_FUZZ_CHECK(split.ok());
    GpadlAssembler again;
    VMBH_FUZZ_CHECK(again.start(split->header).ok());
    for (const auto& body : split->bodies) VMBH_FUZZ_CHECK(again.add_body(body).ok());
    auto g2 = again.finish();
    VMBH_FUZZ_CHECK(g2.ok() && *g2 == *g);
  } else {
    VMBH_FUZZ_CHECK(all.size() + g->ranges.size() - 1 == accepted.size());
  }
  return 0;
}
