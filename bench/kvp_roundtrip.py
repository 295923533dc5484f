#!/usr/bin/python3
"""Host->guest KVP SET round trip on a live guest (TCG), through vmbh serve's
control API: the time from sending the request to the guest's answer
(kernel hv_kvp -> hv_kvp_daemon -> pool file -> answer). Baseline in the same
run: a GetStatus round trip, which never reaches the guest.

usage: bench/kvp_roundtrip.py [--preset bookworm] [-n 200]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness/conformance"))
from vmbh_serve import Served  # noqa: E402


def timed(fn, n):
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1e3)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="bookworm")
    ap.add_argument("-n", type=int, default=200)
    a = ap.parse_args()
    with Served(a.preset) as s:
        s.wait_ready()
        s.control.wait_channel("kvp")
        s.control.kvp("SET", pool=0, key="warmup", value="x")  # the daemon's first answer is slow
        def kvp_set(i):
            r = s.control.kvp("SET", pool=0, key=f"bench{i % 16}", value=f"value {i}")
            assert r.status == 0, r
        kvp = timed(kvp_set, a.n)
        base = timed(lambda i: s.control.status(), a.n)
    q = lambda v: (statistics.median(v), statistics.quantiles(v, n=10)[-1])  # noqa: E731
    (km, k90), (bm, b90) = q(kvp), q(base)
    print(f"{a.preset}: KVP SET round trip median {km:.2f} ms, p90 {k90:.2f} ms ({a.n} SETs)")
    print(f"{a.preset}: control API baseline (GetStatus) median {bm:.3f} ms, p90 {b90:.3f} ms")
    print(f"{a.preset}: ratio SET / baseline {km / bm:.1f}")


if __name__ == "__main__":
    main()
