#include "serve_options.h"

#include <cctype>
#include <charconv>
#include <filesystem>

namespace vmbh::cli {

const char* const kServeUsage =
    "usage: vmbh serve --image DIR --qemu QEMU --control SOCKET [--run-dir DIR]\n"
    "                  [--smp N] [--mem MB] [--accel tcg|kvm] [--vmbus-version M.m]\n"
    "                  [--append \"kernel args\"] [--heartbeat-ms N] [--timesync-ms N]\n"
    "                  [--relay-timeout S]\n"
    "                  [--fcopy kernel|uio] [--disk FILE]... [--nic MAC]...\n";

namespace {

bool parse_unsigned(const std::string& s, unsigned& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::optional<proto::VmbusVersion> parse_version(const std::string& s) {
  auto dot = s.find('.');
  unsigned major = 0, minor = 0;
  if (dot == std::string::npos || !parse_unsigned(s.substr(0, dot), major) ||
      !parse_unsigned(s.substr(dot + 1), minor) || major > 0xffff || minor > 0xffff) {
    return std::nullopt;
  }
  auto v = proto::vmbus_version_from_raw(major << 16 | minor);
  if (!v || !proto::is_known_version(*v)) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::string> parse_mac(const std::string& text) {
  if (text.size() != 17) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i % 3 == 2) {
      if (c != ':') return std::nullopt;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  unsigned first = 0;
  (void)std::from_chars(out.data(), out.data() + 2, first, 16);
  if (first & 1) return std::nullopt;  // the I/G bit: multicast
  return out;
}

host::Result<ServeOptions> parse_serve_options(const std::vector<std::string>& args) {
  ServeOptions o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (i + 1 >= args.size()) return host::Status::fail("serve: " + a + " needs a value (or is unknown)");
    const std::string& v = args[++i];
    unsigned n = 0;
    if (a == "--image") {
      o.image_dir = v;
    } else if (a == "--qemu") {
      o.qemu = v;
    } else if (a == "--control") {
      o.control_socket = v;
    } else if (a == "--run-dir") {
      o.run_dir = v;
    } else if (a == "--append") {
      o.append = v;
    } else if (a == "--disk") {
      o.disks.push_back(v);
    } else if (a == "--nic") {
      auto mac = parse_mac(v);
      if (!mac) {
        return host::Status::fail(
            "serve: --nic " + v +
            " is not a unicast MAC address (six hex pairs with ':', e.g. 52:54:00:12:34:56)");
      }
      o.nics.push_back(*mac);
    } else if (a == "--fcopy") {
      if (v != "kernel" && v != "uio")
        return host::Status::fail("serve: --fcopy must be kernel or uio, not " + v);
      o.fcopy_uio = v == "uio";
    } else if (a == "--accel") {
      if (v != "tcg" && v != "kvm") return host::Status::fail("serve: --accel must be tcg or kvm, not " + v);
      o.accel = v;
    } else if (a == "--smp" || a == "--mem" || a == "--heartbeat-ms" || a == "--relay-timeout") {
      if (!parse_unsigned(v, n) || n == 0) {
        std::string msg = "serve: " + a;
        msg += " needs a positive number, not ";
        msg += v;
        return host::Status::fail(msg);
      }
      (a == "--smp"            ? o.smp
       : a == "--mem"          ? o.mem_mb
       : a == "--heartbeat-ms" ? o.heartbeat_ms
                               : o.relay_timeout_s) = n;
    } else if (a == "--timesync-ms") {
      if (!parse_unsigned(v, n))
        return host::Status::fail("serve: --timesync-ms needs a number (0: off), not " + v);
      o.timesync_ms = n;
    } else if (a == "--vmbus-version") {
      auto ver = parse_version(v);
      if (!ver)
        return host::Status::fail("serve: --vmbus-version " + v + " is not a VMBus version (e.g. 5.3, 4.0)");
      o.max_version = *ver;
    } else {
      return host::Status::fail("serve: unknown option " + a);
    }
  }
  if (o.image_dir.empty()) return host::Status::fail("serve: --image DIR is required");
  if (o.qemu.empty())
    return host::Status::fail("serve: --qemu is required (harness/qemu/build-qemu prints it)");
  if (o.control_socket.empty()) return host::Status::fail("serve: --control SOCKET is required");
  namespace fs = std::filesystem;
  if (!fs::exists(fs::path(o.image_dir) / "initramfs.cpio")) {
    return host::Status::fail("serve: " + o.image_dir +
                              " is not an image (no initramfs.cpio; see vm-images/build-image)");
  }
  if (!fs::exists(o.qemu)) return host::Status::fail("serve: no QEMU at " + o.qemu);
  for (auto& d : o.disks) {
    std::error_code ec;
    auto st = fs::status(d, ec);
    if (!fs::exists(st)) return host::Status::fail("serve: --disk " + d + ": no such file");
    if (!fs::is_regular_file(st) && !fs::is_block_file(st))
      return host::Status::fail("serve: --disk " + d + ": not a file or block device");
    // QEMU runs in serve's directory too, but an absolute path reads better in logs.
    d = fs::absolute(d).string();
  }
  return o;
}

}  // namespace vmbh::cli
