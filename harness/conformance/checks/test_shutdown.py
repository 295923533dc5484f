"""Shutdown IC: shutdown, reboot and hibernate requests, with and without force."""
from __future__ import annotations

import time

import pytest

from guest_pool import wait_for, wait_ic_ready

S_OK = 0
POWEROFF_BOUND_S = 15



def powers_off(g, action_force: bool) -> float:
    wait_ic_ready(g, "shutdown")
    t0 = time.monotonic()
    r = g.control.shutdown("SHUTDOWN", force=action_force)
    assert r.status == S_OK, f"guest answered status {r.status:#x}"
    wait_for(lambda: not g.control.status().qemu_running, POWEROFF_BOUND_S,
             what=f"QEMU exit within {POWEROFF_BOUND_S} s of the shutdown request")
    st = g.control.status()
    assert st.qemu_exit_status == 0, f"QEMU exit status {st.qemu_exit_status}"
    return time.monotonic() - t0


@pytest.mark.smoke
@pytest.mark.fresh_guest
def test_shutdown_powers_off(fresh):
    """SHUTDOWN: the guest answers S_OK, powers itself off, and QEMU exits with status 0 within 15 s."""
    print(f"QEMU exited {powers_off(fresh('shutdown'), False):.1f} s after the request")


@pytest.mark.fresh_guest
def test_forced_shutdown_powers_off(fresh):
    """SHUTDOWN with the force flag behaves like SHUTDOWN: S_OK, poweroff, QEMU exits within 15 s."""
    print(f"QEMU exited {powers_off(fresh('shutdown-force'), True):.1f} s after the request")


def test_hibernate_answered_with_failure(guest):
    """HIBERNATE on a guest that cannot hibernate (no swap) is answered with a failure status, and the guest keeps running."""
    g = guest  # the shared guest: refusing leaves it as it was (and a guest that did go is booted again)
    wait_ic_ready(g, "shutdown")
    r = g.control.shutdown("HIBERNATE", timeout=15)
    assert r.status != S_OK, "the guest claimed it will hibernate without any swap to hibernate to"
    time.sleep(1)
    st = g.control.status()
    assert st.qemu_running and g.agent.exec(["true"]).ok


@pytest.mark.kept_guest("reboot")
def test_forced_reboot_comes_back(kept):
    """REBOOT with the force flag: S_OK, QEMU keeps running, and the guest boots again and is ready
    (REBOOT without force: test_vmbus.py::test_reboot_reconnects)."""
    force = True
    g = kept()
    wait_ic_ready(g, "shutdown")
    before = g.control.status()
    t0 = time.monotonic()
    r = g.control.shutdown("REBOOT", force=force)
    assert r.status == S_OK, f"guest answered status {r.status:#x}"
    wait_for(lambda: g.control.status().boots > before.boots, 120, interval=0.2, what="ready again after REBOOT")
    st = g.control.status()
    assert st.qemu_running and st.guest_resets > before.guest_resets, st  # QEMU may report a reboot as 2 resets
    print(f"ready again {time.monotonic() - t0:.1f} s after the request")
