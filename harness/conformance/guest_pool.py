"""Guests for the conformance checks: one shared guest per kernel for checks
that leave no state behind, fresh guests for the ones that end or change their
guest (shutdown, reboot, scratch disks, capped VMBus versions).

A shared guest is checked before every use and booted again when a check left
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

from vmbh_serve import Served

SUN_PATH_MAX = 100  # sockaddr_un.sun_path is 108 bytes; leave room for longer socket names
IC_CHANNELS = ("heartbeat", "shutdown", "timesync", "kvp", "vss", "fcopy")
# The daemons behind the IC channels that need one (hyperv-daemons).
DAEMON_OF = {"kvp": "hv_kvp_daemon", "vss": "hv_vss_daemon", "fcopy": "hv_fcopy_daemon"}


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
        self.shared_guests: dict[str, Served] = {}
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
        s = self.shared_guests.get(kernel.label)
        if s is not None and not healthy(s):
            s.stop()
            s = None
        if s is None:
            s = self.boot(kernel, "shared")
            self.shared_guests[kernel.label] = s
        return s

    def close(self) -> None:
        for s in self.shared_guests.values():
            s.stop()
        self.shared_guests.clear()


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


def wait_ic_ready(s: Served, name: str, timeout: float | None = None) -> dict[str, str]:
    """Waits until the IC channel is open and its versions are negotiated."""
    timeout = IC_WAIT_S if timeout is None else timeout
    deadline = time.monotonic() + timeout
    s.control.wait_channel(name, timeout=timeout)
    return wait_for(lambda: (f := facts(channel(s, name))).get("state") == "ready" and f,
                    max(0.0, deadline - time.monotonic()), what=f"{name} negotiated")


def kernel_release(s: Served) -> str:
    return s.agent.exec(["uname", "-r"]).stdout.decode().strip()


def is_612(s: Served) -> bool:
    return kernel_release(s).startswith("6.12")


def daemon_running(s: Served, daemon: str) -> bool:
    return s.agent.exec(["pidof", daemon]).ok
