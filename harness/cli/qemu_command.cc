#include "qemu_command.h"

#include <filesystem>

namespace vmbh::cli {

namespace fs = std::filesystem;

std::string image_kernel(const std::string& image_dir) {
  for (const char* name : {"vmlinux", "vmlinuz"}) {
    fs::path p = fs::path(image_dir) / name;
    if (fs::exists(p)) return p.string();
  }
  return {};
}

const std::vector<std::string>& hyperv_features() {
  static const std::vector<std::string> features = {
      "hv-relaxed", "hv-vpindex", "hv-time",   "hv-frequencies",   "hv-synic",
      "hv-runtime", "hv-reset",   "hv-stimer", "hv-stimer-direct", "hv-crash",
  };
  return features;
}

std::string kernel_append(const QemuConfig& c) {
  // Same reasons as FAST_APPEND in vm-images/vmbh_images/qemu.py: every
  // console character is an exit under TCG, and these initcalls and checks
  // cost seconds without telling us anything about VMBus.
  std::string a =
      "console=ttyS0 quiet loglevel=3 panic=-1 cryptomgr.notests tsc=reliable no_timer_check "
      "i8042.noaux i8042.nokbd mitigations=off random.trust_cpu=on "
      "initcall_blacklist=jent_mod_init,crypto_kdf108_init,init_kprobe_trace,trace_eval_init";
  if (!c.extra_append.empty()) a += " " + c.extra_append;
  return a;
}

std::string qemu_opt_escape(const std::string& value) {
  std::string out;
  for (char ch : value) {
    out += ch;
    if (ch == ',') out += ',';
  }
  return out;
}

std::vector<std::string> disk_args(const std::vector<std::string>& disks) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < disks.size(); ++i) {
    const std::string id = "disk" + std::to_string(i);
    // cache=writeback: QEMU pwrite()s guest writes into the host page cache
    // (no O_DIRECT) and the device reports a volatile write cache, so the
    // guest's sync / fsfreeze sends FLUSH, which QEMU turns into fdatasync.
    // Once a guest sync or VSS freeze has returned, a host-side copy of the
    // file reads the data (page cache), and it is on disk too. cache=unsafe
    // would drop the flushes; writethrough would hide the cache from the guest.
    out.insert(
        out.end(),
        {"-drive", "file=" + qemu_opt_escape(disks[i]) + ",format=raw,if=none,id=" + id + ",cache=writeback",
         "-device", "virtio-blk-pci,drive=" + id});
  }
  return out;
}

std::vector<std::string> nic_args(const std::vector<std::string>& macs) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < macs.size(); ++i) {
    const std::string id = "net" + std::to_string(i);
    // A hub port needs no host library or privilege (this QEMU is built
    // without slirp); the NIC gets a link and the guest configures it.
    out.insert(out.end(), {"-netdev", "hubport,id=" + id + ",hubid=0", "-device",
                           "virtio-net-pci,netdev=" + id + ",mac=" + macs[i]});
  }
  return out;
}

std::vector<std::string> qemu_argv(const QemuConfig& c) {
  std::string cpu = c.accel == "kvm" ? "host" : "max";
  for (const auto& f : hyperv_features()) cpu += "," + f + "=on";
  std::vector<std::string> argv = {
      c.qemu,
      "-accel",
      c.accel,
      "-M",
      "q35,memory-backend=ram",
      "-object",
      "memory-backend-file,id=ram,size=" + std::to_string(c.mem_mb) + "M,mem-path=" + c.ram_file +
          ",share=on",
      "-cpu",
      cpu,
      "-m",
      std::to_string(c.mem_mb) + "M",
      "-smp",
      std::to_string(c.smp),
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      // A kernel panic ends QEMU with a failure status instead of pausing forever.
      "-action",
      "panic=exit-failure",
      // No ACPI S4, as on a Hyper-V VM without the hibernation feature: Linux
      // then refuses a hibernate request from the shutdown IC (hv_utils checks
      // S4 support) instead of accepting it and failing later.
      "-global",
      "ICH9-LPC.disable_s4=1",
      "-kernel",
      image_kernel(c.image_dir),
      "-initrd",
      (fs::path(c.image_dir) / "initramfs.cpio").string(),
      "-append",
      kernel_append(c),
      "-serial",
      "stdio",
      "-d",
      "guest_errors",
      "-D",
      c.qemu_log,
      "-chardev",
      "socket,id=relay,path=" + c.relay_socket,
      "-device",
      "vmbus-relay,chardev=relay",
      "-chardev",
      "socket,id=agent,path=" + c.agent_socket + ",server=on,wait=off",
      "-device",
      "virtio-serial-pci",
      "-device",
      "virtserialport,chardev=agent,name=vmbh.agent",
  };
  const auto disks = disk_args(c.disks);
  argv.insert(argv.end(), disks.begin(), disks.end());
  const auto nics = nic_args(c.nics);
  argv.insert(argv.end(), nics.begin(), nics.end());
  return argv;
}

}  // namespace vmbh::cli
