"""Booting an image under QEMU (TCG) and waiting for the init's ready marker.

Used by boot-bench and the boot tests. The console (ttyS0) goes to a log file;
the agent's virtio-serial port `vmbh.agent` is a unix socket the host connects to.
"""
from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

READY = b"VMBH-READY"
MODULES_DONE = b"VMBH-MODULES-DONE"
# What keeps a TCG boot short: no console chatter (every character is an I/O
# exit), no crypto self-tests, no TSC calibration or clocksource watchdog,
# no legacy keyboard/mouse probing, no speculative-execution mitigations, and
# none of the slowest initcalls that VMBus does not need (the jitterentropy RNG
# and KDF self-tests, kprobe-event and trace-eval set-up: ~0.3 s together).
SKIPPED_INITCALLS = "jent_mod_init,crypto_kdf108_init,init_kprobe_trace,trace_eval_init"
FAST_APPEND = ("console=ttyS0 quiet loglevel=3 panic=-1 cryptomgr.notests "
               "tsc=reliable no_timer_check i8042.noaux i8042.nokbd "
               "mitigations=off random.trust_cpu=on "
               f"initcall_blacklist={SKIPPED_INITCALLS}")


def qemu_binary() -> str:
    q = shutil.which("qemu-system-x86_64")
    if not q:
        raise RuntimeError("qemu-system-x86_64 not found (Debian package qemu-system-x86)")
    return q


class Guest:
    """One QEMU process running an image; use as a context manager."""

    def __init__(self, image: Path, smp: int = 1, mem_mb: int = 512, cpu: str = "qemu64",
                 append: str = FAST_APPEND, extra_args: list[str] | None = None,
                 agent_on: str = "virtio", qemu: str | None = None, machine: str = "pc"):
        """agent_on: "virtio" (port vmbh.agent) or "ttyS1" (the init's fallback).
        qemu: the binary (default: Debian's qemu-system-x86_64 on PATH)."""
        self.image = Path(image)
        self.qemu = qemu
        self.machine = machine
        self.cpu = cpu
        self.agent_on = agent_on
        self.smp, self.mem_mb, self.append = smp, mem_mb, append
        self.extra_args = extra_args or []
        self.dir = Path(tempfile.mkdtemp(prefix="vmbh-guest-"))
        self.agent_sock_path = self.dir / "agent.sock"
        # QEMU's own log (-d guest_errors): guest panics with the Hyper-V crash
        # parameters, unhandled MSRs and hypercalls end up here.
        self.qemu_log_path = self.dir / "qemu.log"
        self.console = bytearray()
        self.proc: subprocess.Popen | None = None

    def kernel_file(self) -> Path:
        """The PVH vmlinux when the builder made one (no decompression under TCG)."""
        elf = self.image / "vmlinux"
        return elf if elf.exists() else self.image / "vmlinuz"

    def argv(self) -> list[str]:
        return [
            self.qemu or qemu_binary(), "-accel", "tcg", "-M", self.machine, "-cpu", self.cpu,
            "-m", str(self.mem_mb), "-smp", str(self.smp),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", str(self.kernel_file()),
            "-initrd", str(self.image / "initramfs.cpio"),
            "-append", self.append,
            "-serial", "stdio", "-d", "guest_errors", "-D", str(self.qemu_log_path),
            "-chardev", f"socket,id=agent,path={self.agent_sock_path},server=on,wait=off",
            *self.agent_args(),
            *self.extra_args,
        ]

    def agent_args(self) -> list[str]:
        if self.agent_on == "ttyS1":
            return ["-serial", "chardev:agent"]
        return ["-device", "virtio-serial-pci",
                "-device", "virtserialport,chardev=agent,name=vmbh.agent"]

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Seconds from QEMU start to the ready marker line on the console."""
        return self.wait_for(READY, timeout)

    def wait_for(self, marker: bytes, timeout: float = 60.0) -> float:
        """Seconds from QEMU start to the first console line holding marker
        (MODULES_DONE: the file system modules are in too)."""
        fd = self.proc.stdout.fileno()
        deadline = self.t0 + timeout
        while marker not in self.console or b"\n" not in self.console.split(marker, 1)[1]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {marker.decode()} within {timeout} s; console:\n"
                                   + self.console[-2000:].decode(errors="replace"))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError("QEMU exited before the guest was ready:\n"
                                       + self.console[-2000:].decode(errors="replace"))
                self.console += chunk
        return time.monotonic() - self.t0

    def ready_line(self) -> str:
        i = self.console.index(READY)
        return self.console[i:].split(b"\n", 1)[0].decode(errors="replace").strip()

    def agent_socket(self, timeout: float = 10.0) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(str(self.agent_sock_path))
        return s

    def qemu_log(self) -> str:
        try:
            return self.qemu_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_exit(self, timeout: float) -> int:
        """QEMU's exit status, reading the console meanwhile; TimeoutError if it keeps running."""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"QEMU still running after {timeout} s")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if chunk:
                    self.console += chunk
                    continue
                return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Guest":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
