"""Shared fixtures for the image builder tests (run with /usr/bin/python3 -m pytest)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
VM_IMAGES = HERE.parent
BUILD_IMAGE = VM_IMAGES / "build-image"
REPO = VM_IMAGES.parent
REAL_AGENT = REPO / "build/dev/harness/agent/vmbh-agent"
sys.path.insert(0, str(VM_IMAGES))


sys.path.insert(0, str(REPO / "harness/agent/python"))


def agent_path() -> Path:
    """VMBH_AGENT, else the agent of the dev build (which must exist)."""
    path = Path(os.environ.get("VMBH_AGENT") or REAL_AGENT)
    if not path.exists():
        pytest.fail(f"no guest agent at {path}: run 'cmake --build --preset dev' first")
    return path


def run_build(*args: str, cache: Path, agent: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, VMBH_CACHE=str(cache))
    return subprocess.run([str(BUILD_IMAGE), "--agent", str(agent or agent_path()), *args],
                          env=env, text=True, capture_output=True, timeout=900)


def make_deb(tmp: Path, name: str, arch: str, files: dict[str, bytes]) -> Path:
    """A small .deb built with dpkg-deb (a fake input for the error tests)."""
    root = tmp / f"{name}-{arch}"
    for rel, data in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
    (root / "DEBIAN").mkdir(parents=True, exist_ok=True)
    (root / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: 1.0\nArchitecture: {arch}\n"
        "Maintainer: vmbh tests <tests@example.invalid>\nDescription: fake test input\n")
    out = tmp / f"{name}_1.0_{arch}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-b", str(root), str(out)],
                   check=True, capture_output=True)
    return out


@pytest.fixture
def empty_cache(tmp_path):
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def shared_cache():
    """The real cache (VMBH_CACHE or ~/.cache/vmbh): default images are big."""
    return Path(os.environ.get("VMBH_CACHE") or os.path.expanduser("~/.cache/vmbh"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: downloads packages, builds default images or boots QEMU "
                   "(deselect with -m 'not slow')")
