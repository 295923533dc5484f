"""A minimal writer of uncompressed newc cpio archives (what the kernel unpacks).

Every entry is owned by root with mtime 0, so the same inputs give the same bytes.
"""
from __future__ import annotations

import stat
from typing import BinaryIO


class CpioWriter:
    def __init__(self, out: BinaryIO):
        self.out = out
        self.ino = 1

    def _header(self, name: str, mode: int, size: int, nlink: int = 1) -> None:
        encoded = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(encoded), 0]
        self.ino += 1
        self.out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
        self._pad()

    def _pad(self) -> None:
        self.out.write(b"\0" * (-self.out.tell() % 4))

    def directory(self, name: str, perm: int = 0o755) -> None:
        self._header(name, stat.S_IFDIR | perm, 0, nlink=2)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._header(name, stat.S_IFREG | perm, len(data))
        self.out.write(data)
        self._pad()

    def symlink(self, name: str, target: str) -> None:
        data = target.encode()
        self._header(name, stat.S_IFLNK | 0o777, len(data))
        self.out.write(data)
        self._pad()

    def close(self) -> None:
        self.ino = 0
        self._header("TRAILER!!!", 0, 0, nlink=1)
        self.out.write(b"\0" * (-self.out.tell() % 512))
