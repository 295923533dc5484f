// Decode results: a value or an Error that names the offending field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace vmbh::proto {

enum class Errc : std::uint8_t {
  truncated,      // the input ends inside the field
  bad_length,     // a length/count field disagrees with the data or exceeds its limit
  bad_value,      // the field holds a value the protocol does not allow
  unknown_type,   // a message type that is unknown (or not valid for the version)
  bad_version,    // a version the protocol does not define
  bad_encoding,   // malformed UTF-16
  trailing_data,  // bytes left over where the layout ends
  no_space,       // ring: not enough free space to write
  empty,          // ring: nothing to read
};

const char* to_string(Errc code);

// `field` always points to a string literal ("offer.child_relid"), so an
// Error is cheap to create on hot decode paths.
struct Error {
  Errc code;
  const char* field;
  std::size_t offset;  // byte offset in the input where the problem was found

  std::string message() const;  // "kvp.key_size: bad_length at offset 12"
  bool operator==(const Error&) const = default;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(error) {}         // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(error), failed_(true) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_{};
  bool failed_ = false;
};

}  // namespace vmbh::proto
