"""Time sync IC: SYNC sets the guest clock, SAMPLE behaves as the kernel
documents, the hyperv PTP clock exists."""
from __future__ import annotations

import re
import time

import pytest

from guest_pool import channel, is_612, wait_for, wait_ic_ready

S_OK = 0
DAY_NS = 86_400 * 10**9
IMPLICIT = "/sys/module/hv_utils/parameters/timesync_implicit"


def guest_offset_s(guest) -> float:
    """Guest wall clock minus host wall clock, in seconds (agent round trip included, a few ms)."""
    t0 = time.time()
    out = guest.agent.exec(["adjtimex"]).stdout.decode()  # busybox date has no %N
    t1 = time.time()
    sec, usec = re.search(r"time\.tv_sec:\s*(\d+)\s+time\.tv_usec:\s*(\d+)", out).groups()
    guest_now = int(sec) + int(usec) / 1e6
    return guest_now - (t0 + t1) / 2


def set_guest_clock(guest, shift_s: int) -> None:
    r = guest.agent.exec(["date", "-s", f"@{int(time.time()) + shift_s}"])
    assert r.ok, r.stderr
    assert abs(guest_offset_s(guest) - shift_s) < 5


@pytest.fixture
def clock(guest):
    """The shared guest with its clock put back in sync afterwards."""
    wait_ic_ready(guest, "timesync")
    yield guest
    guest.control.timesync("SYNC")
    if is_612(guest):
        guest.agent.exec(["sh", "-c", f"echo N > {IMPLICIT}"])


@pytest.mark.smoke
@pytest.mark.parametrize("days", (-1, 1))
def test_sync_sets_guest_clock(clock, days):
    """With the guest clock a day off, a SYNC puts it within 1 s of host time."""
    set_guest_clock(clock, days * 86_400)
    r = clock.control.timesync("SYNC")
    assert r.status == S_OK, r
    time.sleep(0.3)  # the guest applies SYNC from a work item
    off = guest_offset_s(clock)
    assert abs(off) < 1.0, f"guest clock {off:+.3f} s from host time after SYNC"


def test_sync_follows_host_offset(clock):
    """A SYNC carrying host time + 1 h sets the guest clock to host time + 1 h (within 1 s)."""
    r = clock.control.timesync("SYNC", host_offset_ns=3600 * 10**9)
    assert r.status == S_OK
    time.sleep(0.3)
    off = guest_offset_s(clock)
    assert abs(off - 3600) < 1.0, f"guest clock {off:+.3f} s from host time, wanted +3600"


def test_sample_behaviour_matches_kernel(clock):
    """SAMPLE alone never steps the clock by default (both kernels); 6.12 has hv_utils.timesync_implicit,
    with which a SAMPLE steps a guest that is behind; 6.1 lacks that parameter."""
    set_guest_clock(clock, -86_400)
    assert clock.control.timesync("SAMPLE").status == S_OK
    time.sleep(0.5)
    assert guest_offset_s(clock) < -86_000, "SAMPLE stepped the clock without timesync_implicit"
    has_param = clock.agent.exec(["test", "-e", IMPLICIT]).ok
    assert has_param == is_612(clock), f"timesync_implicit present: {has_param}"
    if has_param:
        assert clock.agent.exec(["sh", "-c", f"echo Y > {IMPLICIT}"]).ok
        assert clock.control.timesync("SAMPLE").status == S_OK
        time.sleep(0.5)
        off = guest_offset_s(clock)
        assert abs(off) < 1.0, f"implicit SAMPLE left the clock {off:+.3f} s off"


PTP_BOUND_S = 0.1  # plus half the agent's round trip, which the reading may sit anywhere in


@pytest.mark.smoke
def test_ptp_clock_is_hyperv(guest):
    """hv_utils registers a PTP clock named 'hyperv' (what chrony's refclock PHC uses), and it reads host time
    (within 0.1 s)."""
    wait_ic_ready(guest, "timesync")
    out = guest.agent.exec(["sh", "-c", 'for d in /sys/class/ptp/ptp*; do echo "${d##*/} $(cat $d/clock_name)"; done'])
    clocks = dict(line.split(" ", 1) for line in out.stdout.decode().splitlines() if " " in line)
    dev = next((d for d, name in clocks.items() if name == "hyperv"), None)
    assert dev, f"PTP clocks: {clocks}"
    t0 = time.time()
    r = guest.agent.exec(["/usr/sbin/vmbh-agent", "--read-clock", f"/dev/{dev}"])
    t1 = time.time()
    assert r.ok, r.stderr.decode(errors="replace")
    ptp_s = int(r.stdout.split()[0]) / 1e9
    off, slack = ptp_s - (t0 + t1) / 2, (t1 - t0) / 2
    print(f"/dev/{dev} (hyperv) {off * 1000:+.1f} ms from host time (agent round trip {2 * slack * 1000:.0f} ms)")
    assert abs(off) < PTP_BOUND_S + slack, f"the hyperv PTP clock is {off:+.3f} s from host time"


@pytest.mark.parametrize("version", ["3.0", "4.0"])
def test_sync_with_message_version(clock, version):
    """With the host offering only timesync message version 3.0 (or 4.0), the guest negotiates it and a SYNC
    from a day off puts the clock within 1 s of host time."""
    try:
        clock.control.set_ic_versions("timesync", message=[version])
        clock.control.rescind("timesync")
        wait_for(lambda: channel(clock, "timesync").state != "open", 30, what="timesync released")
        clock.control.reoffer("timesync")
        f = wait_ic_ready(clock, "timesync")
        assert f.get("message_version") == version, f
        set_guest_clock(clock, -86_400)
        assert clock.control.timesync("SYNC").status == S_OK
        time.sleep(0.3)
        off = guest_offset_s(clock)
        assert abs(off) < 1.0, f"guest clock {off:+.3f} s from host time after a v{version} SYNC"
    finally:
        clock.control.set_ic_versions("timesync")
        clock.control.rescind("timesync")
        wait_for(lambda: channel(clock, "timesync").state != "open", 30, what="timesync released")
        clock.control.reoffer("timesync")
        wait_ic_ready(clock, "timesync")
