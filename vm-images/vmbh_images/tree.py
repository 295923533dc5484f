"""The initramfs contents as an in-memory tree, written out as one cpio archive."""
from __future__ import annotations

import hashlib
import posixpath
from pathlib import Path

from .cpio import CpioWriter


class Tree:
    """Paths (absolute, '/'-separated) -> file, symlink or directory."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, bytes | str | None, int]] = {}

    def mkdir(self, path: str, perm: int = 0o755) -> None:
        path = path.rstrip("/")
        if not path:
            return
        self.mkdir(posixpath.dirname(path))
        self.entries.setdefault(path, ("dir", None, perm))

    def add(self, path: str, data: bytes, perm: int = 0o644) -> None:
        self.mkdir(posixpath.dirname(path))
        self.entries[path] = ("file", data, perm)

    def add_host(self, path: str, host: Path, perm: int | None = None) -> None:
        """A file from the host (or an unpacked package), following symlinks."""
        mode = host.stat().st_mode & 0o7777
        self.add(path, host.read_bytes(), mode if perm is None else perm)

    def symlink(self, path: str, target: str) -> None:
        self.mkdir(posixpath.dirname(path))
        self.entries.setdefault(path, ("link", target, 0o777))

    def has(self, path: str) -> bool:
        return path in self.entries

    def write_cpio(self, out_path: Path) -> str:
        """Writes the archive; returns its sha256."""
        with open(out_path, "wb") as f:
            w = CpioWriter(f)
            for path in sorted(self.entries):  # parents sort before children
                kind, data, perm = self.entries[path]
                name = path.lstrip("/")
                if kind == "dir":
                    w.directory(name, perm)
                elif kind == "file":
                    w.file(name, data, perm)
                else:
                    w.symlink(name, data)
            w.close()
        h = hashlib.sha256()
        with open(out_path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
