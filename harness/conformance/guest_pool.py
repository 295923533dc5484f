"""Guests for the conformance checks. Booting is most of a check's cost under
TCG, so guests are reused wherever a check allows:

- the shared guest (one per kernel, with a NIC): checks that leave no state;
- kept guests (one per kernel and name): a few checks that need the same
  special guest, e.g. "vss" (two scratch disks) or "reboot" (a reboot leaves
  a guest as new: the image is an initramfs);
- fresh guests: checks that end their guest or need a boot option of their own
  (shutdown, capped VMBus versions).

A reused guest is checked before every use and booted again when a check left
it dead (QEMU exited, the agent stopped answering), so one broken check does
not take the rest of the suite with it.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vmbh_control import ControlError
from vmbh_serve import Served

SUN_PATH_MAX = 100  # sockaddr_un.sun_path is 108 bytes; leave room for longer socket names
# The shared guest's NIC (virtio-net until the synthetic NIC exists): KVP's
# GET_IP_INFO needs one.
SHARED_NIC_MAC = "52:54:00:12:34:56"
IC_CHANNELS = ("heartbeat", "shutdown", "timesync", "kvp", "vss", "fcopy")
# The hyperv-daemons and the names the image's init runs them under (the
# packaged systemd units'): its pid files are /run/vmbh/SERVICE.pid.
SERVICE_OF = {"hv_kvp_daemon": "hv-kvp-daemon.service", "hv_vss_daemon": "hv-vss-daemon.service",
              "hv_fcopy_daemon": "hv-fcopy-daemon.service"}


@dataclass(frozen=True)
class Kernel:
    """One guest image under test: a label for reports and the image directory."""
    label: str
    image: Path

    def manifest(self) -> dict:
        return json.loads((self.image / "manifest.json").read_text())

    def release(self) -> str:
        return self.manifest().get("kernel_release", self.label)


class GuestPool:
    def __init__(self, run_root: Path, append: str = ""):
        self.run_root = run_root
        self.append = append  # kernel arguments for every guest (the self-test's variants)
        self.kept_guests: dict[tuple[str, str], Served] = {}
        self.counter = 0
        self.boot_seconds: list[float] = []

    def _run_dir(self, kernel: Kernel, what: str) -> Path:
        self.counter += 1
        d = self.run_root / f"{kernel.label}-{self.counter:03d}-{what}"
        self.run_root.mkdir(parents=True, exist_ok=True)
        if len(str(d / "control.sock")) < SUN_PATH_MAX:
            d.mkdir(exist_ok=True)
            return d
        # Unix socket paths (the run dir holds serve's sockets) are limited to
        # 108 bytes: run in a short directory, linked from the report.
        short = Path(tempfile.mkdtemp(prefix="vmbh-run-"))
        d.symlink_to(short)
        return short

    def boot(self, kernel: Kernel, what: str, extra: list[str] | None = None, mem_mb: int = 512) -> Served:
        extra = merge_append(list(extra or []), self.append)
        s = Served(image=kernel.image, run_dir=self._run_dir(kernel, what), extra=extra, mem_mb=mem_mb)
        s.preset = kernel.label
        s.start()
        try:
            self.boot_seconds.append(s.wait_ready(180))
        except BaseException:
            s.stop()
            raise
        return s

    def shared(self, kernel: Kernel) -> Served:
        return self.kept(kernel, "shared", ["--nic", SHARED_NIC_MAC])

    def kept(self, kernel: Kernel, what: str, extra: list[str] | None = None) -> Served:
        """The kernel's guest named `what`, booted with `extra` on first use and
        again whenever the last check left it dead."""
        s = self.kept_guests.get((kernel.label, what))
        if s is not None and not healthy(s):
            s.stop()
            s = None
        if s is None:
            s = self.boot(kernel, what, extra=extra)
            self.kept_guests[(kernel.label, what)] = s
        return s

    def release(self, kernel: Kernel, what: str) -> None:
        """Stops the kept guest (if any): no check needs it any more."""
        s = self.kept_guests.pop((kernel.label, what), None)
        if s is not None:
            s.stop()

    def close(self) -> None:
        for s in self.kept_guests.values():
            s.stop()
        self.kept_guests.clear()


def merge_append(extra: list[str], append: str) -> list[str]:
    """Adds kernel arguments to serve's --append (one --append, both sets)."""
    if not append:
        return extra
    if "--append" in extra:
        i = extra.index("--append") + 1
        extra[i] = f"{extra[i]} {append}"
        return extra
    return extra + ["--append", append]


