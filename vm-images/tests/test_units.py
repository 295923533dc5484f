"""Unit tests of the builder's parts (no network, no QEMU)."""
import io
import lzma
import struct
import subprocess

import pytest

from vmbh_images import apt, cpio, daemons, kernel, vmlinux
from vmbh_images.errors import BuildError
from vmbh_images.tree import Tree


def test_parse_spec_forms():
    assert apt.parse_spec("linux-image-amd64") == ("linux-image-amd64", None, None)
    assert apt.parse_spec("hyperv-daemons=6.1.1-1") == ("hyperv-daemons", "6.1.1-1", None)
    assert apt.parse_spec("linux-image-amd64/bookworm-backports") == (
        "linux-image-amd64", None, "bookworm-backports")
    assert apt.parse_spec("xy=1.0~bpo12+1/bookworm-backports") == (
        "xy", "1.0~bpo12+1", "bookworm-backports")
    with pytest.raises(BuildError):
        apt.parse_spec("Not A Name")


def test_metapackage_target():
    f = {"Package": "linux-image-amd64",
         "Depends": "linux-image-6.1.0-56-amd64 (= 6.1.192-2)"}
    assert apt.meta_target(f) == ("linux-image-6.1.0-56-amd64", "6.1.192-2")
    assert apt.meta_target({"Package": "linux-image-6.1.0-56-amd64",
                            "Depends": "kmod, linux-base (>= 4.3~)"}) is None


def test_cpio_is_read_back_by_gnu_cpio(tmp_path):
    t = Tree()
    t.add("/etc/vmbh/x", b"hello", 0o600)
    t.symlink("/bin/sh", "/bin/busybox")
    t.add("/bin/busybox", b"\x7fELF", 0o755)
    out = tmp_path / "a.cpio"
    t.write_cpio(out)
    assert out.stat().st_size % 512 == 0
    listing = subprocess.run(["cpio", "-itv"], stdin=open(out, "rb"), capture_output=True,
                             text=True, check=True).stdout
    assert "etc/vmbh/x" in listing and "bin/sh -> /bin/busybox" in listing
    assert "-rw-------" in listing
    subprocess.run(["cpio", "-id", "--quiet"], stdin=open(out, "rb"), cwd=tmp_path, check=True)
    assert (tmp_path / "etc/vmbh/x").read_bytes() == b"hello"


def test_cpio_is_deterministic(tmp_path):
    def build(p):
        t = Tree()
        t.add("/b", b"2")
        t.add("/a/c", b"1")
        return t.write_cpio(p)
    assert build(tmp_path / "1") == build(tmp_path / "2")


def test_cpio_header_fields():
    buf = io.BytesIO()
    w = cpio.CpioWriter(buf)
    w.file("f", b"abc", 0o644)
    raw = buf.getvalue()
    assert raw[:6] == b"070701"
    assert int(raw[6 + 8 * 6:6 + 8 * 7], 16) == 3  # filesize
    assert int(raw[6 + 8 * 11:6 + 8 * 12], 16) == 2  # namesize, with the NUL


def write_moddir(root, dep, softdep="", alias="", builtin=""):
    d = root / "lib/modules/9.9.9"
    d.mkdir(parents=True)
    (d / "modules.dep").write_text(dep)
    (d / "modules.softdep").write_text(softdep)
    (d / "modules.alias").write_text(alias)
    (d / "modules.builtin").write_text(builtin)
    return d


def test_closure_puts_dependencies_and_softdeps_first(tmp_path):
    d = write_moddir(
        tmp_path,
        "kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz kernel/fs/jbd2/jbd2.ko.xz\n"
        "kernel/lib/crc16.ko.xz:\n"
        "kernel/fs/jbd2/jbd2.ko.xz:\n"
        "kernel/crypto/crc32c_generic.ko.xz:\n"
        "kernel/drivers/hv/hv_vmbus.ko.xz:\n"
        "kernel/drivers/hv/hv_utils.ko.xz: kernel/drivers/hv/hv_vmbus.ko.xz\n",
        softdep="softdep ext4 pre: crypto-crc32c\n",
        alias="alias crypto-crc32c crc32c_generic\n",
        builtin="kernel/drivers/virtio/virtio_pci.ko\n")
    idx = kernel.ModuleIndex(d)
    order = [kernel.modname(p) for p in idx.closure(["hv_utils", "ext4", "virtio_pci"])]
    assert order == ["hv_vmbus", "hv_utils", "crc32c_generic", "crc16", "jbd2", "ext4"]
    assert idx.missing(["hv_vmbus", "virtio_pci", "hv_sock"]) == ["hv_sock"]


def test_read_module_decompresses(tmp_path):
    f = tmp_path / "m.ko.xz"
    f.write_bytes(lzma.compress(b"\x7fELFmodule", format=lzma.FORMAT_XZ))
    assert kernel.read_module(f) == b"\x7fELFmodule"
    assert kernel.plain_path("kernel/a/m.ko.xz") == "kernel/a/m.ko"


def test_daemons_from_udev_rules_and_units(tmp_path):
    (tmp_path / "lib/udev/rules.d").mkdir(parents=True)
    (tmp_path / "lib/udev/rules.d/60-hyperv-daemons.rules").write_text(
        'KERNEL=="vmbus/hv_kvp", TAG+="systemd", ENV{SYSTEMD_WANTS}+="hv-kvp-daemon.service"\n'
        'KERNEL=="vmbus/hv_gone", TAG+="systemd", ENV{SYSTEMD_WANTS}+="hv-gone.service"\n')
    (tmp_path / "lib/systemd/system").mkdir(parents=True)
    (tmp_path / "lib/systemd/system/hv-kvp-daemon.service").write_text(
        "[Service]\nExecStart=/usr/sbin/hv_kvp_daemon -n\nStateDirectory=hyperv\n")
    (tmp_path / "usr/sbin").mkdir(parents=True)
    (tmp_path / "usr/sbin/hv_kvp_daemon").write_bytes(b"")
    found = daemons.find_daemons(tmp_path)
    assert [(d.node, d.argv, d.state_dirs) for d in found] == [
        ("/dev/vmbus/hv_kvp", ["/usr/sbin/hv_kvp_daemon", "-n"], ["/var/lib/hyperv"])]
    assert found[0].table_line() == \
        "/dev/vmbus/hv_kvp hv-kvp-daemon.service /usr/sbin/hv_kvp_daemon -n"


def test_vmlinux_pvh_note_detection():
    # A minimal ELF64 with one PT_NOTE segment holding a Xen note of type 18.
    note = struct.pack("<III", 4, 4, 18) + b"Xen\0" + b"\0\0\0\0"
    phoff, phentsize = 64, 56
    ehdr = (b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0,
            phoff, 0, 0, 64, phentsize, 1, 0, 0, 0))
    phdr = struct.pack("<IIQQQQQQ", 4, 0, phoff + phentsize, 0, 0, len(note), len(note), 4)
    elf = ehdr + phdr + note
    assert vmlinux.has_pvh_note(elf)
    assert not vmlinux.has_pvh_note(elf.replace(struct.pack("<I", 18), struct.pack("<I", 17)))
    assert vmlinux.decompress(b"garbage") is None
