// fcopy wire messages (host -> guest). Input: selector byte, then the message body.
//   selector % 6 == 0:    decode_fcopy; on success decode(encode(m)) == m and the
//                         encoding is stable.
//   selector % 6 == 1..4: the operation-specific decoder (START, WRITE, COMPLETE,
//                         CANCEL) must agree with decode_fcopy.
//   selector % 6 == 5:    a decoded START converted as the 6.1 kernel does for the
//                         daemon must encode and round-trip as a daemon message.
#include <cstddef>
#include <cstdint>
#include <variant>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "vmbh/protocols/fcopy.h"
#include "vmbh/protocols/fcopy_daemon.h"

using namespace vmbh::proto;

namespace {

void check_round_trip(const FcopyMessage& m, std::size_t input_size) {
  auto wire = encode_fcopy(m);
  VMBH_FUZZ_CHECK(wire.ok());
  VMBH_FUZZ_CHECK(wire->size() == input_size);  // fixed-size structures
  auto again = decode_fcopy(*wire);             // equal values encode equally, so one pass suffices
  VMBH_FUZZ_CHECK(again.ok() && *again == m);
}

// The specific decoder fails with the generic one's error when the operation
// word is its own, and with unknown_type when it is another (or unknown) one.
template <class T>
void check_specific(const Result<T>& specific, const Result<FcopyMessage>& generic, FcopyOp op,
                    ByteSpan body) {
  if (body.size() < 4) {
    VMBH_FUZZ_CHECK(!specific.ok() && !generic.ok() && specific.error() == generic.error());
    return;
  }
  const bool same_op = static_cast<FcopyOp>(load_u32(body, 0)) == op;
  if (same_op) {
    VMBH_FUZZ_CHECK(specific.ok() == generic.ok());
    if (specific.ok()) {
      VMBH_FUZZ_CHECK(std::get<T>(*generic) == *specific);
    } else {
      VMBH_FUZZ_CHECK(specific.error() == generic.error());
    }
  } else {
    VMBH_FUZZ_CHECK(!specific.ok() && specific.error().code == Errc::unknown_type);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vmbh::fuzz::FuzzInput in(data, size);
  const std::uint8_t selector = in.u8();
  const ByteSpan body = in.rest();
  auto m = decode_fcopy(body);
  if (!m.ok()) {
    VMBH_FUZZ_CHECK(m.error().field != nullptr);
    VMBH_FUZZ_CHECK(m.error().offset <= body.size());
  }
  switch (selector % 6) {
    case 0:
      if (m.ok()) check_round_trip(*m, body.size());
      break;
    case 1:
      check_specific(decode_fcopy_start(body), m, FcopyOp::start_file_copy, body);
      break;
    case 2:
      check_specific(decode_fcopy_write(body), m, FcopyOp::write_to_file, body);
      break;
    case 3:
      check_specific(decode_fcopy_complete(body), m, FcopyOp::complete, body);
      break;
    case 4:
      check_specific(decode_fcopy_cancel(body), m, FcopyOp::cancel, body);
      break;
    case 5:
      if (m.ok() && std::holds_alternative<FcopyStart>(*m)) {
        const auto daemon_start = fcopy_daemon_start_from_host(std::get<FcopyStart>(*m));
        VMBH_FUZZ_CHECK(daemon_start.file_name.size() <= kFcopyDaemonMaxNameBytes);
        VMBH_FUZZ_CHECK(daemon_start.path_name.size() <= kFcopyDaemonMaxNameBytes);
        auto wire = encode_fcopy_kernel_to_daemon(daemon_start);
        VMBH_FUZZ_CHECK(wire.ok());
        auto again = decode_fcopy_kernel_to_daemon(*wire);
        VMBH_FUZZ_CHECK(again.ok() && std::get<FcopyDaemonStart>(*again) == daemon_start);
      }
      break;
  }
  return 0;
}
