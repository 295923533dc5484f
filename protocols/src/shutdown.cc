#include "vmbh/protocols/shutdown.h"

#include <algorithm>
#include <cstring>

#include "vmbh/protocols/ic.h"
#include "vmbh/protocols/utf16.h"

namespace vmbh::proto {

std::optional<ShutdownAction> shutdown_action(std::uint32_t flags) {
  switch (flags) {
    case 0:
    case 1:
      return ShutdownAction::shutdown;
    case 2:
    case 3:
      return ShutdownAction::reboot;
    case 4:
    case 5:
      return ShutdownAction::hibernate;
    default:
      return std::nullopt;
  }
}

std::uint32_t linux_shutdown_status(std::uint32_t flags, bool hibernation_supported) {
  const std::optional<ShutdownAction> action = shutdown_action(flags);
  if (!action) return kHvEFail;
  if (*action == ShutdownAction::hibernate && !hibernation_supported) return kHvEFail;
  return kHvSOk;
}

Result<std::string> ShutdownMsg::display_message_utf8() const {
  return utf16le_terminated_to_utf8(display_message, "shutdown.display_message");
}

Status ShutdownMsg::set_display_message(std::string_view utf8) {
  Result<Bytes> text = utf8_to_utf16le(utf8, "shutdown.display_message");
  if (!text) return text.error();
  if (text->size() + 2 > display_message.size()) {
    return Error{Errc::bad_length, "shutdown.display_message", 12};
  }
  display_message.fill(std::byte{0});
  std::copy(text->begin(), text->end(), display_message.begin());
  return {};
}

bool ShutdownMsg::operator==(const ShutdownMsg& o) const {
  return reason_code == o.reason_code && timeout_seconds == o.timeout_seconds && flags == o.flags &&
         std::memcmp(display_message.data(), o.display_message.data(), display_message.size()) == 0;
}

Result<ShutdownMsg> decode_shutdown(ByteSpan body) {
  ByteReader r(body);
  ShutdownMsg m;
  m.reason_code = r.u32("shutdown.reason_code");
  m.timeout_seconds = r.u32("shutdown.timeout_seconds");
  m.flags = r.u32("shutdown.flags");
  ByteSpan text = r.bytes(kShutdownDisplayMessageSize, "shutdown.display_message");
  if (!r.ok()) return *r.error();
  std::copy(text.begin(), text.end(), m.display_message.begin());
  return m;
}

void encode(const ShutdownMsg& m, ByteWriter& w) {
  w.u32(m.reason_code);
  w.u32(m.timeout_seconds);
  w.u32(m.flags);
  w.bytes(m.display_message);
}

}  // namespace vmbh::proto
