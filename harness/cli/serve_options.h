// `vmbh serve` options (docs/control-api.md).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "vmbh/host/status.h"
#include "vmbh/protocols/vmbus.h"

namespace vmbh::cli {

struct ServeOptions {
  std::string image_dir;
  std::string qemu;
  std::string control_socket;
  std::string run_dir;  // created if missing; default: a new directory under $TMPDIR
  std::string accel = "tcg";
  unsigned smp = 1;
  unsigned mem_mb = 512;
  proto::VmbusVersion max_version = proto::VmbusVersion::win10_v5_3;
  std::string append;
  unsigned heartbeat_ms = 1000;
  unsigned timesync_ms = 5000;    // SYNC on open, then SAMPLE every N ms, as Hyper-V does; 0: only on request
  bool fcopy_uio = false;         // offer fcopy as 6.12's uio daemon expects it
  unsigned relay_timeout_s = 60;  // QEMU must connect to the relay socket within this
  std::vector<std::string> disks;  // raw images, virtio-blk: /dev/vda, /dev/vdb, ... in this order
  std::vector<std::string> nics;   // MACs ("52:54:00:12:34:56"), one virtio-net each
};

extern const char* const kServeUsage;

// "52:54:00:12:34:56": six hex pairs separated by ':', and a unicast
// address (a NIC cannot have a multicast one). Lower-cased.
std::optional<std::string> parse_mac(const std::string& text);

// Parses the arguments after "serve"; the error names the bad option.
host::Result<ServeOptions> parse_serve_options(const std::vector<std::string>& args);

}  // namespace vmbh::cli
