"""`vmbh serve` features the conformance suite builds on, checked against live
guests: a guest reboot (the host forgets the VMBus session, the new kernel
connects again, every IC channel reopens, the agent answers again), rescind
and re-offer of a live channel, the IC versions the host offers
(SetIcVersions), and the scratch disk and NIC options."""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vmbh_serve import DEFAULT_PRESETS, Served  # noqa: E402  (puts vmbh_agent on the path)
import vmbh_agent  # noqa: E402

IC_CHANNELS = ("heartbeat", "shutdown", "timesync", "kvp", "vss", "fcopy")
S_OK = 0
MAC = "52:54:00:6a:b1:01"
DISK_MB = 16


def facts(channel) -> dict[str, str]:
    return {f.key: f.value for f in channel.facts}


def channel(s: Served, name: str):
    return next(c for c in s.control.status().channels if c.name == name)


def expected_ics(s: Served, agent: vmbh_agent.AgentClient) -> list[str]:
    # 6.12's fcopy needs hv_fcopy_uio_daemon, which Debian's hyperv-daemons
    # lacks: the channel is offered and nobody opens it (checks/test_vmbus.py).
    if agent.exec(["uname", "-r"]).stdout.startswith(b"6.12"):
        return [n for n in IC_CHANNELS if n != "fcopy"]
    return list(IC_CHANNELS)


