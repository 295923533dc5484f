// Shared pieces of the IC device tests: a hand-driven clock and a helper that
// keeps the last outcome of a Done callback.
#pragma once

#include <functional>
#include <optional>
#include <utility>

#include "vmbh/host/device.h"

namespace vmbh::host::testing {

struct TestClock {
  Clock::time_point t = Clock::time_point{} + std::chrono::hours(1000);
  std::function<Clock::time_point()> fn() {
    return [this] { return t; };
  }
};

// The outcome of one operation; capture() makes its Done.
template <class T>
struct Outcome {
  std::optional<Result<T>> result;
  int calls = 0;
  Done<T> capture() {
    return [this](Result<T> r) {
      ++calls;
      result.emplace(std::move(r));
    };
  }
  bool ok() const { return result && result->ok(); }
  const T& value() const { return result->value(); }
  std::string message() const { return result ? (result->ok() ? "ok" : result->message()) : "not done"; }
};

struct StatusOutcome {
  std::optional<Status> status;
  int calls = 0;
  DoneStatus capture() {
    return [this](Status s) {
      ++calls;
      status = std::move(s);
    };
  }
  bool ok() const { return status && status->ok(); }
  std::string message() const { return status ? (status->ok() ? "ok" : status->message()) : "not done"; }
};

inline bool has_fact(const DeviceFacts& facts, const std::string& key, const std::string& value) {
  for (const auto& [k, v] : facts) {
    if (k == key && v == value) return true;
  }
  return false;
}

}  // namespace vmbh::host::testing
