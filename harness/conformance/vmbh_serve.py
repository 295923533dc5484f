"""Starting `vmbh serve` on an image and talking to it: the control API
(vmbh_control.ControlClient) and the guest agent (vmbh_agent.AgentClient).

    with Served("bookworm") as s:
        s.control.wait_channel("kvp")
        s.agent.exec(["uname", "-r"])

Everything a run leaves (console, QEMU log, trace, serve's own log) is in
`s.run_dir`; on a failure the error quotes the tail of the console.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "harness/agent/python"))
import vmbh_agent  # noqa: E402
from vmbh_control import ControlClient  # noqa: E402

DEFAULT_PRESETS = ("bookworm", "bookworm-backports")


def build_dir() -> Path:
    return Path(os.environ.get("VMBH_BUILD", REPO / "build/dev"))


def vmbh_binary() -> Path:
    p = build_dir() / "harness/cli/vmbh"
    if not p.exists():
        raise RuntimeError(f"no vmbh binary at {p}: build the dev preset first (cmake --build --preset dev)")
    return p


def agent_binary() -> Path:
    p = Path(os.environ.get("VMBH_AGENT") or build_dir() / "harness/agent/vmbh-agent")
    if not p.exists():
        raise RuntimeError(f"no guest agent at {p}: build the dev preset first")
    return p


def qemu_binary() -> str:
    if os.environ.get("VMBH_QEMU"):
        return os.environ["VMBH_QEMU"]
    out = subprocess.run([str(REPO / "harness/qemu/build-qemu")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return out.strip().splitlines()[-1]


def image_dir(preset: str) -> Path:
    p = subprocess.run([str(REPO / "vm-images/build-image"), "--preset", preset, "--agent", str(agent_binary())],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"build-image --preset {preset} failed:\n{p.stderr}")
    return Path(p.stdout.strip().splitlines()[-1])


class Served:
    """One `vmbh serve` process with its guest. Use as a context manager."""

    def __init__(self, preset: str | None = None, image: Path | None = None, smp: int = 1, mem_mb: int = 512,
                 extra: list[str] | None = None, run_dir: Path | None = None):
        self.image = Path(image) if image else image_dir(preset or DEFAULT_PRESETS[0])
        self.preset = preset
        self.run_dir = Path(run_dir) if run_dir else Path(tempfile.mkdtemp(prefix="vmbh-serve-"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.control_path = self.run_dir / "control.sock"
        self.argv = [str(vmbh_binary()), "serve", "--image", str(self.image), "--qemu", qemu_binary(),
                     "--run-dir", str(self.run_dir), "--control", str(self.control_path),
                     "--smp", str(smp), "--mem", str(mem_mb), *(extra or [])]
        self.proc: subprocess.Popen | None = None
        self.control: ControlClient | None = None
        self._agent: vmbh_agent.AgentClient | None = None

    def start(self) -> "Served":
        self.log = open(self.run_dir / "serve.log", "wb")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self.control = ControlClient(self.control_path, connect_timeout=30)
        except TimeoutError:
            raise RuntimeError(f"vmbh serve did not open its control socket:\n{self.serve_log()}") from None
        return self

    def serve_log(self) -> str:
        try:
            return (self.run_dir / "serve.log").read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""

    def console(self) -> str:
        try:
            return (self.run_dir / "console.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Seconds from start until the guest's init said it is ready."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.control.status()
            if st.guest_ready:
                return time.monotonic() - self.t0
            if not st.qemu_running:
                raise RuntimeError(f"QEMU exited ({st.qemu_exit_status}) before the guest was ready; console:\n"
                                   + self.console()[-3000:])
            time.sleep(0.1)
        raise TimeoutError(f"guest not ready after {timeout} s; console:\n" + self.console()[-3000:])

    @property
    def agent(self) -> vmbh_agent.AgentClient:
        if self._agent is None:
            self._agent = vmbh_agent.AgentClient.connect_unix(str(self.run_dir / "agent.sock"))
        return self._agent

    def reconnect_agent(self) -> None:
        """Drops the agent connection: after a guest reboot the port is a new
        one, and the next use of `agent` connects to it."""
        if self._agent is not None:
            self._agent.close()
            self._agent = None

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def save_dmesg(self) -> None:
        """The guest's kernel log into RUN_DIR/dmesg.txt (the console only has
        what passed loglevel=3); best effort, the guest may be gone."""
        try:
            st = self.control.status()
            if st.qemu_running and st.guest_ready:
                r = self.agent.exec(["dmesg"], timeout_ms=5000)
                (self.run_dir / "dmesg.txt").write_bytes(r.stdout)
        except Exception:  # noqa: BLE001 — a dead guest has no dmesg to give
            pass

    def stop(self) -> None:
        if self.control and self.proc and self.proc.poll() is None:
            self.save_dmesg()
        if self._agent:
            self._agent.close()
            self._agent = None
        if self.control and self.proc and self.proc.poll() is None:
            try:
                self.control.quit()
            except Exception:  # noqa: BLE001 — serve may be gone already; the kill below covers it
                pass
        if self.control:
            self.control.close()
            self.control = None
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def __enter__(self) -> "Served":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
