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

std::vector<std::string> qemu_argv(const QemuConfig& c) {
  std::string cpu = c.accel == "kvm" ? "host" : "max";
  for (const auto& f : hyperv_features()) cpu += "," + f + "=on";
  return {
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
}

}  // namespace vmbh::cli
