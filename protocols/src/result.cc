#include "vmbh/protocols/result.h"

namespace vmbh::proto {

const char* to_string(Errc code) {
  switch (code) {
    case Errc::truncated:
      return "truncated";
    case Errc::bad_length:
      return "bad_length";
    case Errc::bad_value:
      return "bad_value";
    case Errc::unknown_type:
      return "unknown_type";
    case Errc::bad_version:
      return "bad_version";
    case Errc::bad_encoding:
      return "bad_encoding";
    case Errc::trailing_data:
      return "trailing_data";
    case Errc::no_space:
      return "no_space";
    case Errc::empty:
      return "empty";
  }
  return "unknown_error";
}

std::string Error::message() const {
  return std::string(field) + ": " + to_string(code) + " at offset " + std::to_string(offset);
}

}  // namespace vmbh::proto
