// Host-side errors: unlike the codecs' Error (a field literal, cheap on hot
// decode paths), host failures carry a sentence for a person ("relay: QEMU
// closed the socket", "channel 5: GPADL 0xe1e10 overlaps guest MMIO").
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "vmbh/protocols/result.h"

namespace vmbh::host {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status fail(std::string message) { return Status(std::move(message)); }
  // "what: field: code at offset N" from a codec error.
  static Status fail(const std::string& what, const proto::Error& e) {
    return Status(what + ": " + e.message());
  }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string& message() const { return message_; }

 private:
  explicit Status(std::string message) : message_(std::move(message)), failed_(true) {}
  std::string message_;
  bool failed_ = false;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status failure)
      : v_(std::move(failure)) {}  // NOLINT(google-explicit-constructor); must be a failure

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Status& status() const { return std::get<1>(v_); }
  const std::string& message() const { return std::get<1>(v_).message(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace vmbh::host