def wait_negotiated(s: Served, name: str, timeout: float = 60.0) -> dict[str, str]:
    """The channel is open and its IC negotiation finished; returns its facts."""
    s.control.wait_channel(name, timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        f = facts(channel(s, name))
        if f.get("state") == "ready":
            return f
        assert f.get("state") != "failed", f"{name}: negotiation failed: {f}"
        assert time.monotonic() < deadline, f"{name}: not negotiated after {timeout} s: {f}"
        time.sleep(0.1)


def wait_status(s: Served, what: str, pred, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        st = s.control.status()
        if pred(st):
            return st
        assert st.qemu_running, f"QEMU exited ({st.qemu_exit_status}) waiting for {what}:\n{s.console()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} after {timeout} s: {st}\n{s.console()[-3000:]}"
        time.sleep(0.1)


def kvp_auto_pool(s: Served) -> dict[str, str]:
    found = {}
    for index in range(64):
        r = s.control.kvp("ENUMERATE", pool=2, index=index, timeout=15)
        if r.status != S_OK:
            break
        found[r.key] = r.value
    return found


def trace_lines(s: Served) -> list[str]:
    return list(s.control.trace().lines)


@pytest.mark.parametrize("preset", DEFAULT_PRESETS)
def test_reboot_reconnects_vmbus_and_reopens_every_ic(preset):
    """A shutdown request with REBOOT resets the guest; serve forgets the VMBus
    session, sees the ready marker of the new boot, the new kernel connects
    again (UNLOAD first if it sends one), every IC channel reopens, KVP
    answers, and a fresh agent connection reaches the new boot."""
    with Served(preset) as s:
        s.wait_ready(180)
        agent = s.agent
        names = expected_ics(s, agent)
        for n in names:
            wait_negotiated(s, n)
        boot_id = agent.read_file("/proc/sys/kernel/random/boot_id").strip()
        st = s.control.status()
        assert (st.boots, st.vmbus_connects, st.guest_resets) == (1, 1, 0), st

        t0 = time.monotonic()
        r = s.control.shutdown("REBOOT")
        assert r.status == S_OK, r
        st = wait_status(s, "guest reset", lambda st: st.guest_resets == 1, 30)
        t_reset = time.monotonic() - t0
        assert not st.guest_ready or st.boots == 2, "guest_ready must drop until the new boot's marker"
        st = wait_status(s, "ready marker of the second boot", lambda st: st.guest_ready, 180)
        t_ready = time.monotonic() - t0
        assert st.boots == 2, st
        for n in names:
            wait_negotiated(s, n)
        t_ics = time.monotonic() - t0
        st = s.control.status()
        assert st.vmbus_connects == 2, st
        assert st.vmbus_version == "5.3", st

        lines = trace_lines(s)
        reset_at = next(i for i, l in enumerate(lines) if l.endswith(" guest reset"))
        contacts = [i for i, l in enumerate(lines) if " g->h " in l and " initiate_contact " in l]
        assert any(i > reset_at for i in contacts), "no INITIATE_CONTACT after the reset"
        unloads = [i for i, l in enumerate(lines) if " g->h " in l and l.endswith(" unload")]
        if st.unloads:
            assert unloads and unloads[-1] < reset_at, "the UNLOAD belongs before the reset"

        found = kvp_auto_pool(s)
        assert "OSName" in found, found

        # QEMU's agent socket takes one client: the old connection goes first.
        s._agent.close()
        s._agent = None
        fresh = s.agent
        fresh.wait_ready(30)
        new_boot_id = fresh.read_file("/proc/sys/kernel/random/boot_id").strip()
        assert new_boot_id != boot_id, "the agent answers from the old boot?"
        print(f"{preset}: reset {t_reset:.1f} s after the request, ready again after {t_ready:.1f} s, "
              f"{len(names)} ICs negotiated after {t_ics:.1f} s; unloads {st.unloads}, "
              f"serve saw ready {st.last_ready_ms - st.last_reset_ms} ms after the reset")


@pytest.fixture(scope="module", params=DEFAULT_PRESETS)
def guest(request):
    """One guest per image with a scratch disk and a NIC."""
    with tempfile.TemporaryDirectory(prefix="vmbh-features-") as tmp:
        disk = Path(tmp) / "scratch.img"
        with open(disk, "wb") as f:
            f.truncate(DISK_MB << 20)
        with Served(request.param, extra=["--disk", str(disk), "--nic", MAC]) as s:
            s.wait_ready(180)
            s.disk = disk
            yield s


def test_rescind_then_reoffer_kvp_reopens_the_channel(guest):
    """Rescind(kvp) closes the channel in the guest and it releases the relid;
    after Reoffer(kvp) the guest opens it again, negotiates, and KVP answers."""
    before = wait_negotiated(guest, "kvp")
    assert "OSName" in kvp_auto_pool(guest)
    t0 = time.monotonic()
    guest.control.rescind("kvp")
    guest.control.wait_channel("kvp", state="rescinded", timeout=30)
    t_released = time.monotonic() - t0
    t1 = time.monotonic()
    guest.control.reoffer("kvp")
    f = wait_negotiated(guest, "kvp", timeout=90)
    t_reopened = time.monotonic() - t1
    assert int(f["opens"]) == int(before["opens"]) + 1, (before, f)
    found = kvp_auto_pool(guest)
    assert "OSName" in found, found
    print(f"{guest.preset}: kvp released {t_released:.2f} s after the rescind, "
          f"reopened and negotiated {t_reopened:.2f} s after the re-offer")


def test_set_ic_versions_is_what_the_guest_negotiates_next(guest):
    """SetIcVersions(timesync, message=[3.0]) + Rescind + Reoffer: the guest
    settles on 3.0; empty lists restore the defaults and it is 4.0 again."""
    assert wait_negotiated(guest, "timesync")["message_version"] == "4.0"
    v = guest.control.set_ic_versions("timesync", message=["3.0"])
    assert list(v.message) == ["3.0"] and list(v.framework) == ["3.0", "1.0"], v
    try:
        for expect in ("3.0", "4.0"):
            guest.control.rescind("timesync")
            guest.control.wait_channel("timesync", state="rescinded", timeout=30)
            guest.control.reoffer("timesync")
            f = wait_negotiated(guest, "timesync")
            assert f["message_version"] == expect, f
            r = guest.control.timesync("SYNC")
            assert r.status == S_OK and r.message_version == expect, r
            guest.control.set_ic_versions("timesync")
    finally:
        guest.control.set_ic_versions("timesync")


def test_set_ic_versions_refuses_bad_input(guest):
    """Unknown IC names and malformed versions are refused with the reason."""
    from vmbh_control import ControlError
    with pytest.raises(ControlError, match='no integration component named "kpv"'):
        guest.control.set_ic_versions("kpv", message=["3.0"])
    with pytest.raises(ControlError, match=r'kvp message: "3" is not an IC version'):
        guest.control.set_ic_versions("kvp", message=["3"])


def test_scratch_disk_is_vda_and_synced_writes_reach_the_host_file(guest):
    """--disk FILE is /dev/vda in the guest; after the guest syncs, the host
    file holds what the guest wrote."""
    a = guest.agent
    size = a.read_file("/sys/block/vda/size").strip()
    assert int(size) * 512 == DISK_MB << 20, size
    payload = os.urandom(4096).hex().encode()[:4096]
    a.write_file("/tmp/block", payload)
    r = a.sh("dd if=/tmp/block of=/dev/vda bs=4096 seek=3 count=1 2>&1 && sync")
    assert r.ok, r
    with open(guest.disk, "rb") as f:
        f.seek(3 * 4096)
        assert f.read(4096) == payload


def test_scratch_disk_file_system_is_in_a_host_copy_made_while_frozen(guest):
    """A file written on a file system on /dev/vda is in a host-side copy of
    the disk file made between VSS FREEZE and THAW (the freeze flushes the
    guest's cache; cache=writeback puts it in the host file)."""
    a = guest.agent
    deadline = time.monotonic() + 30
    while not a.sh("test -e /run/vmbh/modules.done").ok:  # ext4 loads after the ready marker
        assert time.monotonic() < deadline, "the file system modules did not load"
        time.sleep(0.2)
    r = a.sh("mke2fs -q /dev/vda && mkdir -p /mnt/scratch && mount /dev/vda /mnt/scratch && "
             "echo vmbh-frozen-marker-51c2 > /mnt/scratch/marker.txt")
    assert r.ok, r
    guest.control.wait_channel("vss")
    assert guest.control.vss("FREEZE").status == S_OK
    try:
        copy = guest.disk.read_bytes()
    finally:
        assert guest.control.vss("THAW").status == S_OK
    assert b"vmbh-frozen-marker-51c2" in copy
    assert a.sh("umount /mnt/scratch").ok


def test_nic_appears_with_its_mac(guest):
    """--nic MAC is a virtio-net interface with that address; it can be
    brought up with a static address."""
    a = guest.agent
    r = a.sh("for n in /sys/class/net/*; do echo ${n##*/} $(cat $n/address); done")
    assert r.ok, r
    ifaces = dict(line.split() for line in r.stdout.decode().splitlines())
    names = [n for n, mac in ifaces.items() if mac == MAC]
    assert names, f"no interface with {MAC}: {ifaces}"
    n = names[0]
    r = a.sh(f"ip link set {n} up && ip addr add 192.0.2.10/24 dev {n} && ip -o addr show dev {n}")
    assert r.ok and b"192.0.2.10/24" in r.stdout, r
    driver = a.sh(f"basename $(readlink /sys/class/net/{n}/device/driver)").stdout.decode().strip()
    assert driver == "virtio_net", driver
    print(f"{guest.preset}: {n} {MAC} driver {driver}")


def test_serve_idles_after_qemu_exits():
    """Once the guest powered off, serve answers requests but does not spin:
    QEMU's exit is logged once and serve uses almost no CPU while it waits for Quit."""
    with Served(DEFAULT_PRESETS[0]) as s:
        s.wait_ready(180)
        s.control.wait_channel("shutdown")
        assert s.control.shutdown("SHUTDOWN").status == S_OK
        deadline = time.monotonic() + 30
        while s.control.status().qemu_running:
            assert time.monotonic() < deadline, "QEMU still running 30 s after the shutdown request"
            time.sleep(0.1)

        def cpu_seconds() -> float:
            fields = Path(f"/proc/{s.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

        c0 = cpu_seconds()
        time.sleep(2)
        used = cpu_seconds() - c0
        exits = [l for l in trace_lines(s) if "qemu: exited" in l]
        assert len(exits) == 1, exits[:5]
        assert used < 0.5, f"serve used {used:.2f} s of CPU in 2 s after QEMU exited"
