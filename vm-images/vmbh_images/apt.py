"""Resolving package specs with apt and downloading them into the cache.

A spec is `name`, `name=version`, `name/suite` or `name=version/suite`, or a
path to a local .deb. Packages from the suites in the system's apt sources use
the system's apt; `bookworm-backports`, which ci/setup does not configure, gets
a private apt root under the cache (its own sources.list and lists), so the
machine's apt configuration is never changed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from .errors import BuildError

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
MIRROR = "http://deb.debian.org/debian"
# A private suite's lists are refreshed when older than this (a cache hit must
# not wait on the network; `build-image --refresh` forces it).
LISTS_MAX_AGE = 24 * 3600
# Suites that need their own apt root: suite -> sources.list line.
PRIVATE_SUITES = {
    "bookworm-backports": f"deb [signed-by={KEYRING}] {MIRROR} bookworm-backports main",
}


@dataclasses.dataclass(frozen=True)
class Package:
    """One concrete package: either from an apt index or a local .deb."""

    name: str
    version: str
    arch: str
    sha256: str
    suite: str  # "system", a private suite name, or "local"
    path: Path | None = None  # set for local .debs and once downloaded
    via: str | None = None  # the metapackage it was resolved from, if any

    def describe(self) -> dict:
        d = {"name": self.name, "version": self.version, "arch": self.arch,
             "sha256": self.sha256, "suite": self.suite}
        if self.via:
            d["via"] = self.via
        return d


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_spec(spec: str) -> tuple[str, str | None, str | None]:
    """'name=version/suite' -> (name, version, suite)."""
    suite = None
    if "/" in spec:
        spec, suite = spec.rsplit("/", 1)
    name, _, version = spec.partition("=")
    if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", name):
        raise BuildError(f"not a package name or .deb file: {name!r}")
    return name, version or None, suite


class Apt:
    """apt-get/apt-cache for the system sources or a private suite root."""

    def __init__(self, cache: Path, suite: str | None):
        self.suite = suite
        self.opts: list[str] = ["-o", "APT::Architecture=amd64", "-o", "APT::Sandbox::User=root"]
        if suite is None:
            return
        if suite not in PRIVATE_SUITES:
            raise BuildError(f"unknown suite {suite!r} (system sources, or one of: "
                             f"{', '.join(PRIVATE_SUITES)})")
        self.root = cache / "apt" / suite
        self.opts += [
            "-o", f"Dir::Etc::SourceList={self.root}/sources.list",
            "-o", f"Dir::Etc::SourceParts={self.root}/sources.list.d",
            "-o", f"Dir::Etc::Preferences={self.root}/preferences",
            "-o", f"Dir::Etc::PreferencesParts={self.root}/preferences.d",
            "-o", f"Dir::State::Lists={self.root}/lists",
            "-o", f"Dir::Cache={self.root}/cache",
            "-o", "Dir::State::status=/dev/null",
        ]
        self._ensure_root()

    def _ensure_root(self) -> None:
        for d in ("sources.list.d", "preferences.d", "lists/partial", "cache/archives/partial"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        sources = self.root / "sources.list"
        line = PRIVATE_SUITES[self.suite] + "\n"
        if not sources.exists() or sources.read_text() != line:
            sources.write_text(line)
        lists = list((self.root / "lists").glob("*_Packages*"))
        if not lists or time.time() - min(f.stat().st_mtime for f in lists) > LISTS_MAX_AGE:
            self.update()

    def update(self) -> None:
        """Refreshes a private suite's lists (the system's are ci/setup's job)."""
        self._run(["apt-get", "-q", "update"], f"apt-get update ({self.suite})")
        for f in (self.root / "lists").glob("*_Packages*"):
            os.utime(f)

    def _run(self, argv: list[str], what: str, cwd: Path | None = None) -> str:
        p = subprocess.run([argv[0], *self.opts, *argv[1:]], cwd=cwd, text=True,
                           capture_output=True)
        if p.returncode != 0:
            err = (p.stderr.strip().splitlines() or ["failed"])[-1]
            raise BuildError(f"{what}: {err}")
        return p.stdout

    def show(self, name: str, version: str | None) -> dict[str, str]:
        """Control fields of the candidate (or the given version) of a package."""
        if version is None:
            version = self.candidate(name)
        p = subprocess.run(["apt-cache", *self.opts, "show", f"{name}={version}"],
                           text=True, capture_output=True)
        if p.returncode != 0 or not p.stdout.strip():
            raise BuildError(f"package {name}={version} not found in {self.where()}")
        return parse_control(p.stdout.split("\n\n")[0])

    def candidate(self, name: str) -> str:
        out = subprocess.run(["apt-cache", *self.opts, "policy", name], text=True,
                             capture_output=True).stdout
        m = re.search(r"Candidate: (\S+)", out)
        if not m or m.group(1) == "(none)":
            raise BuildError(f"package {name} not found in {self.where()}")
        return m.group(1)

    def where(self) -> str:
        return self.suite or "the system's apt sources"

    def download(self, name: str, version: str, dest: Path) -> None:
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            self._run(["apt-get", "-q", "download", f"{name}={version}"],
                      f"apt-get download {name}={version}", cwd=Path(tmp))
            debs = list(Path(tmp).glob("*.deb"))
            if len(debs) != 1:
                raise BuildError(f"apt-get download {name}={version}: no .deb")
            os.replace(debs[0], dest)


