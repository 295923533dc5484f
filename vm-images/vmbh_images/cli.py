"""build-image: command line."""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

from . import apt, cache, image
from .errors import BuildError

PRESETS = {
    # name: (kernel spec, hyperv-daemons spec)
    "bookworm": ("linux-image-amd64", "hyperv-daemons"),
    "bookworm-backports": ("linux-image-amd64/bookworm-backports",
                           "hyperv-daemons/bookworm-backports"),
}
# Host files that may go into an image (the daemons' libraries and script
# interpreters come from the host's bookworm): their hashes are part of the key.
HOST_FILES = [image.BUSYBOX, Path("/bin/bash"), Path("/lib/x86_64-linux-gnu/libc.so.6"),
              Path("/lib/x86_64-linux-gnu/libtinfo.so.6"), Path("/lib64/ld-linux-x86-64.so.2")]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="build-image",
        description="Build a vmbh guest image (kernel + initramfs + manifest) from Debian "
                    "kernel and hyperv-daemons packages. Prints the image directory.")
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="a default image (kernel and daemons of one suite); default: bookworm")
    p.add_argument("--kernel", metavar="SPEC",
                   help="NAME, NAME=VERSION, NAME[=VERSION]/SUITE or a local .deb")
    p.add_argument("--bzimage", type=Path, help="a kernel bzImage (with --modules)")
    p.add_argument("--modules", type=Path,
                   help="its modules directory, .../lib/modules/RELEASE (with --bzimage)")
    p.add_argument("--daemons", metavar="SPEC",
                   help="hyperv-daemons spec, same forms; default: the kernel's suite")
    p.add_argument("--agent", type=Path, required=True, help="the guest agent binary")
    p.add_argument("--cache", help="cache directory (default $VMBH_CACHE or ~/.cache/vmbh)")
    p.add_argument("--out", type=Path, help="also make this path a symlink to the image dir")
    p.add_argument("--refresh", action="store_true",
                   help="refresh the apt lists of private suites (bookworm-backports) first")
    p.add_argument("--force", action="store_true", help="rebuild even on a cache hit")
    a = p.parse_args(argv)
    if (a.bzimage is None) != (a.modules is None):
        p.error("--bzimage and --modules go together")
    if a.preset and (a.kernel or a.bzimage or a.daemons):
        p.error("--preset excludes --kernel, --bzimage and --daemons")
    return a


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("build", "source"))
        for name in sorted(filenames):
            f = Path(dirpath, name)
            h.update(str(f.relative_to(root)).encode() + b"\0")
            h.update(apt.sha256_file(f).encode())
    return h.hexdigest()


def suite_of(spec: str | None) -> str | None:
    if spec and "/" in spec and not spec.endswith(".deb") and not Path(spec).exists():
        return spec.rsplit("/", 1)[1]
    return None


def gather(a: argparse.Namespace, root: Path) -> image.Inputs:
    kernel_spec, daemons_spec = PRESETS[a.preset or "bookworm"]
    if a.kernel or a.bzimage:
        kernel_spec, daemons_spec = a.kernel, a.daemons or "hyperv-daemons"
        if not a.daemons and suite_of(a.kernel):
            daemons_spec = f"hyperv-daemons/{suite_of(a.kernel)}"
    if a.refresh:
        for spec in (kernel_spec, daemons_spec):
            if suite_of(spec):
                apt.Apt(root, suite_of(spec)).update()
    kernel = None
    if not a.bzimage:
        kernel = apt.resolve(kernel_spec, root)
        if kernel.arch != "amd64":
            raise BuildError(f"kernel package {kernel.name} is for {kernel.arch}, not amd64")
    elif not a.bzimage.is_file() or not a.modules.is_dir():
        raise BuildError(f"no such bzImage or modules directory: {a.bzimage}, {a.modules}")
    daemons = apt.resolve(daemons_spec, root)
    if daemons.arch != "amd64":
        raise BuildError(f"daemons package {daemons.name} is for {daemons.arch}, not amd64")
    if not daemons.name.startswith("hyperv-daemons"):
        raise BuildError(f"{daemons_spec}: not a hyperv-daemons package ({daemons.name})")
    if not a.agent.is_file():
        raise BuildError(f"no such agent binary: {a.agent}")
    return image.Inputs(
        kernel=kernel,
        bzimage=a.bzimage.resolve() if a.bzimage else None,
        modules=a.modules.resolve() if a.modules else None,
        modules_hash=tree_hash(a.modules) if a.modules else None,
        daemons=daemons,
        agent=a.agent.resolve(),
        agent_sha256=image.agent_sha256(a.agent),
        host_files={str(f): apt.sha256_file(f) for f in HOST_FILES if f.exists()},
    )


def build_or_hit(a: argparse.Namespace) -> Path:
    root = cache.cache_root(a.cache)
    inputs = gather(a, root)
    recipe = cache.recipe_hash()
    key = cache.image_key(inputs.key_material(), recipe)
    final = cache.image_dir(root, key)
    if cache.is_complete(final) and not a.force:
        print(f"build-image: cache hit {key}", file=sys.stderr)
        return final
    t0 = time.monotonic()
    with cache.staging(root) as work:
        built = work / "image"
        manifest = image.build(inputs, root, work, built, key, recipe)
        if a.force and final.exists():
            os.rename(final, work / "old")
        cache.publish(built, final)
    print(f"build-image: built {key} (kernel {manifest['kernel_release']}) in "
          f"{time.monotonic() - t0:.1f} s", file=sys.stderr)
    return final


def main(argv: list[str] | None = None) -> int:
    a = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        path = build_or_hit(a)
    except BuildError as e:
        print(f"build-image: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("build-image: interrupted", file=sys.stderr)
        return 130
    if a.out:
        if a.out.is_symlink() or a.out.exists():
            a.out.unlink()
        a.out.symlink_to(path)
    print(path)
    return 0
