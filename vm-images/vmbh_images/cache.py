"""The image cache: one directory, images keyed by the hash of inputs and recipe.

Layout under the cache root (VMBH_CACHE, default ~/.cache/vmbh):
  debs/                  downloaded packages, verified against the apt index sha256
  apt/<suite>/           private apt roots (sources.list + lists) for extra suites
  images/<key>/          finished images: vmlinuz, initramfs.cpio, manifest.json
  tmp/                   builds in progress; renamed into images/ when complete
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

HERE = Path(__file__).resolve().parent
STALE_TMP_SECONDS = 6 * 3600


def cache_root(override: str | None = None) -> Path:
    root = override or os.environ.get("VMBH_CACHE") or os.path.expanduser("~/.cache/vmbh")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def recipe_hash() -> str:
    """Hash of the builder's own files: a change to the recipe is a new image."""
    h = hashlib.sha256()
    files = sorted(HERE.glob("*.py")) + [HERE.parent / "init.sh", HERE.parent / "build-image"]
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def image_key(material: dict, recipe: str) -> str:
    blob = json.dumps({"recipe": recipe, **material}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def image_dir(cache: Path, key: str) -> Path:
    return cache / "images" / key


def is_complete(path: Path) -> bool:
    return (path / "manifest.json").is_file()


@contextlib.contextmanager
def staging(cache: Path) -> Iterator[Path]:
    """A scratch dir under cache/tmp, removed whatever happens."""
    tmp_root = cache / "tmp"
    tmp_root.mkdir(exist_ok=True)
    _sweep(tmp_root)
    path = Path(tempfile.mkdtemp(prefix="build-", dir=tmp_root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def publish(built: Path, final: Path) -> None:
    """Atomically moves a finished image into place (first writer wins)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(built, final)
    except OSError:
        if not is_complete(final):
            raise


def _sweep(tmp_root: Path) -> None:
    """Removes scratch dirs left by builds that were killed long ago."""
    now = time.time()
    for d in tmp_root.iterdir():
        with contextlib.suppress(OSError):
            if now - d.stat().st_mtime > STALE_TMP_SECONDS:
                shutil.rmtree(d, ignore_errors=True)
