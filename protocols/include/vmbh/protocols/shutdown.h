// Shutdown IC body (message type 3): the host asks the guest to power off,
// reboot or hibernate.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

inline constexpr std::size_t kShutdownDisplayMessageSize = 2048;
// reason_code u32, timeout_seconds u32, flags u32, display_message[2048].
inline constexpr std::size_t kShutdownMsgSize = 12 + kShutdownDisplayMessageSize;  // 2060

// flags: the action in bits 1..2, bit 0 = force. Linux acts on exactly the
// values 0..5 (always forcing) and fails every other value.
enum class ShutdownAction : std::uint32_t {
  shutdown = 0,
  reboot = 2,
  hibernate = 4,
};
inline constexpr std::uint32_t kShutdownFlagForce = 1;

// The action of a flags value Linux accepts (0..5), nullopt otherwise.
std::optional<ShutdownAction> shutdown_action(std::uint32_t flags);
constexpr bool shutdown_forced(std::uint32_t flags) { return (flags & kShutdownFlagForce) != 0; }
constexpr std::uint32_t shutdown_flags(ShutdownAction action, bool force) {
  return static_cast<std::uint32_t>(action) | (force ? kShutdownFlagForce : 0u);
}
// The status Linux writes back for a shutdown request with these flags:
// S_OK for shutdown/reboot, for hibernate S_OK only if hibernation is
// supported, E_FAIL for any other value.
std::uint32_t linux_shutdown_status(std::uint32_t flags, bool hibernation_supported);

struct ShutdownMsg {
  std::uint32_t reason_code = 0;
  std::uint32_t timeout_seconds = 0;
  std::uint32_t flags = 0;
  // Raw bytes as on the wire (Windows fills it with UTF-16LE text).
  std::array<std::byte, kShutdownDisplayMessageSize> display_message{};

  // The text up to the first U+0000, decoded from UTF-16LE (an error if not
  // terminated or malformed).
  Result<std::string> display_message_utf8() const;
  // Stores UTF-8 text as UTF-16LE, zero-padded; fails if it does not fit with
  // its terminator (or is not valid UTF-8).
  Status set_display_message(std::string_view utf8);

  // Field-wise, like a defaulted ==, but the text compares with memcmp (fast
  // in instrumented fuzz builds).
  bool operator==(const ShutdownMsg& o) const;
};

// At least 2060 bytes, as Linux requires ("shutdown.display_message":
// truncated); bytes past 2060 are ignored.
Result<ShutdownMsg> decode_shutdown(ByteSpan body);
void encode(const ShutdownMsg& m, ByteWriter& w);  // always 2060 bytes

}  // namespace vmbh::proto
