"""The other kernel input forms: a local .deb, and a bzImage plus a modules directory."""
import json
import subprocess
from pathlib import Path

import pytest

from conftest import run_build

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bookworm_deb(shared_cache):
    """The bookworm kernel .deb, as the default build left it in the cache."""
    p = run_build("--preset", "bookworm", cache=shared_cache)
    assert p.returncode == 0, p.stderr
    m = json.loads((Path(p.stdout.strip()) / "manifest.json").read_text())
    k = m["kernel"]
    deb = shared_cache / "debs" / f"{k['name']}_{k['version'].replace(':', '%3a')}_amd64.deb"
    assert deb.exists()
    return deb, m


def test_local_deb_of_the_same_package_is_the_same_image(bookworm_deb, shared_cache):
    """The key is the content: the same .deb from a file is a cache hit on the image."""
    deb, default = bookworm_deb
    p = run_build("--kernel", str(deb), cache=shared_cache)
    assert p.returncode == 0, p.stderr
    assert "cache hit" in p.stderr
    assert Path(p.stdout.strip()).name == default["key"]


def test_local_deb_builds(bookworm_deb, tmp_path):
    deb, default = bookworm_deb
    p = run_build("--kernel", str(deb), cache=tmp_path / "cache")
    assert p.returncode == 0, p.stderr
    m = json.loads((Path(p.stdout.strip()) / "manifest.json").read_text())
    assert m["kernel"]["suite"] == "local"
    assert m["kernel"]["sha256"] == default["kernel"]["sha256"]
    assert m["modules"]["closure"] == default["modules"]["closure"]
    assert not (tmp_path / "cache/debs" / deb.name).exists()  # used in place


def test_bzimage_and_modules_dir(bookworm_deb, shared_cache, tmp_path):
    deb, default = bookworm_deb
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    release = default["kernel_release"]
    p = run_build("--bzimage", str(tmp_path / f"boot/vmlinuz-{release}"),
                  "--modules", str(tmp_path / f"lib/modules/{release}"), cache=shared_cache)
    assert p.returncode == 0, p.stderr
    m = json.loads((Path(p.stdout.strip()) / "manifest.json").read_text())
    assert m["kernel_release"] == release
    assert len(m["kernel"]["modules_sha256"]) == 64
    assert m["modules"]["closure"] == default["modules"]["closure"]
    assert m["boot"] == "pvh"
    # The user's modules directory is not written to (depmod runs on a copy).
    assert not (tmp_path / f"lib/modules/{release}/modules.dep").exists()
