"""Assembling one image: kernel + initramfs.cpio + manifest.json in a directory."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import apt, daemons, deb, kernel, vmlinux
from .errors import BuildError
from .tree import Tree

HERE = Path(__file__).resolve().parent
INIT = HERE.parent / "init.sh"
BUSYBOX = Path("/bin/busybox")
OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""


@dataclasses.dataclass
class Inputs:
    """Everything an image is made of; `key_material()` is what the cache key hashes."""

    kernel: apt.Package | None  # a kernel package, or None with bzimage + modules
    bzimage: Path | None
    modules: Path | None
    modules_hash: str | None
    daemons: apt.Package
    agent: Path
    agent_sha256: str
    host_files: dict[str, str]  # busybox and the C library: path -> sha256

    def key_material(self) -> dict:
        return {
            "kernel": self.kernel.sha256 if self.kernel else None,
            "bzimage": apt.sha256_file(self.bzimage) if self.bzimage else None,
            "modules": self.modules_hash,
            "daemons": self.daemons.sha256,
            "agent": self.agent_sha256,
            "host_files": self.host_files,
        }


def host_package_version(name: str) -> str:
    p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], text=True,
                       capture_output=True)
    return p.stdout.strip() or "not installed"


def shared_libs(binary: Path) -> list[Path]:
    """The shared libraries (and loader) a dynamic ELF binary needs, from ldd."""
    with open(binary, "rb") as f:
        if f.read(4) != b"\x7fELF":
            return []
    p = subprocess.run(["ldd", str(binary)], text=True, capture_output=True)
    if "not a dynamic executable" in p.stdout + p.stderr or "statically linked" in p.stdout:
        return []
    libs = []
    for line in p.stdout.splitlines():
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            libs.append(Path(m.group(1)))
        elif "not found" in line:
            raise BuildError(f"{binary.name}: shared library not found: {line.split()[0]}")
    return libs


def shebang(path: Path) -> set[str]:
    """The interpreter a script names on its #! line (hv_get_dns_info: /bin/bash)."""
    with open(path, "rb") as f:
        head = f.read(128)
    if not head.startswith(b"#!"):
        return set()
    words = head[2:].split(b"\n", 1)[0].split()
    return {words[0].decode()} if words else set()


def add_interpreters(tree: Tree, wanted: set[str]) -> tuple[dict, set[Path]]:
    """Interpreters busybox does not provide, from the host (bookworm) with their libs."""
    added, libs = {}, set()
    for interp in sorted(wanted):
        if tree.has(interp):
            continue
        host = Path(interp)
        if not host.is_file():
            raise BuildError(f"the daemons' scripts need {interp}, which this host lacks")
        tree.add_host(interp, host.resolve(), 0o755)
        libs.update(shared_libs(host))
        added[interp] = {"package": host_package_of(host), "sha256": apt.sha256_file(host)}
    return added, libs


def host_package_of(path: Path) -> str:
    p = subprocess.run(["dpkg-query", "-S", str(path)], text=True, capture_output=True)
    name = p.stdout.split(":", 1)[0].strip() if p.returncode == 0 else ""
    return f"{name} {host_package_version(name)}" if name else "unknown"