def parse_control(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def meta_target(fields: dict[str, str]) -> tuple[str, str] | None:
    """For a linux-image metapackage, the image package it pins: (name, version)."""
    if not fields.get("Package", "").startswith("linux-image-"):
        return None
    m = re.search(r"(linux-image-[a-z0-9.+-]+) \(= ([^)]+)\)", fields.get("Depends", ""))
    return (m.group(1), m.group(2)) if m else None


def lists_stamp(apt: Apt) -> str:
    """Changes whenever apt's package lists do (an `apt-get update` that fetched)."""
    lists = apt.root / "lists" if apt.suite else Path("/var/lib/apt/lists")
    h = hashlib.sha256()
    for f in sorted(lists.glob("*_Packages*")):
        st = f.stat()
        h.update(f"{f.name} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def resolve(spec: str, cache: Path, default_suite: str | None = None) -> Package:
    """A spec -> a concrete Package (no download; metapackages followed).

    apt-cache parses all package lists on each call (~0.5 s here), so results
    are remembered in cache/resolved.json until the lists change."""
    path = Path(spec)
    if spec.endswith(".deb") or path.exists():
        if not path.is_file():
            raise BuildError(f"no such file: {spec}")
        from .deb import control  # local import: deb depends on nothing here
        f = control(path)
        return Package(f.get("Package", "?"), f.get("Version", "?"),
                       f.get("Architecture", "?"), sha256_file(path), "local", path.resolve())
    name, version, suite = parse_spec(spec)
    apt = Apt(cache, suite if suite is not None else default_suite)
    memo_file = cache / "resolved.json"
    memo_key = f"{spec} {apt.suite} {lists_stamp(apt)}"
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    if memo_key in memo:
        return Package(**memo[memo_key])
    pkg = _resolve_with_apt(apt, name, version)
    memo = {k: v for k, v in memo.items() if not k.startswith(f"{spec} {apt.suite} ")}
    memo[memo_key] = pkg.describe() | {"via": pkg.via}
    tmp = memo_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(memo, indent=1))
    os.replace(tmp, memo_file)
    return pkg


def _resolve_with_apt(apt: Apt, name: str, version: str | None) -> Package:
    fields = apt.show(name, version)
    via = None
    target = meta_target(fields)
    if target:
        via = f"{name}={fields['Version']}"
        fields = apt.show(*target)
    return Package(fields["Package"], fields["Version"], fields["Architecture"],
                   fields["SHA256"], apt.suite or "system", None, via)


def fetch(pkg: Package, cache: Path) -> Path:
    """The .deb of pkg in the cache (downloaded and verified on first use)."""
    if pkg.path:
        return pkg.path
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    dest = debs / f"{pkg.name}_{pkg.version.replace(':', '%3a')}_{pkg.arch}.deb"
    if not dest.exists() or sha256_file(dest) != pkg.sha256:
        Apt(cache, None if pkg.suite == "system" else pkg.suite).download(
            pkg.name, pkg.version, dest)
        if sha256_file(dest) != pkg.sha256:
            dest.unlink()
            raise BuildError(f"{pkg.name}={pkg.version}: sha256 differs from the apt index")
    return dest
