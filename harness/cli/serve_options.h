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
  bool fcopy_uio = false;         // offer fcopy as 6.12's uio daemon expects it
  unsigned relay_timeout_s = 60;  // QEMU must connect to the relay socket within this
};

extern const char* const kServeUsage;

// Parses the arguments after "serve"; the error names the bad option.
host::Result<ServeOptions> parse_serve_options(const std::vector<std::string>& args);

}  // namespace vmbh::cli