def strip_agent(src: Path, dst: Path) -> None:
    """The agent as it goes into the image: without debug info (two thirds of
    it; the guest never needs it) and without the build ID, which hashes the
    debug info and with it the checkout's path: two checkouts of the same
    commit then make the same agent, and the same image key."""
    p = subprocess.run(["strip", "--strip-debug", "--remove-section=.note.gnu.build-id", "-o", str(dst), str(src)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise BuildError(f"strip {src}: {p.stderr.strip() or 'failed'}")


def agent_sha256(agent: Path) -> str:
    """The sha256 of the agent as strip_agent() leaves it (the image key's)."""
    with tempfile.TemporaryDirectory(prefix="vmbh-agent-") as d:
        out = Path(d) / "vmbh-agent"
        strip_agent(agent, out)
        return apt.sha256_file(out)


def add_busybox(tree: Tree) -> None:
    tree.add_host("/bin/busybox", BUSYBOX, 0o755)
    applets = subprocess.run([str(BUSYBOX), "--list-full"], text=True, capture_output=True,
                             check=True).stdout.split()
    for applet in applets:
        path = "/" + applet
        if path != "/bin/busybox":
            tree.symlink(path, "/bin/busybox")


def add_modules(tree: Tree, kt: kernel.KernelTree, index: kernel.ModuleIndex) -> dict:
    """The module closure as plain .ko files, a trimmed modules.dep and load lists."""
    wanted = kernel.HYPERV_MODULES + kernel.EXTRA_MODULES
    early = index.closure(kernel.EARLY_MODULES)
    vmbus = [p for p in index.closure(kernel.HYPERV_MODULES) if p not in early]
    late = [p for p in index.closure(kernel.LATE_MODULES) if p not in early + vmbus]
    rest = [p for p in index.closure(wanted) if p not in early + vmbus + late]
    base = f"/lib/modules/{kt.release}"
    dep_lines = []
    for path in early + vmbus + rest + late:
        plain = kernel.plain_path(path)
        tree.add(f"{base}/{plain}", kernel.read_module(kt.moddir / path))
        deps = " ".join(kernel.plain_path(d) for d in index.deps[path])
        dep_lines.append(f"{plain}: {deps}".rstrip())
    tree.add(f"{base}/modules.dep", ("\n".join(dep_lines) + "\n").encode())

    def names(paths: list[str]) -> list[str]:
        return [kernel.modname(p) for p in paths]

    # The whole closure in load order, in groups: the agent's port first; the
    # VMBus drivers, skipped when hv_vmbus finds no VMBus; the rest; the file
    # systems, after the ready marker. busybox modprobe follows modules.dep but
    # not softdeps (ext4 -> crc32c), so every module is named.
    for group, paths in (("early", early), ("vmbus", vmbus), ("other", rest), ("late", late)):
        tree.add(f"/etc/vmbh/modules.{group}", ("\n".join(names(paths)) + "\n").encode())
    return {"requested": wanted, "closure": names(early + vmbus + rest + late),
            "after_ready": names(late),
            "builtin": sorted(m for m in wanted if m not in index.by_name)}


def add_daemons(tree: Tree, root: Path) -> tuple[list[daemons.Daemon], set[Path], set[str]]:
    """All of the package's files but its docs, and the daemon table for the init.
    Returns the daemons, the shared libraries and the script interpreters they need."""
    found = daemons.find_daemons(root)
    libs: set[Path] = set()
    interpreters: set[str] = set()
    for f in sorted(root.rglob("*")):
        rel = "/" + f.relative_to(root).as_posix()
        if rel.startswith("/usr/share/doc"):
            continue
        if f.is_symlink():
            tree.symlink(rel, str(f.readlink()))
        elif f.is_dir():
            tree.mkdir(rel, f.stat().st_mode & 0o7777)
        else:
            tree.add_host(rel, f)
            libs.update(shared_libs(f))
            interpreters.update(shebang(f))
    table = "".join(d.table_line() + "\n" for d in found)
    tree.add("/etc/vmbh/daemons", table.encode())
    state = sorted({s for d in found for s in d.state_dirs})
    tree.add("/etc/vmbh/state-dirs", ("\n".join(state) + "\n").encode())
    return found, libs, interpreters


def add_base(tree: Tree) -> None:
    for d in ("/dev", "/proc", "/sys", "/run", "/tmp", "/root", "/mnt", "/var/log",
              "/var/lib/hyperv", "/etc/vmbh"):
        tree.mkdir(d)
    tree.entries["/tmp"] = ("dir", None, 0o1777)
    tree.add("/init", INIT.read_bytes(), 0o755)
    tree.add("/etc/os-release", OS_RELEASE.encode())
    tree.add("/etc/hostname", b"vmbh-guest\n")
    tree.add("/etc/hosts", b"127.0.0.1 localhost\n127.0.1.1 vmbh-guest\n")
    tree.add("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    tree.add("/etc/group", b"root:x:0:\n")


def build(inputs: Inputs, cache: Path, work: Path, out: Path, key: str, recipe: str) -> dict:
    """Builds the image into `out` (a fresh directory); returns the manifest."""
    t0 = time.monotonic()
    if inputs.kernel:
        kroot = work / "kernel"
        deb.extract(apt.fetch(inputs.kernel, cache), kroot)
        kt = kernel.find_in_package_root(kroot, f"{inputs.kernel.name}={inputs.kernel.version}")
    else:
        kernel.check_bzimage(inputs.bzimage)
        release = inputs.modules.name
        moddir = work / "kernel/lib/modules" / release
        shutil.copytree(inputs.modules, moddir, symlinks=True,
                        ignore=shutil.ignore_patterns("build", "source"))
        kt = kernel.KernelTree(inputs.bzimage, moddir)
    kernel.run_depmod(kt)
    index = kernel.ModuleIndex(kt.moddir)
    missing = index.missing(kernel.HYPERV_MODULES)
    if missing:
        raise BuildError(f"kernel {kt.release} has no Hyper-V modules: missing "
                         f"{', '.join(missing)}")
    missing = index.missing(kernel.EXTRA_MODULES)
    if missing:
        raise BuildError(f"kernel {kt.release} lacks modules the tests need: "
                         f"{', '.join(missing)}")

    droot = work / "daemons"
    deb.extract(apt.fetch(inputs.daemons, cache), droot)

    tree = Tree()
    add_base(tree)
    add_busybox(tree)
    mods = add_modules(tree, kt, index)
    found, libs, wanted_interpreters = add_daemons(tree, droot)
    interpreters, interpreter_libs = add_interpreters(tree, wanted_interpreters)
    libs.update(interpreter_libs)
    stripped_agent = work / "vmbh-agent"
    strip_agent(inputs.agent, stripped_agent)
    tree.add_host("/usr/sbin/vmbh-agent", stripped_agent, 0o755)
    libs.update(shared_libs(inputs.agent))
    for lib in sorted(libs):
        tree.add_host(str(lib), lib.resolve())

    manifest = {
        "format": 1,
        "key": key,
        "recipe": recipe,
        "kernel_release": kt.release,
        "kernel": (inputs.kernel.describe() if inputs.kernel else
                   {"bzimage": str(inputs.bzimage), "modules": str(inputs.modules),
                    "modules_sha256": inputs.modules_hash}),
        "hyperv_daemons": inputs.daemons.describe(),
        "daemons": [d.describe() for d in found],
        "modules": mods,
        "agent": {"source": str(inputs.agent), "sha256": inputs.agent_sha256},
        "busybox": {"package": "busybox-static " + host_package_version("busybox-static"),
                    "sha256": inputs.host_files[str(BUSYBOX)]},
        "interpreters": interpreters,
        "libraries": {str(l): apt.sha256_file(l.resolve()) for l in sorted(libs)},
        "libc6": host_package_version("libc6"),
    }
    tree.add("/etc/vmbh/manifest.json", json.dumps(manifest, indent=1).encode())
    out.mkdir(parents=True)
    shutil.copyfile(kt.vmlinuz, out / "vmlinuz")
    elf = vmlinux.pvh_vmlinux((out / "vmlinuz").read_bytes())
    manifest["boot"] = "pvh" if elf else "bzimage"
    manifest["files"] = {"vmlinuz": apt.sha256_file(out / "vmlinuz")}
    if elf:
        (out / "vmlinux").write_bytes(elf)
        manifest["files"]["vmlinux"] = hashlib.sha256(elf).hexdigest()
    manifest["files"].update({
        "initramfs.cpio": tree.write_cpio(out / "initramfs.cpio"),
    })
    manifest["build_seconds"] = round(time.monotonic() - t0, 1)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
