"""Bad inputs: one line on stderr, exit status 1, nothing left in the cache."""
import pytest

from conftest import make_deb, run_build

FAKE_BZIMAGE = b"\0" * 0x202 + b"HdrS" + b"\0" * 64


def assert_clean_failure(p, cache, expect: str) -> None:
    assert p.returncode == 1, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("build-image: error: ")
    assert expect in lines[0], lines[0]
    assert p.stdout == ""
    images = cache / "images"
    assert not images.exists() or not any(images.iterdir())
    tmp = cache / "tmp"
    assert not tmp.exists() or not any(tmp.iterdir())


def test_package_that_does_not_exist(empty_cache):
    p = run_build("--kernel", "linux-image-vmbh-no-such-kernel", cache=empty_cache)
    assert_clean_failure(p, empty_cache, "linux-image-vmbh-no-such-kernel not found")


def test_version_that_does_not_exist(empty_cache):
    p = run_build("--kernel", "linux-image-amd64=0.0.1-vmbh", cache=empty_cache)
    assert_clean_failure(p, empty_cache, "not found")


def test_deb_that_is_not_a_kernel(tmp_path, empty_cache):
    deb = make_deb(tmp_path, "vmbh-not-a-kernel", "amd64",
                   {"usr/share/doc/vmbh-not-a-kernel/README": b"hello\n"})
    p = run_build("--kernel", str(deb), cache=empty_cache)
    assert_clean_failure(p, empty_cache, "is not a kernel image package")


def test_file_that_is_not_a_deb(tmp_path, empty_cache):
    bogus = tmp_path / "bogus.deb"
    bogus.write_bytes(b"not an ar archive\n")
    p = run_build("--kernel", str(bogus), cache=empty_cache)
    assert_clean_failure(p, empty_cache, "not a Debian package")


def test_arm64_kernel_deb(tmp_path, empty_cache):
    rel = "6.1.0-99-arm64"
    deb = make_deb(tmp_path, f"linux-image-{rel}", "arm64", {
        f"boot/vmlinuz-{rel}": b"arm64 kernel\n",
        f"lib/modules/{rel}/modules.order": b"",
    })
    p = run_build("--kernel", str(deb), cache=empty_cache)
    assert_clean_failure(p, empty_cache, "is for arm64, not amd64")


def test_kernel_without_hyperv_modules(tmp_path, empty_cache):
    rel = "6.1.0-99-amd64"
    deb = make_deb(tmp_path, f"linux-image-{rel}", "amd64", {
        f"boot/vmlinuz-{rel}": FAKE_BZIMAGE,
        f"lib/modules/{rel}/modules.order": b"",
        f"lib/modules/{rel}/modules.builtin": b"",
    })
    p = run_build("--kernel", str(deb), cache=empty_cache)
    assert_clean_failure(p, empty_cache, "has no Hyper-V modules: missing hv_vmbus")


def test_bzimage_that_is_not_a_bzimage(tmp_path, empty_cache):
    bz = tmp_path / "bzImage"
    bz.write_bytes(b"\0" * 4096)
    mods = tmp_path / "lib/modules/6.1.0-99-amd64"
    mods.mkdir(parents=True)
    p = run_build("--bzimage", str(bz), "--modules", str(mods), cache=empty_cache)
    assert_clean_failure(p, empty_cache, "is not an x86 bzImage")


def test_unknown_suite(empty_cache):
    p = run_build("--kernel", "linux-image-amd64/vmbh-nosuchsuite", cache=empty_cache)
    assert_clean_failure(p, empty_cache, "unknown suite")


@pytest.mark.parametrize("args", [["--bzimage", "x"], ["--preset", "bookworm", "--kernel", "y"]])
def test_bad_option_combinations_exit_2(args, empty_cache):
    p = run_build(*args, cache=empty_cache)
    assert p.returncode == 2
