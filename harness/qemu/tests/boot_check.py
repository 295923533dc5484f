#!/usr/bin/python3
"""Boots a vmbh guest image under the patched QEMU with TCG and Hyper-V
enlightenments, and checks through the guest agent what Linux made of them.

  boot_check.py --preset bookworm --smp 2              # all checks, once
  boot_check.py --image DIR --no-hv                    # plain TCG
  boot_check.py --preset bookworm --crash              # panic -> QEMU guest-panicked
  boot_check.py --preset bookworm --smp 2 --repeat 20  # 20 boots in a row
  boot_check.py --preset bookworm --bench 5            # boot ratio hv on/off, drift

Images come from vm-images/build-image (cached); QEMU from
harness/qemu/build-qemu (cached).  Exit status 0 when every check passes.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QEMU_DIR = HERE.parent
REPO = QEMU_DIR.parents[1]
sys.path.insert(0, str(REPO / "vm-images"))
sys.path.insert(0, str(REPO / "harness/agent/python"))
import vmbh_agent  # noqa: E402
from vmbh_images import qemu as vm  # noqa: E402

# Enlightenments the patch series implements under TCG.
HV_FEATURES = [
    "hv-relaxed", "hv-vpindex", "hv-time", "hv-frequencies", "hv-synic",
    "hv-runtime", "hv-reset", "hv-stimer", "hv-stimer-direct", "hv-crash",
]
BALLOON_CLASS = "525074dc-8985-46e2-8057-a307dc18a502"

BAD_DMESG = re.compile(
    r"WARNING:|\bOops\b|Call Trace|BUG:|unchecked MSR access"
    r"|general protection fault|Kernel panic"
    r"|hv_(vmbus|balloon|utils): .*(?i:fail|error)")
# Reported, not failed: what else the guest says about Hyper-V or failures.
NOTE_DMESG = re.compile(r"(?i)\bfail|\bwarn|\berror|hyper-?v|hv_")

# One agent call gathers everything the checks look at.
PROBE = r"""
echo "== clocksource"; cat /sys/devices/system/clocksource/clocksource0/current_clocksource
echo "== clockevents"
for c in /sys/devices/system/clockevents/clockevent*; do echo "${c##*/} $(cat $c/current_device)"; done
echo "== vmbus"
for d in /sys/bus/vmbus/devices/*; do
  [ -e "$d" ] || continue
  drv=none; [ -e "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
  echo "${d##*/} $(cat $d/class_id) $drv"
done
echo "== interrupts"; cat /proc/interrupts
echo "== dmesg"; dmesg
"""


def qemu_binary():
    out = subprocess.run([str(QEMU_DIR / "build-qemu")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return out.strip().splitlines()[-1]


def agent_binary():
    path = Path(os.environ.get("VMBH_AGENT")
                or REPO / "build/dev/harness/agent/vmbh-agent")
    if not path.exists():
        raise SystemExit(f"no guest agent at {path}: build the dev preset "
                         "first (cmake --build --preset dev)")
    return path


def image_dir(preset):
    p = subprocess.run([str(REPO / "vm-images/build-image"), "--preset", preset,
                        "--agent", str(agent_binary())],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"build-image --preset {preset} failed:\n{p.stderr}")
    return Path(p.stdout.strip())


def cpu_option(features):
    return "max" + "".join(",%s=on" % f for f in features)


def sections(text):
    out, name = {}, None
    for line in text.splitlines():
        if line.startswith("== "):
            name = line[3:].strip()
            out[name] = []
        elif name:
            out[name].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def interrupt_row(interrupts, name, ncpu):
    for line in interrupts.splitlines():
        parts = line.split()
        if parts and parts[0] == name + ":":
            return [int(x) for x in parts[1:1 + ncpu]]
    return None


def guest(qemu, image, smp, features, **kw):
    extra = ["-action", "panic=shutdown"]
    if "hv-synic" in features:
        extra += ["-device", "vmbus-bridge", "-device", "hv-balloon"]
    return vm.Guest(image, smp=smp, cpu=cpu_option(features), qemu=qemu,
                    machine="q35", extra_args=extra, **kw)


def observe(qemu, image, smp, features, crash=False, timeout=180):
    """Boots, waits for the balloon driver when VMBus is on, and returns what
    the guest reports: a dict of sections plus ready time and QEMU's log."""
    with guest(qemu, image, smp, features) as g:
        obs = {"ready_s": g.wait_ready(timeout)}
        with vmbh_agent.AgentClient(g.agent_socket()) as agent:
            agent.wait_ready(timeout=60)
            # hv_balloon binds once VMBus has offered the channel.
            deadline = time.monotonic() + 30
            while "hv-synic" in features and time.monotonic() < deadline:
                r = agent.sh("readlink /sys/bus/vmbus/devices/*/driver")
                if b"/hv_balloon" in r.stdout:
                    break
                time.sleep(0.2)
            time.sleep(1)  # let the stimer and callback counters move
            r = agent.sh(PROBE)
            obs.update(sections(r.stdout.decode(errors="replace")))
            if crash:
                agent.sh("(sleep 0.2; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &")
                obs["exit"] = g.wait_exit(60)
        obs["console"] = g.console.decode(errors="replace")
        obs["qemu_log"] = g.qemu_log()
    return obs


