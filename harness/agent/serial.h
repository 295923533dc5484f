// The agent's channel: a serial device (virtio-serial port or UART) in raw mode.
#pragma once

#include <string>

namespace vmbh::agent {

inline constexpr const char* kVirtioPortName = "vmbh.agent";
inline constexpr const char* kVirtioPortPath = "/dev/virtio-ports/vmbh.agent";
inline constexpr const char* kFallbackSerial = "/dev/ttyS1";

// /dev/virtio-ports/vmbh.agent; else the /dev/vportNpM whose
// /sys/class/virtio-ports/*/name is vmbh.agent (no udev in the initramfs to
// make the symlink); else /dev/ttyS1.
std::string default_device();

// Opens the device read-write, close-on-exec, not as controlling tty; a tty is
// put in raw mode (8N1, no echo, no flow control, 115200 baud). -1 with errno set.
int open_serial(const std::string& path);

}  // namespace vmbh::agent
