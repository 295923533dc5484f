// Kernel <-> userspace daemon messages of the integration services.
// Input: family byte, kind byte, then the message.
//   family 0 = VSS  (kind 0 daemon->kernel, 1 kernel->daemon)
//   family 1 = fcopy (kind 0 daemon->kernel registration, 1 daemon->kernel
//                     reply, 2 kernel->daemon)
//   family 2 = KVP   (kind 0 daemon->kernel registration, 1 kernel->daemon
//                     registration answer, 2 kernel->daemon request,
//                     3..8 daemon->kernel reply to operation kind-3)
// Unknown family or kind bytes are ignored (not taken modulo), so adding a
// family (e.g. KVP as family 2) leaves existing corpus entries meaning the
// same. To add one: write `void NAME_family(std::uint8_t kind, ByteSpan msg)`
// and append it to kFamilies; never reorder the table.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "vmbh/protocols/fcopy_daemon.h"
#include "vmbh/protocols/kvp_daemon.h"
#include "vmbh/protocols/vss_daemon.h"

using namespace vmbh::proto;

namespace {

void check_error(const Error& e, ByteSpan msg) {
  VMBH_FUZZ_CHECK(e.field != nullptr);
  VMBH_FUZZ_CHECK(e.offset <= msg.size());
}

// Decoding, re-encoding and decoding again must give the same value; for these
// fully-kept layouts the bytes must match the input too when `exact`.
template <class Decoded, class Encoded>
void check_same(const Result<Decoded>& again, const Decoded& first, const Encoded& wire, ByteSpan msg,
                bool exact) {
  VMBH_FUZZ_CHECK(again.ok() && *again == first);
  if (exact) VMBH_FUZZ_CHECK(wire.size() == msg.size() && std::equal(wire.begin(), wire.end(), msg.begin()));
}

void vss_family(std::uint8_t kind, ByteSpan msg) {
  if (kind == 0) {
    auto m = decode_vss_daemon_to_kernel(msg);
    if (!m.ok()) return check_error(m.error(), msg);
    const Bytes wire = encode_vss_daemon(*m);
    check_same(decode_vss_daemon_to_kernel(wire), *m, wire, msg, true);
  } else if (kind == 1) {
    auto m = decode_vss_kernel_to_daemon(msg);
    if (!m.ok()) return check_error(m.error(), msg);
    const Bytes wire = encode_vss_daemon(*m);
    check_same(decode_vss_kernel_to_daemon(wire), *m, wire, msg, true);
    if (const auto* req = std::get_if<VssDaemonRequest>(&*m)) {
      // The daemon's reply to it reads back as a reply (HV_S_OK / HV_E_FAIL).
      for (std::uint32_t err : {0u, static_cast<std::uint32_t>(VssStatus::e_fail)}) {
        auto reply = decode_vss_daemon_to_kernel(
            encode_vss_daemon(VssDaemonToKernel{vss_daemon_reply_for(*req, err)}));
        VMBH_FUZZ_CHECK(reply.ok() && std::holds_alternative<VssDaemonReply>(*reply));
      }
    }
  }
}

void fcopy_family(std::uint8_t kind, ByteSpan msg) {
  if (kind == 0) {
    auto m = decode_fcopy_daemon_register(msg);
    if (!m.ok()) return check_error(m.error(), msg);
    Bytes wire;
    ByteWriter w(wire);
    encode(*m, w);
    check_same(decode_fcopy_daemon_register(wire), *m, wire, msg, true);
  } else if (kind == 1) {
    auto m = decode_fcopy_daemon_reply(msg);
    if (!m.ok()) return check_error(m.error(), msg);
    Bytes wire;
    ByteWriter w(wire);
    encode(*m, w);
    check_same(decode_fcopy_daemon_reply(wire), *m, wire, msg, true);
  } else if (kind == 2) {
    auto m = decode_fcopy_kernel_to_daemon(msg);
    if (!m.ok()) return check_error(m.error(), msg);
    auto wire = encode_fcopy_kernel_to_daemon(*m);
    VMBH_FUZZ_CHECK(wire.ok());
    VMBH_FUZZ_CHECK(wire->size() == msg.size());
    // Version and control messages are kept whole; START/WRITE drop padding.
    const bool exact =
        std::holds_alternative<FcopyKernelVersion>(*m) || std::holds_alternative<FcopyDaemonControl>(*m);
    check_same(decode_fcopy_kernel_to_daemon(*wire), *m, *wire, msg, exact);
  }
}

// Every KVP daemon message is a fixed-size struct hv_kvp_msg.
template <class T, class Decode>
void kvp_round_trip(ByteSpan msg, Decode decode) {
  Result<T> first = decode(msg);
  if (!first.ok()) return check_error(first.error(), msg);
  Result<Bytes> wire = encode_kvp_daemon(*first);
  VMBH_FUZZ_CHECK(wire.ok() && wire->size() == kKvpDaemonMessageSize);
  check_same(decode(ByteSpan(*wire)), *first, *wire, msg, false);
}

void kvp_family(std::uint8_t kind, ByteSpan msg) {
  constexpr std::uint8_t kFirstReply = 3;
  constexpr std::uint8_t kOperations = 6;
  if (kind == 0) {
    kvp_round_trip<KvpDaemonRegister>(msg, decode_kvp_daemon_register);
  } else if (kind == 1) {
    kvp_round_trip<KvpKernelRegister>(msg, decode_kvp_kernel_register);
  } else if (kind == 2) {
    kvp_round_trip<KvpDaemonRequest>(msg, decode_kvp_daemon_request);
  } else if (kind < kFirstReply + kOperations) {
    const auto op = static_cast<KvpOperation>(kind - kFirstReply);
    kvp_round_trip<KvpDaemonReply>(msg, [op](ByteSpan m) { return decode_kvp_daemon_reply(op, m); });
  }
}

using FamilyFn = void (*)(std::uint8_t kind, ByteSpan msg);
// Index = family byte. Append only.
constexpr FamilyFn kFamilies[] = {
    &vss_family,    // 0
    &fcopy_family,  // 1
    &kvp_family,    // 2
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vmbh::fuzz::FuzzInput in(data, size);
  if (in.remaining() < 2) return 0;
  const std::uint8_t family = in.u8();
  const std::uint8_t kind = in.u8();
  if (family >= std::size(kFamilies)) return 0;
  kFamilies[family](kind, in.rest());
  return 0;
}
