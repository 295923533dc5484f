"""Hyper-V under TCG: the default guest images (Debian 6.1 and 6.12 kernels
from vm-images/) bring VMBus up under the patched QEMU with 1 and 2 vCPUs,
and a guest panic reaches QEMU.  Everything is checked from inside the guest
through the vmbh agent.

    /usr/bin/python3 -m pytest -v harness/qemu/tests

QEMU comes from harness/qemu/build-qemu (or VMBH_QEMU), the images from
vm-images/build-image (cached under VMBH_CACHE) with the dev build's agent
(or VMBH_AGENT).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boot_check  # noqa: E402

PRESETS = ["bookworm", "bookworm-backports"]
MESSAGE_MODE = [f for f in boot_check.HV_FEATURES if f != "hv-stimer-direct"]


@pytest.fixture(scope="session")
def qemu():
    return os.environ.get("VMBH_QEMU") or boot_check.qemu_binary()


@pytest.fixture(scope="session", params=PRESETS)
def image(request):
    return boot_check.image_dir(request.param)


def _run(qemu, image, smp, features, crash=False):
    obs = boot_check.observe(qemu, image, smp, features, crash=crash)
    failed = boot_check.failures(boot_check.check(obs, smp, features, crash))
    assert not failed, "\n".join(failed) + "\n\nconsole tail:\n" + \
        obs["console"][-1500:]


@pytest.mark.parametrize("smp", [1, 2])
def test_vmbus_up(qemu, image, smp):
    """Hyper-V detected, TSC page clocksource, Hyper-V clockevent and stimer
    interrupts (direct mode) on every CPU, VMBus 4.0 with QEMU's
    vmbus-bridge, hv_balloon bound, callback interrupts counted, no warning
    or oops in dmesg."""
    _run(qemu, image, smp, boot_check.HV_FEATURES)


def test_message_mode_stimer(qemu, image):
    """Synthetic timers in message mode (no hv-stimer-direct): the timer
    expiry messages arrive on SINT2 as callback interrupts on every CPU."""
    _run(qemu, image, 2, MESSAGE_MODE)


def test_guest_panic_reported(qemu, image):
    """echo c > /proc/sysrq-trigger -> QEMU logs a guest panic with the
    Hyper-V crash parameters and exits."""
    _run(qemu, image, 1, boot_check.HV_FEATURES, crash=True)


def test_plain_tcg_without_hv(qemu, image):
    """The same binary without hv-* boots the guest as plain TCG."""
    _run(qemu, image, 1, [])