def healthy(s: Served) -> bool:
    try:
        st = s.control.status()
        if not (st.qemu_running and st.guest_ready):
            return False
        if st.boots != getattr(s, "boots_seen", st.boots):
            s.reconnect_agent()  # rebooted since the last use: the agent's port is a new one
        s.boots_seen = st.boots
        s.agent.ping(timeout=5)
        return True
    except Exception:  # noqa: BLE001 — any failure to talk to it means: boot a new one
        return False


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Polls predicate() until it returns something truthy; returns it, or
    raises TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not reached within {timeout} s")
        time.sleep(interval)


def channel(s: Served, name: str):
    for c in s.control.status().channels:
        if c.name == name:
            return c
    return None


def facts(ch) -> dict[str, str]:
    return {f.key: f.value for f in ch.facts} if ch is not None else {}


# How long a check waits for an IC channel to be open and negotiated once the
# guest is ready (KVP waits for its daemon: about a second under TCG). The
# self-test lowers it: there, waiting for a channel that never comes is the point.
IC_WAIT_S = float(os.environ.get("VMBH_IC_WAIT_S", "20"))


# Once a channel was not ready in time on a guest, later checks on that guest
# look again only this long: a guest that lacks a driver or daemon fails each
# dependent check promptly instead of making every one wait the full time.
IC_RECHECK_S = 1.0


def wait_ic_ready(s: Served, name: str, timeout: float | None = None) -> dict[str, str]:
    """Waits until the IC channel is open and its versions are negotiated."""
    missed = getattr(s, "ic_missed", {})
    timeout = IC_WAIT_S if timeout is None else timeout
    if name in missed:
        timeout = min(timeout, IC_RECHECK_S)
    deadline = time.monotonic() + timeout
    try:
        try:
            s.control.wait_channel(name, timeout=timeout)
        except ControlError as e:
            if not str(e).startswith("timeout:"):
                raise
            raise TimeoutError(f"{name} not open within {timeout:g} s ({e})") from None
        f = wait_for(lambda: (f := facts(channel(s, name))).get("state") == "ready" and f,
                     max(0.0, deadline - time.monotonic()), what=f"{name} negotiated")
    except TimeoutError as e:
        if name in missed:
            raise TimeoutError(f"{e} (and not within {missed[name]}) earlier on this guest") from None
        missed[name] = f"{timeout:g} s"
        s.ic_missed = missed
        raise
    missed.pop(name, None)
    return f


def kernel_release(s: Served) -> str:
    if not getattr(s, "release", None):
        s.release = s.agent.exec(["uname", "-r"]).stdout.decode().strip()
    return s.release


def is_612(s: Served) -> bool:
    return kernel_release(s).startswith("6.12")


# The gap both the fcopy checks and the channel check report on 6.12.
FCOPY_612_GAP = ("6.12: fcopy moved to uio_hv_generic + hv_fcopy_uio_daemon, "
                 "which Debian's hyperv-daemons does not ship")


def daemon_running(s: Served, daemon: str) -> bool:
    return s.agent.exec(["pidof", daemon]).ok


def kill_daemon(s: Served, daemon: str) -> None:
    """SIGKILLs the daemon; the init leaves it dead (the units have no Restart=)."""
    assert s.agent.exec(["killall", "-9", daemon]).ok, f"{daemon} was not running"
    wait_for(lambda: not daemon_running(s, daemon), 5, what=f"{daemon} gone")


def restart_daemon(s: Served, daemon: str, timeout: float = 20) -> None:
    """Runs the daemon again if it is not running: the init starts a daemon
    whose pid file is gone (what systemd's Restart= would do)."""
    if not daemon_running(s, daemon):
        s.agent.exec(["rm", "-f", f"/run/vmbh/{SERVICE_OF[daemon]}.pid"])
    wait_for(lambda: daemon_running(s, daemon), timeout, what=f"{daemon} running again")
