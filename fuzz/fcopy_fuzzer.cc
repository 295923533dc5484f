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
  auto again = decode_fcopy(*wire);
  VMBH_FUZZ_CHECK(again.ok() && *again == m);
  auto wire2 = encode_fcopy(*again);
  VMBH_FUZZ_CHECK(wire2.ok() && *wire2 == *wire);
}

template <class T>
void check_specific(const Result<T>& specific, const Result<FcopyMessage>& generic, FcopyOp op) {
  const bool generic_match = generic.ok() && op_of(*generic) == op;
  if (specific.ok()) {
    VMBH_FUZZ_CHECK(generic_match);
    VMBH_FUZZ_CHECK(std::get<T>(*generic) == *specific);
  } else if (generic.ok()) {
    VMBH_FUZZ_CHECK(!generic_match);
    VMBH_FUZZ_CHECK(specific.error().code == Errc::unknown_type);
  } else {
    VMBH_FUZZ_CHECK(specific.error() == generic.error());
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
      check_specific(decode_fcopy_start(body), m, FcopyOp::start_file_copy);
      break;
    case 2:
      check_specific(decode_fcopy_write(body), m, FcopyOp::write_to_file);
      break;
    case 3:
      check_specific(decode_fcopy_complete(body), m, FcopyOp::complete);
      break;
    case 4:
      check_specific(decode_fcopy_cancel(body), m, FcopyOp::cancel);
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
