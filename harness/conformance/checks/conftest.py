"""The conformance suite's pytest plugin.

Options (vmbh run passes them; plain pytest works too):
  --vmbh-image LABEL=DIR   a guest image to check (repeatable); default: the two
                           default images (vm-images/build-image --preset ...)
  --vmbh-suite smoke|full  smoke: the checks marked smoke; full: all (default)
  --vmbh-report DIR        results.json, report.html and the guests' run
                           directories (console, trace, dmesg) go here

Every check gets a `kernel` (parametrized over the images) and one of `guest`
(the kernel's shared guest, for checks that leave no state), `kept` (a guest
shared by the checks with the same kept_guest("NAME") mark) or `fresh` (a
factory booting guests of its own); see guest_pool.py. Under xdist, the checks
on one reused guest form one xdist_group. Results carry the service (the check
module's name), the kernel and, for failures, the tail of the guest's console
and trace; the terminal summary prints a service x check x kernel table.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import report as vmbh_report  # noqa: E402
from guest_pool import GuestPool, Kernel  # noqa: E402
from vmbh_serve import DEFAULT_PRESETS, image_dir  # noqa: E402


def pytest_addoption(parser):
    g = parser.getgroup("vmbh", "vmbh conformance suite")
    g.addoption("--vmbh-image", action="append", default=[], metavar="LABEL=DIR",
                help="guest image to check (repeatable; default: both default images)")
    g.addoption("--vmbh-suite", choices=("smoke", "full"), default="full")
    g.addoption("--vmbh-report", metavar="DIR", default=None,
                help="report directory (results.json, report.html, run directories)")
    g.addoption("--vmbh-append", metavar="ARGS", default="",
                help="extra kernel arguments for every guest (e.g. vmbh.omit=hv-kvp-daemon.service)")


def pytest_configure(config):
    config.addinivalue_line("markers", "smoke: part of the smoke suite (run in CI on every change)")
    config.addinivalue_line("markers", "fresh_guest: boots guests of its own")
    config.addinivalue_line("markers", "kept_guest(name): shares the kernel's guest NAME with the other checks so marked")
    config.pluginmanager.register(WorkOrder(), "vmbh-work-order")
    report_dir = config.getoption("--vmbh-report") or tempfile.mkdtemp(prefix="vmbh-report-")
    config.vmbh_report_dir = Path(report_dir).resolve()
    config.vmbh_report_dir.mkdir(parents=True, exist_ok=True)
    config.vmbh_results = []
    config.vmbh_t0 = time.monotonic()


def kernels(config) -> list[Kernel]:
    if not hasattr(config, "vmbh_kernels"):
        specs = config.getoption("--vmbh-image")
        if specs:
            out = []
            for spec in specs:
                label, sep, d = spec.partition("=")
                if not sep or not label or not d:
                    raise pytest.UsageError(f"--vmbh-image {spec}: expected LABEL=DIR")
                if not (Path(d) / "initramfs.cpio").exists():
                    raise pytest.UsageError(f"--vmbh-image {spec}: {d} is not an image (no initramfs.cpio)")
                out.append(Kernel(label, Path(d).resolve()))
        else:
            out = [Kernel(p, image_dir(p)) for p in DEFAULT_PRESETS]
        config.vmbh_kernels = out
    return config.vmbh_kernels


def pytest_generate_tests(metafunc):
    if "kernel" in metafunc.fixturenames:
        ks = kernels(metafunc.config)
        metafunc.parametrize("kernel", ks, ids=[k.label for k in ks], scope="session")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    if config.getoption("--vmbh-suite") == "smoke":
        keep = [i for i in items if i.get_closest_marker("smoke")]
        drop = [i for i in items if not i.get_closest_marker("smoke")]
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    # Checks on one reused guest run on one xdist worker, one after another:
    # the kernel's shared guest, or a kept guest (mark kept_guest("NAME")).
    # Checks with fresh guests are spread over the workers one by one.
    for item in items:
        group = reuse_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


def reused_guest(item) -> tuple[Kernel, str] | None:
    """(kernel, name) of the reused guest a check runs on: "shared" for the
    `guest` fixture, NAME for a kept_guest("NAME") mark; None for the others."""
    k = getattr(item, "callspec", None) and item.callspec.params.get("kernel")
    if k is None:
        return None
    if "guest" in item.fixturenames:
        return k, "shared"
    m = item.get_closest_marker("kept_guest")
    return (k, m.args[0]) if m else None


def reuse_group(item) -> str:
    r = reused_guest(item)
    if r is None:
        return ""
    return r[0].label if r[1] == "shared" else f"{r[0].label}-{r[1]}"


class WorkOrder:
    """Puts the long units of work first, so that xdist (which hands out work
    in collection order as workers become free) ends with short checks: each
    shared guest's checks, then the self-test variants, the kept guests'
    checks, and the checks with fresh guests. A group's guest is stopped after
    its last check."""

    @staticmethod
    def rank(item) -> int:
        r = reused_guest(item)
        if r is not None:
            return 0 if r[1] == "shared" else 2
        return 1 if "kernel" not in item.fixturenames else 3  # the self-test picks its kernels itself

    @pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture
    def pytest_collection_modifyitems(self, items):
        # A group's checks end up next to each other, in their order.
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            first.setdefault(reuse_group(item) or item.nodeid, i)
        items.sort(key=lambda item: (self.rank(item), first[reuse_group(item) or item.nodeid]))

    @pytest.hookimpl(trylast=True)  # after the check's own fixtures are torn down
    def pytest_runtest_teardown(self, item, nextitem):
        """The last check of a group stops the group's guest: an idle guest
        still costs CPU the other guests could use."""
        r = reused_guest(item)
        pool = item.funcargs.get("pool")
        if r is not None and pool is not None and (nextitem is None or reused_guest(nextitem) != r):
            pool.release(*r)


@pytest.fixture(scope="session")
def all_kernels(request) -> list[Kernel]:
    return kernels(request.config)


@pytest.fixture(scope="session")
def pool(request):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    p = GuestPool(request.config.vmbh_report_dir / "runs" / worker, request.config.getoption("--vmbh-append"))
    yield p
    p.close()


@pytest.fixture
def guest(pool, kernel, request):
    """The kernel's shared guest (booted again if a check left it dead)."""
    s = pool.shared(kernel)
    request.node.vmbh_guests = [s]
    return s


