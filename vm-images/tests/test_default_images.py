"""The default images: build (or cache hit), manifest, boot under TCG to agent-ready."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import vmbh_agent
from conftest import run_build
from vmbh_images import qemu

pytestmark = pytest.mark.slow
PRESETS = ["bookworm", "bookworm-backports"]


@pytest.fixture(scope="module", params=PRESETS)
def image(request, shared_cache):
    p = run_build("--preset", request.param, cache=shared_cache)
    assert p.returncode == 0, p.stderr
    return Path(p.stdout.strip())


def test_second_build_is_a_cache_hit_within_5_s(image, shared_cache):
    preset = json.loads((image / "manifest.json").read_text())["kernel"]["suite"]
    preset = "bookworm" if preset == "system" else preset
    t0 = time.monotonic()
    p = run_build("--preset", preset, cache=shared_cache)
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    assert "cache hit" in p.stderr
    assert Path(p.stdout.strip()) == image
    assert elapsed <= 5.0, f"cache hit took {elapsed:.1f} s"


def test_manifest_records_versions_modules_and_daemons(image):
    m = json.loads((image / "manifest.json").read_text())
    assert m["kernel"]["via"].startswith("linux-image-amd64=")
    assert len(m["kernel"]["sha256"]) == 64 and len(m["hyperv_daemons"]["sha256"]) == 64
    assert m["kernel_release"] in m["kernel"]["name"]
    for mod in ["hv_vmbus", "hv_utils", "hv_netvsc", "hv_storvsc", "hv_balloon", "hv_sock",
                "uio_hv_generic", "virtio_console", "ext4", "xfs"]:
        assert mod in m["modules"]["closure"] + m["modules"]["builtin"]
    nodes = {d["node"] for d in m["daemons"]}
    assert {"/dev/vmbus/hv_kvp", "/dev/vmbus/hv_vss"} <= nodes
    if m["hyperv_daemons"]["version"].startswith("6.1."):
        assert "/dev/vmbus/hv_fcopy" in nodes
    assert m["boot"] == "pvh" and (image / "vmlinux").exists()


def test_boots_to_agent_ready_with_the_manifest_kernel(image):
    release = json.loads((image / "manifest.json").read_text())["kernel_release"]
    with qemu.Guest(image) as g:
        seconds = g.wait_ready(timeout=120)
        assert g.ready_line() == f"VMBH-READY {release}"
        print(f"{release}: ready after {seconds:.2f} s")


@pytest.mark.parametrize("agent_on", ["virtio", "ttyS1"])
def test_agent_answers_uname_and_survives_garbage(image, agent_on):
    """Through the real agent: uname -r is the manifest's kernel; a garbage frame gets an
    error answer and the next request is still served."""
    release = json.loads((image / "manifest.json").read_text())["kernel_release"]
    with qemu.Guest(image, agent_on=agent_on) as g:
        g.wait_ready(timeout=120)
        agent = vmbh_agent.AgentClient(g.agent_socket())
        agent.wait_ready(timeout=30)
        r = agent.exec(["uname", "-r"])
        assert r.ok and r.stdout.decode().strip() == release, r
        agent.send_raw(b"\x00\xff garbage VMBA\x07\x07\x07 more garbage")
        type_, _op, _rid, _payload = agent.read_frame(timeout=30)
        assert type_ == vmbh_agent.ERROR
        assert agent.ping(b"still there").startswith("vmbh-agent")


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_daemons_and_helper_scripts_run_from_the_initramfs(image, tmp_path):
    """Libraries, loader and script interpreters are all inside: run them in a chroot."""
    with open(image / "initramfs.cpio", "rb") as f:
        subprocess.run(["cpio", "-id", "--quiet"], stdin=f, cwd=tmp_path, check=True)
    m = json.loads((image / "manifest.json").read_text())
    for d in m["daemons"]:
        p = subprocess.run(["chroot", str(tmp_path), d["argv"][0], "--help"],
                           capture_output=True, text=True, timeout=30)
        assert "--no-daemon" in p.stdout + p.stderr, (d, p.stderr)
    helpers = tmp_path / "usr/libexec/hypervkvpd"
    p = subprocess.run(["chroot", str(tmp_path), "/usr/libexec/hypervkvpd/hv_get_dhcp_info",
                        "eth0"], capture_output=True, text=True, timeout=30)
    assert helpers.is_dir() and p.stdout.strip() in ("Enabled", "Disabled"), p.stderr
