"""Hyper-V under TCG: Debian's 6.1 and 6.12 kernels bring VMBus up under the
patched QEMU, with 1 and 2 vCPUs, and a guest panic reaches QEMU.

    /usr/bin/python3 -m pytest -v harness/qemu/tests

Builds QEMU with harness/qemu/build-qemu (cached) and the kernels'
throwaway initramfs with mkinitramfs-hv.  Kernel packages: VMBH_TEST_DEBS
(space-separated .deb paths), else they are fetched with `apt-get download`
into $VMBH_CACHE/debs (the current bookworm 6.1 ABI and the newest
6.12 +deb12 kernel apt knows).
"""

import glob
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import boot_check  # noqa: E402

CACHE = os.environ.get("VMBH_CACHE", os.path.expanduser("~/.cache/vmbh"))


def _apt_kernel_names():
    out = subprocess.run(["apt-cache", "depends", "linux-image-amd64"],
                         stdout=subprocess.PIPE, text=True).stdout
    k61 = [l.split()[-1] for l in out.splitlines()
           if "Depends: linux-image-6.1" in l][:1]
    out = subprocess.run(["apt-cache", "search", "--names-only",
                          r"^linux-image-6\.12\..*\+deb12-amd64$"],
                         stdout=subprocess.PIPE, text=True).stdout
    k612 = sorted((l.split()[0] for l in out.splitlines()),
                  key=lambda n: [int(x) for x in
                                 n.split("-")[2].split("+")[0].split(".")])
    return k61 + k612[-1:]


def _kernel_debs():
    if os.environ.get("VMBH_TEST_DEBS"):
        return os.environ["VMBH_TEST_DEBS"].split()
    debdir = os.path.join(CACHE, "debs")
    os.makedirs(debdir, exist_ok=True)
    debs = []
    for name in _apt_kernel_names():
        found = glob.glob(os.path.join(debdir, name + "_*.deb"))
        if not found:
            subprocess.run(["apt-get", "-o", "APT::Sandbox::User=root",
                            "download", name], cwd=debdir, check=True,
                           stdout=subprocess.DEVNULL)
            found = glob.glob(os.path.join(debdir, name + "_*.deb"))
        debs += found[:1]
    return debs


DEBS = _kernel_debs()


@pytest.fixture(scope="session")
def qemu():
    return os.environ.get("VMBH_QEMU") or boot_check.qemu_binary()


@pytest.fixture(scope="session")
def guests(tmp_path_factory):
    out = {}
    for deb in DEBS:
        d = tmp_path_factory.mktemp(os.path.basename(deb).split("_")[0])
        out[deb] = boot_check.build_guest(deb, str(d))
    return out


def _features(qemu):
    return list(boot_check.HV_FEATURES) + [
        f for f in boot_check.HV_OPTIONAL if boot_check.qemu_supports(qemu, f)]


def _run(qemu, guest, smp, features, crash=False, tmp_path=None):
    serial, qlog, _ = boot_check.boot(qemu, *guest, smp, features,
                                      crash=crash, log_dir=str(tmp_path))
    results = boot_check.check(serial, qlog, smp, features, crash=crash)
    failed = ["%s: %s" % (n, d) for n, ok, d in results if not ok]
    assert not failed, "\n".join(failed) + "\n(serial log: %s)" % tmp_path


@pytest.mark.parametrize("smp", [1, 2])
@pytest.mark.parametrize("deb", DEBS, ids=lambda d: os.path.basename(d)
                         .split("_")[0])
def test_vmbus_up(qemu, guests, deb, smp, tmp_path):
    """Hyper-V detected, TSC page clocksource, Hyper-V clockevent on every
    CPU, VMBus 4.0, hv_balloon bound, stimer interrupts on every CPU, no
    warning/oops in dmesg."""
    _run(qemu, guests[deb], smp, _features(qemu), tmp_path=tmp_path)


@pytest.mark.parametrize("deb", DEBS, ids=lambda d: os.path.basename(d)
                         .split("_")[0])
def test_message_mode_stimer(qemu, guests, deb, tmp_path):
    """Synthetic timers in message mode (no hv-stimer-direct)."""
    feats = [f for f in _features(qemu) if f != "hv-stimer-direct"]
    if "hv-stimer" not in feats:
        pytest.skip("this QEMU has no synthetic timers")
    _run(qemu, guests[deb], 2, feats, tmp_path=tmp_path)


@pytest.mark.parametrize("deb", DEBS, ids=lambda d: os.path.basename(d)
                         .split("_")[0])
def test_guest_panic_reported(qemu, guests, deb, tmp_path):
    """echo c > /proc/sysrq-trigger -> QEMU guest panic with the Hyper-V
    crash parameters."""
    feats = _features(qemu)
    if "hv-crash" not in feats:
        pytest.skip("this QEMU has no Hyper-V crash MSRs")
    _run(qemu, guests[deb], 1, feats, crash=True, tmp_path=tmp_path)


@pytest.mark.parametrize("deb", DEBS, ids=lambda d: os.path.basename(d)
                         .split("_")[0])
def test_plain_tcg_without_hv(qemu, guests, deb, tmp_path):
    """The same binary without hv-* boots the guest as plain TCG."""
    _run(qemu, guests[deb], 1, [], tmp_path=tmp_path)
