// Fuzzes IC framing and version negotiation: the input is a whole IC packet
// (pipe header onward) as a host would put it in a VMBus in-band packet.
//  - decode_ic_message / decode_ic_negotiate / decode_ic_negotiate_response
//    with exact round trips;
//  - Linux's in-place negotiate handling on the raw bytes with fixed guest
//    lists: a found version is one offered and one the guest supports, the
//    answer decodes back to the choice, and it agrees with select_versions on
//    the strictly decoded offer.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "fuzz_check.h"
#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/ic.h"

namespace {

using namespace vmbh::proto;

// memcmp instead of a byte loop: much cheaper under coverage instrumentation.
bool same_bytes(ByteSpan a, ByteSpan b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

bool in_list(std::span<const IcVersion> list, IcVersion v) {
  return std::ranges::find(list, v) != list.end();
}

// Linux on a copy of the packet with one service's lists; returns its choice.
LinuxNegotiation run_linux(ByteSpan in, std::span<const IcVersion> fw, std::span<const IcVersion> srv,
                           Bytes& buf) {
  buf.assign(in.begin(), in.end());
  LinuxNegotiation ln = linux_negotiate_in_place(buf, fw, srv);
  if (in.size() < kIcMessageHeaderSize) {
    VMBH_FUZZ_CHECK(!ln.answered);
    VMBH_FUZZ_CHECK(same_bytes(buf, in));
    return ln;
  }
  VMBH_FUZZ_CHECK(ln.answered);
  VMBH_FUZZ_CHECK(buf.size() == in.size());
  VMBH_FUZZ_CHECK(buf[25] == std::byte{kIcFlagsGuestResponse});
  // The pipe header and everything before the counts but icmsgsize/icflags is untouched.
  VMBH_FUZZ_CHECK(same_bytes(ByteSpan(buf).first(18), in.first(18)));
  VMBH_FUZZ_CHECK(ln.selection_ran == (in.size() >= kIcNegotiateMinPacketSize));
  if (!ln.selection_ran) return ln;

  const IcVersionChoice& c = ln.choice;
  const std::uint16_t frame_count =
      static_cast<std::uint16_t>(std::to_integer<unsigned>(in[28]) | std::to_integer<unsigned>(in[29]) << 8);
  if (c.found) {
    VMBH_FUZZ_CHECK(in_list(fw, c.framework));
    VMBH_FUZZ_CHECK(in_list(srv, c.message));
    // The chosen versions occur in the offered framework / message ranges.
    bool fw_offered = false, msg_offered = false;
    const std::uint16_t msg_count = static_cast<std::uint16_t>(std::to_integer<unsigned>(in[30]) |
                                                               std::to_integer<unsigned>(in[31]) << 8);
    const std::size_t total = std::size_t{frame_count} + msg_count;
    VMBH_FUZZ_CHECK(36 + 4 * total <= in.size());
    for (std::size_t j = 0; j < total; ++j) {
      const std::uint32_t word = load_u32(in, 36 + 4 * j);
      const IcVersion v{static_cast<std::uint16_t>(word & 0xFFFF), static_cast<std::uint16_t>(word >> 16)};
      if (j < frame_count && v == c.framework) fw_offered = true;
      if (j >= frame_count && v == c.message) msg_offered = true;
    }
    VMBH_FUZZ_CHECK(fw_offered && msg_offered);
  }
  // Whenever the answer holds both slots, it decodes back to the choice.
  if (buf.size() >= kIcMessageHeaderSize + kIcNegotiateResponseBodySize) {
    auto m = decode_ic_message(buf);
    VMBH_FUZZ_CHECK(m.ok());
    VMBH_FUZZ_CHECK(m->header.icmsgsize == kIcNegotiateResponseBodySize);
    auto r = decode_ic_negotiate_response(m->body);
    VMBH_FUZZ_CHECK(r.ok());
    VMBH_FUZZ_CHECK(r->accepted() == c.found);
    VMBH_FUZZ_CHECK(r->framework == c.framework && r->message == c.message);
    IcNegotiateResponse expect = make_negotiate_response(c);
    expect.reserved = r->reserved;  // Linux keeps the host's reserved field
    VMBH_FUZZ_CHECK(*r == expect);
  }
  return ln;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Bytes scratch;
  static Bytes buf;
  ByteSpan in(reinterpret_cast<const std::byte*>(data), size);

  const LinuxNegotiation util = run_linux(in, kLinuxUtilFrameworkVersions, kLinuxShutdownVersions, buf);
  const LinuxNegotiation fcopy = run_linux(in, kLinuxVssFcopyFrameworkVersions, kLinuxFcopyVersions, buf);

  auto m = decode_ic_message(in);
  if (!m) return 0;
  scratch.clear();
  ByteWriter w(scratch);
  encode(*m, w);
  VMBH_FUZZ_CHECK(same_bytes(scratch, in));
  auto again = decode_ic_message(scratch);
  VMBH_FUZZ_CHECK(again.ok() && *again == *m);

  auto n = decode_ic_negotiate(m->body);
  if (n) {
    scratch.clear();
    encode(*n, w);
    VMBH_FUZZ_CHECK(same_bytes(scratch, m->body));
    auto n2 = decode_ic_negotiate(scratch);
    VMBH_FUZZ_CHECK(n2.ok() && *n2 == *n);
    // The pure selection agrees with Linux on the raw packet.
    const IcVersionChoice c = select_versions(*n, kLinuxUtilFrameworkVersions, kLinuxShutdownVersions);
    VMBH_FUZZ_CHECK(util.selection_ran && c == util.choice);
    if (c.found) {
      VMBH_FUZZ_CHECK(n->framework.contains(c.framework) && n->message.contains(c.message));
    }
    const IcVersionChoice c2 = select_versions(*n, kLinuxVssFcopyFrameworkVersions, kLinuxFcopyVersions);
    VMBH_FUZZ_CHECK(fcopy.selection_ran && c2 == fcopy.choice);
  }

  auto r = decode_ic_negotiate_response(m->body);
  if (r) {
    scratch.clear();
    encode(*r, w);
    VMBH_FUZZ_CHECK(same_bytes(scratch, m->body));
    auto r2 = decode_ic_negotiate_response(scratch);
    VMBH_FUZZ_CHECK(r2.ok() && *r2 == *r);
  }
  return 0;
}
