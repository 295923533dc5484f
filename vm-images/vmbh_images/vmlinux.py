"""Unpacking the ELF vmlinux from an x86 bzImage, for PVH boot.

Under TCG the kernel's own decompressor (xz in 6.1, zstd in 6.12) runs as
emulated code and takes seconds; QEMU can instead load the uncompressed ELF
directly through its PVH entry point when the kernel has CONFIG_PVH (the
XEN_ELFNOTE_PHYS32_ENTRY note). The builder ships both; the runner prefers
vmlinux.
"""
from __future__ import annotations

import lzma
import struct
import subprocess
import zlib

XEN_ELFNOTE_PHYS32_ENTRY = 18
PT_NOTE = 4


def payload(bz: bytes) -> bytes:
    """The compressed kernel inside a bzImage (boot protocol >= 2.08)."""
    setup_sects = bz[0x1F1] or 4
    offset, length = struct.unpack_from("<II", bz, 0x248)
    start = (setup_sects + 1) * 512 + offset
    return bz[start:start + length]


def decompress(data: bytes) -> bytes | None:
    if data.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
    if data.startswith(b"(\xb5/\xfd"):
        p = subprocess.run(["zstd", "-dcq"], input=data, capture_output=True)
        return p.stdout if p.stdout.startswith(b"\x7fELF") else None
    if data.startswith(b"\x1f\x8b"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
    return None  # lz4, lzo, bzip2, lzma: boot the bzImage instead


def has_pvh_note(elf: bytes) -> bool:
    """An ELF64 with a Xen PHYS32_ENTRY note in a PT_NOTE segment."""
    if not elf.startswith(b"\x7fELF\x02\x01"):
        return False
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", elf, phoff + i * phentsize)
        if p_type != PT_NOTE:
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12:pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def pvh_vmlinux(bz: bytes) -> bytes | None:
    """The PVH-bootable vmlinux of a bzImage, or None when there is none."""
    try:
        elf = decompress(payload(bz))
    except (lzma.LZMAError, zlib.error, struct.error, OSError):
        return None
    return elf if elf and has_pvh_note(elf) else None