def check(obs, smp, features, crash=False):
    """Returns a list of (name, ok, detail)."""
    results = []

    def add(name, ok, detail=""):
        results.append((name, bool(ok), detail))

    dmesg = obs.get("dmesg", "")
    interrupts = obs.get("interrupts", "")
    add("agent answered with dmesg", dmesg, obs.get("console", "")[-1500:])
    if features:
        add("Hypervisor detected: Microsoft Hyper-V",
            "Hypervisor detected: Microsoft Hyper-V" in dmesg)
    else:
        add("no Hyper-V without hv-*", "Microsoft Hyper-V" not in dmesg)
    if "hv-time" in features:
        cs = obs.get("clocksource", "?").strip()
        add("clocksource hyperv_clocksource_tsc_page",
            cs == "hyperv_clocksource_tsc_page", "current: " + cs)
    if "hv-synic" in features:
        add("hv_vmbus: Vmbus version:4.0",
            "hv_vmbus: Vmbus version:4.0" in dmesg)
        devices = obs.get("vmbus", "").splitlines()
        balloon = [d for d in devices if BALLOON_CLASS in d]
        add("balloon device bound to hv_balloon",
            balloon and balloon[0].endswith(" hv_balloon"),
            "; ".join(devices) or "no vmbus devices")
        add("hv_balloon: Using Dynamic Memory protocol",
            "hv_balloon: Using Dynamic Memory protocol" in dmesg)
        hyp = interrupt_row(interrupts, "HYP", smp)
        add("Hyper-V callback interrupts counted",
            hyp is not None and sum(hyp) > 0, "HYP: %s" % hyp)
    if "hv-stimer" in features:
        ce = obs.get("clockevents", "").splitlines()
        add("Hyper-V clockevent on every CPU",
            len(ce) == smp and all(c.endswith("Hyper-V clockevent")
                                   for c in ce), "; ".join(ce))
        # Direct mode: own vector, counted as HVS.  Message mode: SINT2,
        # counted with the VMBus messages as HYP.
        row = "HVS" if "hv-stimer-direct" in features else "HYP"
        counts = interrupt_row(interrupts, row, smp)
        add("stimer interrupts on every CPU (%s)" % row,
            counts is not None and all(x > 0 for x in counts),
            "%s: %s" % (row, counts))
    bad = [line for line in dmesg.splitlines() if BAD_DMESG.search(line)]
    add("dmesg has no warning, oops or call trace", not bad,
        "\n".join(bad[:10]))
    if crash:
        m = re.search(r"HV crash parameters: \(([^)]*)\)", obs["qemu_log"])
        add("guest panic reported by QEMU with Hyper-V crash parameters",
            m is not None,
            m.group(0) if m else "QEMU log:\n" + obs["qemu_log"][-800:])
    return results


def failures(results):
    return ["%s: %s" % (n, d) for n, ok, d in results if not ok]


