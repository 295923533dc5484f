"""The suite checks itself: a guest with one daemon or one module left out must
make exactly the checks that depend on it fail (not hang, not pass).

Each variant runs a slice of the smoke suite in a child pytest on the first
kernel, with the variant's kernel arguments (vmbh.omit= for a daemon,
module_blacklist= for a module), and compares the failed checks with the
expected set."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

# variant -> (kernel arguments, -k slice, checks expected to fail)
VARIANTS = {
    "no-kvp-daemon": ("vmbh.omit=hv-kvp-daemon.service", "heartbeat or kvp or ptp",
                      {"test_pool_files_exist", "test_set_reaches_pool_file", "test_auto_pool_intrinsics",
                       "test_ic_channel_opened[kvp]", "test_rescind_and_reoffer[kvp]"}),
    "no-hv_utils": ("module_blacklist=hv_utils", "heartbeat or version_is_highest or ptp",
                    {"test_sequence_advances_by_one", "test_each_answer_within_1s", "test_ptp_clock_is_hyperv",
                     "test_ic_channel_opened[heartbeat]", "test_rescind_and_reoffer[heartbeat]"}),
}
BOUND_S = 300  # a variant's slice must end within this (a hang fails it)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_fails_exactly_its_checks(variant, all_kernels, request):
    """Booting the variant, exactly the checks that depend on the missing piece fail; the others pass."""
    append, keyword, expected = VARIANTS[variant]
    k = all_kernels[0]
    request.node.vmbh_kernel = k.label  # the report's kernel column
    report = Path(tempfile.mkdtemp(prefix="vmbh-selftest-"))  # short: serve's sockets live under it
    cmd = [sys.executable, "-m", "pytest", str(HERE), "-p", "no:cacheprovider", "-q", "-p", "no:xdist",
           "--vmbh-image", f"{k.label}={k.image}", "--vmbh-suite", "smoke", "--vmbh-report", str(report),
           "--vmbh-append", append, "-k", f"({keyword}) and not selftest"]
    t0 = time.monotonic()
    env = dict(os.environ, VMBH_IC_WAIT_S="8")  # the guest is ready before a check starts: 8 s is ample
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=BOUND_S, env=env)
    took = time.monotonic() - t0
    results = json.loads((report / "results.json").read_text())["results"]
    failed = {r["check"] for r in results if r["outcome"] in ("failed", "error")}
    passed = {r["check"] for r in results if r["outcome"] == "passed"}
    print(f"{variant}: {len(results)} checks in {took:.0f} s; failed {sorted(failed)}")
    assert failed == expected, p.stdout[-3000:]
    assert passed, "the slice ran no check that should pass"
