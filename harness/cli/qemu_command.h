// The QEMU command line `vmbh serve` runs: an image from vm-images/, Hyper-V
// enlightenments (TCG: our patch series; KVM: KVM's own), guest RAM in a file
// the host maps, the vmbus-relay device instead of QEMU's own VMBus, and the
// guest agent on a virtio-serial port.
#pragma once

#include <string>
#include <vector>

namespace vmbh::cli {

struct QemuConfig {
  std::string qemu;           // the patched qemu-system-x86_64
  std::string image_dir;      // vmlinux or vmlinuz, initramfs.cpio
  std::string accel = "tcg";  // "tcg" or "kvm"
  unsigned smp = 1;
  unsigned mem_mb = 512;
  std::string ram_file;            // memory-backend-file mem-path (share=on)
  std::string relay_socket;        // unix socket the host listens on
  std::string agent_socket;        // unix socket QEMU listens on for the agent port
  std::string qemu_log;            // -D: guest errors and guest-panicked reports
  std::string extra_append;        // appended to the kernel command line
  std::vector<std::string> disks;  // raw image files, virtio-blk in this order (vda, vdb, ...)
  std::vector<std::string> nics;   // MAC addresses, one virtio-net each
};

// The kernel the image provides: the PVH vmlinux when present (no
// decompression under TCG), else vmlinuz. Empty when neither exists.
std::string image_kernel(const std::string& image_dir);

// The hv-* features the patch series implements under TCG (all of them are
// KVM features too, so the same list serves -accel kvm).
const std::vector<std::string>& hyperv_features();

// The kernel command line: quiet, fast under TCG (see vm-images/vmbh_images/qemu.py).
std::string kernel_append(const QemuConfig& c);

// A value inside a QEMU option list ("file=VALUE,..."): commas doubled.
std::string qemu_opt_escape(const std::string& value);

// -drive/-device pairs for the scratch disks, -netdev/-device pairs for the NICs.
std::vector<std::string> disk_args(const std::vector<std::string>& disks);
std::vector<std::string> nic_args(const std::vector<std::string>& macs);

std::vector<std::string> qemu_argv(const QemuConfig& c);

}  // namespace vmbh::cli