@pytest.fixture
def kept(pool, kernel, request):
    """kept(extra_serve_args) returns the kernel's guest named by the check's
    kept_guest("NAME") mark, shared with the other checks so marked (booted on
    first use, and again if a check left it dead)."""
    m = request.node.get_closest_marker("kept_guest")
    if m is None:
        raise pytest.UsageError(f"{request.node.nodeid}: the kept fixture needs a kept_guest(\"NAME\") mark")

    def get(extra: list[str] | None = None):
        s = pool.kept(kernel, m.args[0], extra)
        request.node.vmbh_guests = [*getattr(request.node, "vmbh_guests", []), s]
        return s

    return get


@pytest.fixture
def fresh(pool, kernel, request):
    """fresh(what, extra_serve_args) boots a guest for this check alone; it is
    stopped when the check ends."""
    booted = []

    def boot(what: str = "fresh", extra: list[str] | None = None, mem_mb: int = 512):
        s = pool.boot(kernel, what, extra=extra, mem_mb=mem_mb)
        booted.append(s)
        request.node.vmbh_guests = [*getattr(request.node, "vmbh_guests", []), s]
        return s

    yield boot
    for s in booted:
        s.stop()


def params_of(item) -> str:
    """The check's parameters other than the kernel: "[6145B]", or ""."""
    cs = getattr(item, "callspec", None)
    if cs is None:
        return ""
    rest = cs.id
    k = cs.params.get("kernel")
    if k is not None and rest.startswith(k.label):  # the kernel's id comes first
        rest = rest[len(k.label) + 1:]
    return f"[{rest}]" if rest else ""


def service_of(item) -> str:
    name = Path(str(item.fspath)).stem
    return name[len("test_"):] if name.startswith("test_") else name


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "setup":
        k = getattr(item, "callspec", None) and item.callspec.params.get("kernel")
        rep.user_properties.append(("service", service_of(item)))
        rep.user_properties.append(("check", item.originalname + params_of(item)))
        rep.user_properties.append(("kernel", k.label if k else ""))
        rep.user_properties.append(("doc", (item.function.__doc__ or "").strip()))
    if rep.when == "call" and hasattr(item, "vmbh_kernel"):  # checks that pick their kernel themselves
        rep.user_properties.append(("kernel", item.vmbh_kernel))
    if rep.failed or hasattr(rep, "wasxfail"):
        guests = getattr(item, "vmbh_guests", [])
        rep.user_properties.append(("evidence", vmbh_report.evidence(guests)))


def pytest_runtest_logreport(report):
    # Runs on the controller for every phase of every check, also the ones
    # xdist workers ran; the record is built from the user_properties.
    config = _config
    props = dict(report.user_properties)
    rec = next((r for r in config.vmbh_results if r["nodeid"] == report.nodeid), None)
    if rec is None:
        rec = {"nodeid": report.nodeid, "service": props.get("service", ""), "check": props.get("check", ""),
               "kernel": props.get("kernel", ""), "doc": props.get("doc", ""), "outcome": "passed",
               "duration": 0.0, "message": "", "output": "", "evidence": {}}
        config.vmbh_results.append(rec)
    rec["duration"] += report.duration
    if report.when == "call" and report.capstdout:  # what the check measured and printed
        rec["output"] = report.capstdout[-2000:]
    if props.get("kernel"):
        rec["kernel"] = props["kernel"]
    if "evidence" in props:
        rec["evidence"] = props["evidence"]
    if hasattr(report, "wasxfail"):  # in setup too: a fixture may find the gap
        rec["outcome"] = "xfailed" if report.skipped else "xpassed"
        rec["message"] = report.wasxfail
    elif report.failed:
        rec["outcome"] = "error" if report.when != "call" else "failed"
        rec["message"] = report.longreprtext[-4000:]
    elif report.skipped and rec["outcome"] == "passed":
        rec["outcome"] = "skipped"
        rec["message"] = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""


_config = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    global _config
    _config = session.config


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not getattr(config, "vmbh_results", None) or hasattr(config, "workerinput"):
        return
    wall = time.monotonic() - config.vmbh_t0
    results = config.vmbh_results
    out = config.vmbh_report_dir
    (out / "results.json").write_text(json.dumps({"wall_seconds": round(wall, 1), "results": results}, indent=1))
    vmbh_report.write_html(out / "report.html", results, wall)
    terminalreporter.write_sep("=", "vmbh conformance")
    for line in vmbh_report.table(results):
        terminalreporter.write_line(line)
    counts = vmbh_report.counts(results)
    terminalreporter.write_line(f"{counts} in {wall:.0f} s; report: {out / 'report.html'}")
