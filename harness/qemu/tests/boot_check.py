#!/usr/bin/python3
"""Boots a Linux guest under the patched QEMU with TCG and Hyper-V
enlightenments and checks what the guest reports.

The guest is the throwaway initramfs from mkinitramfs-hv (until vm-images/
provides the real images): it loads hv_vmbus and hv_balloon and prints
"VMBH: ..." lines, /proc/interrupts and dmesg on the serial console.

  boot_check.py --deb linux-image-6.1.0-56-amd64_*.deb --smp 2
  boot_check.py --kernel vmlinuz --initrd initrd.img --no-hv
  boot_check.py --deb ... --crash      # guest panic -> QEMU guest-panicked

Exit status 0 when every check passes.  Uses only the standard library.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
QEMU_DIR = os.path.dirname(HERE)

# Debian's firmware (bios-256k.bin from seabios; kvmvapic.bin,
# linuxboot_dma.bin from qemu-system-data); build-qemu's binary finds them
# anyway, a development build tree may not.
FIRMWARE = ["-L", "/usr/share/seabios", "-L", "/usr/share/qemu"]

# Enlightenments the patch series implements under TCG.
HV_FEATURES = [
    "hv-relaxed", "hv-vpindex", "hv-time", "hv-frequencies", "hv-synic",
    "hv-runtime", "hv-reset",
]
# Accepted only by builds with the later patches of the series.
HV_OPTIONAL = ["hv-stimer", "hv-stimer-direct", "hv-crash"]

BAD_DMESG = re.compile(
    r"WARNING:|\bOops\b|Call Trace|BUG:|unchecked MSR access"
    r"|general protection fault|Kernel panic"
    r"|hv_(vmbus|balloon|utils): .*(?i:fail|error)")
# Reported, not failed: what else the guest complains about.
NOTE_DMESG = re.compile(r"(?i)\bfail|\bwarn|\berror|hyper-?v|hv_")


def qemu_binary():
    out = subprocess.run([os.path.join(QEMU_DIR, "build-qemu")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return out.strip().splitlines()[-1]


def qemu_supports(qemu, prop):
    """Whether this build accepts -cpu max,...,PROP=on under TCG: QEMU
    exits at once when realizing the vCPU fails, else it stays stopped (-S)
    until the timeout."""
    try:
        r = subprocess.run(
            [qemu] + FIRMWARE + ["-accel", "tcg", "-M", "q35", "-cpu",
             "max,hv-vpindex=on,hv-synic=on,hv-time=on,hv-stimer=on,%s=on"
             % prop,
             "-S", "-display", "none", "-nodefaults", "-monitor", "none"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3)
    except subprocess.TimeoutExpired:
        return True
    return r.returncode == 0


def cpu_option(features):
    return "max" + "".join(",%s=on" % f for f in features)


def build_guest(deb, workdir):
    subprocess.run([os.path.join(HERE, "mkinitramfs-hv"), deb, workdir],
                   check=True, stdout=subprocess.DEVNULL)
    return (os.path.join(workdir, "vmlinuz"),
            os.path.join(workdir, "initrd.img"))


def boot(qemu, kernel, initrd, smp, features, crash=False, timeout=300,
         log_dir=None, drift=0):
    """Boots the guest; returns (serial output, qemu log, seconds).  With
    @drift, the guest sleeps that long and the host time stamps the guest's
    uptime lines as they arrive: the serial output then ends with
    "VMBH-HOST: drift guest <s> host <s>"."""
    log_dir = log_dir or tempfile.mkdtemp(prefix="vmbh-boot-")
    os.makedirs(log_dir, exist_ok=True)
    qlog = os.path.join(log_dir, "qemu.log")
    append = "console=ttyS0 panic=-1 quiet loglevel=4"
    if crash:
        append += " vmbh.crash=1"
    if drift:
        append += " vmbh.drift=%d" % drift
    cmd = [qemu] + FIRMWARE + ["-accel", "tcg", "-M", "q35", "-m", "512",
           "-smp", str(smp), "-cpu", cpu_option(features),
           "-nodefaults", "-display", "none", "-serial", "stdio",
           "-no-reboot", "-kernel", kernel, "-initrd", initrd,
           "-append", append, "-d", "guest_errors", "-D", qlog,
           "-action", "panic=shutdown"]
    if "hv-synic" in features:
        cmd += ["-device", "vmbus-bridge", "-device", "hv-balloon"]
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    lines, stamps = [], {}
    try:
        for raw in p.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line)
            m = re.match(r"VMBH: (drift-start|drift-end) (\S+)", line)
            if m:
                stamps[m.group(1)] = (time.monotonic(), float(m.group(2)))
            if time.monotonic() - start > timeout:
                break
    finally:
        p.kill()
        p.wait()
    secs = time.monotonic() - start
    if len(stamps) == 2:
        (h0, g0), (h1, g1) = stamps["drift-start"], stamps["drift-end"]
        lines.append("VMBH-HOST: drift guest %.3f host %.3f"
                     % (g1 - g0, h1 - h0))
    serial = "\n".join(lines) + "\n"
    with open(os.path.join(log_dir, "serial.log"), "w") as f:
        f.write(serial)
    qemu_log = open(qlog).read() if os.path.exists(qlog) else ""
    return serial, qemu_log, secs


def section(text, name):
    m = re.search(r"VMBH-%s-BEGIN\n(.*?)VMBH-%s-END" % (name, name), text,
                  re.S)
    return m.group(1) if m else ""


def interrupt_row(interrupts, name, ncpu):
    for line in interrupts.splitlines():
        parts = line.split()
        if parts and parts[0] == name + ":":
            return [int(x) for x in parts[1:1 + ncpu]]
    return None


def check(serial, qemu_log, smp, features, crash=False):
    """Returns a list of (name, ok, detail)."""
    results = []

    def add(name, ok, detail=""):
        results.append((name, bool(ok), detail))

    dmesg = section(serial, "DMESG")
    interrupts = section(serial, "INTERRUPTS")
    vmbh = dict()
    for line in serial.splitlines():
        m = re.match(r"VMBH: (\S+) (.*)", line.strip())
        if m:
            vmbh.setdefault(m.group(1), []).append(m.group(2))
    hv = bool(features)

    add("guest reached the end of init", "VMBH-END" in serial or crash,
        "no VMBH-END marker; last output:\n" +
        "\n".join(serial.splitlines()[-15:]))
    if hv:
        add("Hypervisor detected: Microsoft Hyper-V",
            "Hypervisor detected: Microsoft Hyper-V" in dmesg)
    else:
        add("no Hyper-V without hv-*", "Microsoft Hyper-V" not in dmesg)
    if "hv-time" in features:
        cs = (vmbh.get("clocksource") or ["?"])[0]
        add("clocksource hyperv_clocksource_tsc_page",
            cs == "hyperv_clocksource_tsc_page", "current: " + cs)
    if "hv-synic" in features:
        add("hv_vmbus: Vmbus version:4.0",
            "hv_vmbus: Vmbus version:4.0" in dmesg)
        balloon = [d for d in vmbh.get("vmbus-device", [])
                   if "525074dc-8985-46e2-8057-a307dc18a502" in d]
        add("balloon device bound to hv_balloon",
            balloon and balloon[0].endswith("driver hv_balloon"),
            "; ".join(vmbh.get("vmbus-device", [])) or "no vmbus devices")
        add("hv_balloon: Using Dynamic Memory protocol",
            "hv_balloon: Using Dynamic Memory protocol" in dmesg)
        hyp = interrupt_row(interrupts, "HYP", smp)
        add("Hyper-V callback interrupts counted",
            hyp is not None and sum(hyp) > 0, "HYP: %s" % hyp)
    if "hv-stimer" in features:
        ce = vmbh.get("clockevent", [])
        add("Hyper-V clockevent on every CPU",
            len(ce) == smp and all(c.endswith("Hyper-V clockevent")
                                   for c in ce), "; ".join(ce))
        # direct mode: own vector, counted as HVS; message mode: SINT2,
        # counted with the VMBus messages as HYP.
        row = "HVS" if "hv-stimer-direct" in features else "HYP"
        counts = interrupt_row(interrupts, row, smp)
        add("stimer interrupts on every CPU (%s)" % row,
            counts is not None and all(x > 0 for x in counts),
            "%s: %s" % (row, counts))
    bad = [l for l in dmesg.splitlines() if BAD_DMESG.search(l)]
    if crash:
        bad = [l for l in bad if "sysrq" not in l.lower()]
    add("dmesg has no warning, oops or call trace", not bad and dmesg,
        "\n".join(bad[:10]) if bad else ("" if dmesg else "no dmesg"))
    if crash:
        m = re.search(r"HV crash parameters: \(([^)]*)\)", qemu_log)
        add("guest panic reported by QEMU with Hyper-V crash parameters",
            m is not None, m.group(0) if m else qemu_log[-500:])
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--qemu", help="QEMU binary (default: build-qemu)")
    ap.add_argument("--deb", help="Debian linux-image .deb")
    ap.add_argument("--kernel")
    ap.add_argument("--initrd")
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--no-hv", action="store_true",
                    help="boot without any hv-* (plain TCG)")
    ap.add_argument("--crash", action="store_true",
                    help="crash the guest and expect a Hyper-V guest panic")
    ap.add_argument("--features",
                    help="comma-separated hv-* list instead of all the "
                    "build supports")
    ap.add_argument("--drift", type=int, default=0, metavar="SECONDS",
                    help="measure guest uptime against the host clock")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--log-dir")
    args = ap.parse_args()

    qemu = args.qemu or qemu_binary()
    work = tempfile.mkdtemp(prefix="vmbh-guest-")
    if args.deb:
        kernel, initrd = build_guest(args.deb, work)
    elif args.kernel and args.initrd:
        kernel, initrd = args.kernel, args.initrd
    else:
        ap.error("--deb or --kernel/--initrd needed")

    if args.no_hv:
        features = []
    elif args.features:
        features = args.features.split(",")
    else:
        features = list(HV_FEATURES)
        features += [f for f in HV_OPTIONAL if qemu_supports(qemu, f)]
    serial, qemu_log, secs = boot(qemu, kernel, initrd, args.smp, features,
                                  crash=args.crash, timeout=args.timeout,
                                  log_dir=args.log_dir, drift=args.drift)
    results = check(serial, qemu_log, args.smp, features, crash=args.crash)
    dmesg = section(serial, "DMESG")
    notes = [l for l in dmesg.splitlines()
             if NOTE_DMESG.search(l) and not BAD_DMESG.search(l)]
    m = re.search(r"VMBH: uptime (\S+)", serial)
    print("boot: %.1f s wall, guest uptime at end of init %s s, cpu %s"
          % (secs, m.group(1) if m else "?", cpu_option(features)))
    m = re.search(r"VMBH-HOST: drift guest (\S+) host (\S+)", serial)
    if m:
        g, h = float(m.group(1)), float(m.group(2))
        print("drift: guest %.3f s over host %.3f s: %+.0f ppm (uptime has "
              "10 ms resolution)" % (g, h, (g - h) / h * 1e6))
    failed = 0
    for name, ok, detail in results:
        print("%s  %s%s" % ("PASS" if ok else "FAIL", name,
                            "" if ok or not detail else "\n      " +
                            detail.replace("\n", "\n      ")))
        failed += not ok
    if notes:
        print("dmesg lines mentioning Hyper-V or failures (not checked):")
        for line in notes:
            print("      " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
