"""Reading and unpacking .deb files with dpkg-deb."""
from __future__ import annotations

import subprocess
from pathlib import Path

from .apt import parse_control
from .errors import BuildError


def control(path: Path) -> dict[str, str]:
    p = subprocess.run(["dpkg-deb", "-f", str(path)], text=True, capture_output=True)
    if p.returncode != 0:
        raise BuildError(f"{path}: not a Debian package ({_last(p.stderr)})")
    return parse_control(p.stdout)


def extract(path: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["dpkg-deb", "-x", str(path), str(dest)], text=True,
                       capture_output=True)
    if p.returncode != 0:
        raise BuildError(f"{path}: cannot unpack ({_last(p.stderr)})")


def _last(stderr: str) -> str:
    lines = [l for l in stderr.strip().splitlines() if l.strip()]
    return lines[-1].removeprefix("dpkg-deb: error: ") if lines else "failed"
