"""`vmbh run`: build (or take from the cache) the patched QEMU and the guest
images, then run the conformance suite on them and report.

    vmbh run                                   # both default images, full suite
    vmbh run --kernel linux-image-6.1.0-57-amd64 --suite smoke
    vmbh run --kernel ./linux-image-6.13.deb --daemons hyperv-daemons/bookworm-backports
    vmbh run --bzimage arch/x86/boot/bzImage --modules /lib/modules/6.13.0

Exit status: 0 when every check passed (expected failures allowed), 1 when a
check failed, 2 for bad usage or a set-up failure (image, QEMU).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from vmbh_serve import DEFAULT_PRESETS, agent_binary, build_dir  # noqa: E402


MAX_JOBS = 8  # each worker holds up to a few guests of 512 MiB
REPORT_FILES = ("results.json", "report.html", "junit.xml", "runs")  # what a run writes into its report directory


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="vmbh run", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("what to check (default: both default images)")
    src.add_argument("--kernel", action="append", default=[], metavar="SPEC",
                     help="kernel package: NAME, NAME=VERSION, NAME[=VERSION]/SUITE or FILE.deb (repeatable)")
    src.add_argument("--bzimage", type=Path, help="a kernel bzImage (with --modules)")
    src.add_argument("--modules", type=Path, help="its modules directory, .../lib/modules/RELEASE")
    src.add_argument("--daemons", metavar="SPEC", help="hyperv-daemons package (default: the kernel's suite)")
    p.add_argument("--suite", choices=("smoke", "full"), default="full")
    p.add_argument("-k", dest="keyword", metavar="EXPR", help="only checks matching this pytest -k expression")
    p.add_argument("--junit", type=Path, help="JUnit XML file (default: REPORT/junit.xml)")
    p.add_argument("--report", type=Path, help="report directory (default: build/vmbh-run/<time>)")
    p.add_argument("-j", "--jobs", type=int, default=0,
                   help="pytest-xdist workers, each running one guest at a time (default: the number of cores, "
                        f"at most {MAX_JOBS})")
    a = p.parse_args(argv)
    if bool(a.bzimage) != bool(a.modules):
        p.error("--bzimage and --modules go together")
    if a.jobs < 0:
        p.error("--jobs must be positive")
    return a


def say(msg: str) -> None:
    print(f"vmbh run: {msg}", flush=True)


def qemu() -> str:
    if os.environ.get("VMBH_QEMU"):
        return os.environ["VMBH_QEMU"]
    say("patched QEMU (harness/qemu/build-qemu; a cold build takes minutes, progress below)")
    p = subprocess.run([str(REPO / "harness/qemu/build-qemu")], stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"vmbh run: building QEMU failed (exit {p.returncode})")
    return p.stdout.strip().splitlines()[-1]


def build_image(label: str, args: list[str]) -> str:
    say(f"image {label}: vm-images/build-image {' '.join(args)}")
    t0 = time.monotonic()
    p = subprocess.run([str(REPO / "vm-images/build-image"), *args, "--agent", str(agent_binary())],
                       stdout=subprocess.PIPE, text=True)  # stderr (progress, errors) goes to the terminal
    if p.returncode != 0:
        raise SystemExit(f"vmbh run: the image for {label} could not be built (see above)")
    d = p.stdout.strip().splitlines()[-1]
    say(f"image {label}: {d} ({time.monotonic() - t0:.1f} s)")
    return d


def images(a: argparse.Namespace) -> list[tuple[str, str]]:
    daemons = ["--daemons", a.daemons] if a.daemons else []
    out = []
    for spec in a.kernel:
        label = Path(spec).stem if spec.endswith(".deb") else spec.split("=")[0].split("/")[0]
        out.append((label.replace("linux-image-", ""), build_image(label, ["--kernel", spec, *daemons])))
    if a.bzimage:
        out.append((a.modules.name, build_image(a.modules.name, ["--bzimage", str(a.bzimage), "--modules",
                                                                  str(a.modules), *daemons])))
    if not out:
        out = [(p, build_image(p, ["--preset", p])) for p in DEFAULT_PRESETS]
    labels = [label for label, _ in out]
    if len(set(labels)) != len(labels):
        raise SystemExit(f"vmbh run: two images have the same label: {labels}")
    return out


def fresh_report_dir(report: Path) -> None:
    """An empty report directory, or an earlier run's (its files are replaced:
    old run directories would otherwise mix with the new ones); anything else
    is refused rather than written into."""
    if report.exists() and not report.is_dir():
        raise SystemExit(f"vmbh run: --report {report}: not a directory")
    if report.exists():
        entries = {e.name for e in report.iterdir()}
        foreign = entries - set(REPORT_FILES)
        if foreign:
            raise SystemExit(f"vmbh run: --report {report} holds files that are not a vmbh report "
                             f"({', '.join(sorted(foreign)[:3])}): give an empty or new directory")
        if entries:
            say(f"replacing the earlier report in {report}")
        for name in entries:
            path = report / name
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    report.mkdir(parents=True, exist_ok=True)


def main(argv: list[str]) -> int:
    a = parse(argv)
    t0 = time.monotonic()
    report = a.report or REPO / "build/vmbh-run" / time.strftime("%Y%m%d-%H%M%S")
    fresh_report_dir(report)
    junit = a.junit or report / "junit.xml"
    os.environ["VMBH_QEMU"] = qemu()
    imgs = images(a)
    jobs = a.jobs or min(os.cpu_count() or 1, MAX_JOBS)
    cmd = [sys.executable, "-m", "pytest", str(HERE / "checks"), "-p", "no:cacheprovider", "-v",
           "--junitxml", str(junit), "-o", "junit_logging=system-out", "--vmbh-suite", a.suite, "--vmbh-report", str(report)]
    for label, d in imgs:
        cmd += ["--vmbh-image", f"{label}={d}"]
    if a.keyword:
        cmd += ["-k", a.keyword]
    if jobs > 1:
        if importlib.util.find_spec("xdist") is None:
            say("python3-pytest-xdist is not installed: running the guests one after another")
        else:
            cmd += ["-n", str(jobs), "--dist", "loadgroup"]
    say(f"{a.suite} suite on {', '.join(label for label, _ in imgs)}; {jobs} worker(s), one guest each at a time; "
        f"report in {report}")
    env = dict(os.environ, VMBH_BUILD=str(build_dir()))
    rc = subprocess.run(cmd, env=env).returncode
    say(f"wall time {time.monotonic() - t0:.0f} s; JUnit {junit}; HTML {report / 'report.html'}")
    return 0 if rc == 0 else (1 if rc == 1 else 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