def drift(qemu, image, seconds):
    """Guest CLOCK_MONOTONIC (TSC page, ns from /proc/timer_list) against the
    host's over `seconds`; each sample is bracketed by host clock reads, so
    the agent round trip bounds the error."""
    with guest(qemu, image, 1, HV_FEATURES) as g:
        g.wait_ready(180)
        with vmbh_agent.AgentClient(g.agent_socket()) as agent:
            agent.wait_ready(timeout=60)

            def sample():
                h0 = time.monotonic_ns()
                out = agent.read_file("/proc/timer_list", max_length=200)
                h1 = time.monotonic_ns()
                ns = int(re.search(rb"now at (\d+) nsecs", out).group(1))
                return ns, (h0 + h1) // 2, h1 - h0

            g0, host0, rtt0 = sample()
            time.sleep(seconds)
            g1, host1, rtt1 = sample()
    dg, dh = g1 - g0, host1 - host0
    return dg, dh, max(rtt0, rtt1)


def boot_ratio(qemu, image, runs):
    """Medians with Hyper-V on and off, alternating in one run: QEMU start to
    the init's ready marker (with Hyper-V on, the init also brings VMBus up
    and loads the VMBus drivers, which it skips without), and the kernel's
    own time to starting /init (dmesg), which compares like with like."""
    ready = {True: [], False: []}
    to_init = {True: [], False: []}
    for _ in range(runs):
        for hv in (True, False):
            with guest(qemu, image, 1, HV_FEATURES if hv else []) as g:
                ready[hv].append(g.wait_ready(180))
                with vmbh_agent.AgentClient(g.agent_socket()) as agent:
                    agent.wait_ready(timeout=60)
                    dmesg = agent.sh("dmesg").stdout.decode(errors="replace")
                m = re.search(r"\[\s*([\d.]+)\] Run /init as init process", dmesg)
                to_init[hv].append(float(m.group(1)))
    med = statistics.median
    return ((med(ready[True]), med(ready[False])),
            (med(to_init[True]), med(to_init[False])))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--qemu", help="QEMU binary (default: build-qemu)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="default image: bookworm, bookworm-backports")
    src.add_argument("--image", help="an image directory from build-image")
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--no-hv", action="store_true", help="plain TCG")
    ap.add_argument("--features", help="comma-separated hv-* list")
    ap.add_argument("--crash", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--bench", type=int, metavar="RUNS",
                    help="boot ratio hv on/off over RUNS boots each, then drift")
    ap.add_argument("--drift-seconds", type=int, default=60)
    args = ap.parse_args()

    qemu = args.qemu or qemu_binary()
    image = Path(args.image) if args.image else image_dir(args.preset)
    if args.bench:
        (r_on, r_off), (i_on, i_off) = boot_ratio(qemu, image, args.bench)
        print("median of %d boots, Hyper-V on / off:" % args.bench)
        print("  kernel start to /init: %.2f s / %.2f s, ratio %.2f"
              % (i_on, i_off, i_on / i_off))
        print("  QEMU start to ready:   %.2f s / %.2f s, ratio %.2f (on: "
              "VMBus up and its drivers loaded)" % (r_on, r_off, r_on / r_off))
        dg, dh, rtt = drift(qemu, image, args.drift_seconds)
        print("drift: guest %.6f s over host %.6f s: %+.1f ms (%+.0f ppm), "
              "sample round trip %.2f ms" % (dg / 1e9, dh / 1e9, (dg - dh) / 1e6,
                                              (dg - dh) / dh * 1e6, rtt / 1e6))
        return 0
    features = ([] if args.no_hv else args.features.split(",")
                if args.features else HV_FEATURES)
    failed_runs = 0
    for i in range(args.repeat):
        obs = observe(qemu, image, args.smp, features, crash=args.crash)
        results = check(obs, args.smp, features, crash=args.crash)
        bad = failures(results)
        failed_runs += bool(bad)
        print("boot %d/%d: ready %.2f s, %s" % (
            i + 1, args.repeat, obs["ready_s"],
            "all %d checks pass" % len(results) if not bad else "FAILED"))
        for line in bad:
            print("  FAIL " + line.replace("\n", "\n      "))
        if i == 0 or bad:
            notes = [line for line in obs.get("dmesg", "").splitlines()
                     if NOTE_DMESG.search(line) and not BAD_DMESG.search(line)]
            if notes:
                print("  dmesg lines mentioning Hyper-V or failures (not checked):")
                for line in notes:
                    print("      " + line)
    print("%d of %d boots failed" % (failed_runs, args.repeat))
    return 1 if failed_runs else 0


if __name__ == "__main__":
    sys.exit(main())
