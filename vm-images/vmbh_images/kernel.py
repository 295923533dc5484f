"""A kernel tree (vmlinuz + /lib/modules/RELEASE): checks and the module closure."""
from __future__ import annotations

import dataclasses
import gzip
import lzma
import shutil
import subprocess
from pathlib import Path

from .errors import BuildError

# Modules the image must carry (as modules or built in), in load order of intent.
HYPERV_MODULES = ["hv_vmbus", "hv_utils", "hv_netvsc", "hv_storvsc", "hv_balloon",
                  "hv_sock", "uio_hv_generic"]
# What the tests need besides VMBus: the agent's port, a scratch disk, a baseline
# NIC, and file systems for VSS freeze tests.
EXTRA_MODULES = ["virtio_pci", "virtio_console", "virtio_blk", "virtio_net", "ext4", "xfs"]
# Loaded first, so the agent's port exists as early as possible.
EARLY_MODULES = ["virtio_pci", "virtio_console"]
# Loaded right after the ready marker, in the background: under TCG xfs alone
# takes ~0.7 s to load. The init then prints VMBH-MODULES-DONE and creates
# /run/vmbh/modules.done; tests that mount file systems wait for that file.
LATE_MODULES = ["ext4", "xfs"]


def modname(path_or_name: str) -> str:
    """'kernel/fs/ext4/ext4.ko.xz' -> 'ext4'; dashes and underscores are one."""
    base = path_or_name.rsplit("/", 1)[-1]
    for suffix in (".xz", ".zst", ".gz"):
        base = base.removesuffix(suffix)
    return base.removesuffix(".ko").replace("-", "_")


@dataclasses.dataclass
class KernelTree:
    vmlinuz: Path
    moddir: Path  # .../lib/modules/RELEASE, with depmod's output

    @property
    def release(self) -> str:
        return self.moddir.name


def find_in_package_root(root: Path, what: str) -> KernelTree:
    """The kernel in an unpacked linux-image package."""
    images = sorted((root / "boot").glob("vmlinuz-*"))
    if not images:
        raise BuildError(f"{what} is not a kernel image package (no /boot/vmlinuz-*)")
    release = images[-1].name.removeprefix("vmlinuz-")
    for base in ("lib/modules", "usr/lib/modules"):
        moddir = root / base / release
        if moddir.is_dir():
            return KernelTree(images[-1], moddir)
    raise BuildError(f"{what}: no modules directory for kernel {release}")


def check_bzimage(path: Path) -> None:
    """An x86 bzImage has 'HdrS' at 0x202 (the boot protocol header)."""
    with open(path, "rb") as f:
        f.seek(0x202)
        if f.read(4) != b"HdrS":
            raise BuildError(f"{path} is not an x86 bzImage (no boot header)")


def run_depmod(tree: KernelTree) -> None:
    base = tree.moddir.parents[2]  # ROOT of ROOT/lib/modules/RELEASE
    if base.name == "usr":
        base = base.parent
    p = subprocess.run(["depmod", "-b", str(base), tree.release], text=True,
                       capture_output=True)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["failed"])[-1]
        raise BuildError(f"depmod {tree.release}: {last}")


class ModuleIndex:
    """modules.dep, modules.softdep, modules.alias and modules.builtin of a tree."""

    def __init__(self, moddir: Path):
        self.moddir = moddir
        self.deps: dict[str, list[str]] = {}  # module path -> dependency paths
        self.by_name: dict[str, str] = {}  # module name -> path
        for line in self._lines("modules.dep"):
            path, _, rest = line.partition(":")
            self.deps[path] = rest.split()
            self.by_name[modname(path)] = path
        self.builtin = {modname(l) for l in self._lines("modules.builtin")}
        self.aliases: dict[str, list[str]] = {}
        for line in self._lines("modules.alias"):
            _, alias, mod = line.split(None, 2)
            self.aliases.setdefault(alias, []).append(modname(mod))
        self.softdeps: dict[str, list[str]] = {}
        for line in self._lines("modules.softdep"):
            words = line.split()
            if len(words) > 2 and words[0] == "softdep":
                self.softdeps[modname(words[1])] = [w for w in words[2:]
                                                    if w not in ("pre:", "post:")]

    def _lines(self, name: str) -> list[str]:
        f = self.moddir / name
        if not f.exists():
            return []
        return [l for l in f.read_text().splitlines() if l and not l.startswith("#")]

    def missing(self, names: list[str]) -> list[str]:
        return [n for n in names if n not in self.by_name and n not in self.builtin]

    def resolve_soft(self, name: str) -> list[str]:
        """A softdep word (module name or alias) -> module names that exist."""
        if modname(name) in self.by_name:
            return [modname(name)]
        return [m for m in self.aliases.get(name, []) if m in self.by_name]

    def closure(self, names: list[str]) -> list[str]:
        """Module paths needed for names, dependencies first (load order)."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            path = self.by_name.get(name)
            if path is None or path in seen:
                return  # built in, or done
            seen.add(path)
            for soft in self.softdeps.get(name, []):
                for m in self.resolve_soft(soft):
                    visit(m)
            for dep in self.deps[path]:
                visit(modname(dep))
            order.append(path)

        for n in names:
            visit(n)
        return order


def read_module(path: Path) -> bytes:
    """A module's bytes, decompressed (the init loads plain .ko files)."""
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".gz":
        return gzip.decompress(data)
    if path.suffix == ".zst":
        if not shutil.which("zstd"):
            raise BuildError(f"{path.name}: zstd-compressed modules need the zstd tool")
        return subprocess.run(["zstd", "-dc", str(path)], capture_output=True,
                              check=True).stdout
    return data


def plain_path(path: str) -> str:
    for suffix in (".xz", ".zst", ".gz"):
        path = path.removesuffix(suffix)
    return path
