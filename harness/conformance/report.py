"""Reports of a conformance run: the terminal table (service x check x
kernel), the HTML report with per-failure evidence, and the evidence itself
(console and trace tails of the guests a check used)."""
from __future__ import annotations

import html
import re
import subprocess
from collections import Counter
from pathlib import Path

from vmbh_serve import vmbh_binary

CONSOLE_LINES = 60
TRACE_LINES = 60
MARK = {"passed": "ok", "failed": "FAIL", "error": "ERROR", "skipped": "skip", "xfailed": "xfail",
        "xpassed": "XPASS"}


def tail(text: str, n: int) -> str:
    return "\n".join(text.splitlines()[-n:])


def trace_tail(run_dir: Path, n: int = TRACE_LINES) -> str:
    trace = run_dir / "trace.vmbhtrace"
    if not trace.exists():
        return ""
    try:
        p = subprocess.run([str(vmbh_binary()), "trace", "show", str(trace)], capture_output=True, text=True,
                           errors="replace", timeout=60)
        return tail(without_noise(p.stdout), n)
    except (OSError, subprocess.TimeoutExpired, RuntimeError) as e:
        return f"(trace not printable: {e})"


def without_noise(trace: str, keep_heartbeats: int = 4) -> str:
    """Drops event signals and all but the last few heartbeat packets: a run's
    trace is mostly those, and they hide what a failing check did."""
    lines = [x for x in trace.splitlines() if " signal" not in x and "event flag" not in x]
    beats = [i for i, x in enumerate(lines) if re.search(r"relid \d+ heartbeat ", x)]
    drop = set(beats[:-keep_heartbeats]) if keep_heartbeats else set(beats)
    return "\n".join(x for i, x in enumerate(lines) if i not in drop)


def evidence(guests) -> dict:
    """What a failing check's guests left: run dir, console tail, trace tail."""
    out = []
    for s in guests:
        out.append({"run_dir": str(s.run_dir), "console": tail(s.console(), CONSOLE_LINES),
                    "trace": trace_tail(s.run_dir), "serve_log": tail(s.serve_log(), 20)})
    return {"guests": out}


def counts(results: list[dict]) -> str:
    c = Counter(r["outcome"] for r in results)
    order = ("passed", "failed", "error", "xfailed", "xpassed", "skipped")
    return ", ".join(f"{c[k]} {k}" for k in order if c[k]) or "no checks"


def table(results: list[dict]) -> list[str]:
    """One row per (service, check), one column per kernel."""
    kernels = sorted({r["kernel"] for r in results if r["kernel"]})
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for r in results:
        check = r["check"]
        rows.setdefault((r["service"], check), {})[r["kernel"]] = MARK.get(r["outcome"], r["outcome"])
    w_service = max([len("service")] + [len(s) for s, _ in rows])
    w_check = max([len("check")] + [len(c) for _, c in rows])
    w_k = [max(len(k), 5) for k in kernels]
    head = f"{'service':<{w_service}}  {'check':<{w_check}}  " + "  ".join(
        f"{k:<{w}}" for k, w in zip(kernels, w_k))
    lines = [head, "-" * len(head)]
    for (service, check), cells in sorted(rows.items()):
        lines.append(f"{service:<{w_service}}  {check:<{w_check}}  " + "  ".join(
            f"{cells.get(k, '-'):<{w}}" for k, w in zip(kernels, w_k)))
    return lines


def write_html(path: Path, results: list[dict], wall: float) -> None:
    kernels = sorted({r["kernel"] for r in results if r["kernel"]})
    by_row: dict[tuple[str, str], dict[str, dict]] = {}
    for r in results:
        by_row.setdefault((r["service"], r["check"]), {})[r["kernel"]] = r
    e = html.escape
    out = ["<!doctype html><meta charset=utf-8><title>vmbh conformance</title>",
           "<style>body{font-family:sans-serif}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
           ".passed{background:#dfd}.failed,.error,.xpassed{background:#fcc}.xfailed,.skipped{background:#eee}"
           "pre{background:#f6f6f6;padding:6px;overflow-x:auto;font-size:12px}</style>",
           f"<h1>vmbh conformance</h1><p>{e(counts(results))} in {wall:.0f} s</p>",
           "<table><tr><th>service</th><th>check</th>" + "".join(f"<th>{e(k)}</th>" for k in kernels) + "</tr>"]
    for (service, check), cells in sorted(by_row.items()):
        out.append(f"<tr><td>{e(service)}</td><td title=\"{e(next(iter(cells.values()))['doc'])}\">{e(check)}</td>")
        for k in kernels:
            r = cells.get(k)
            if r is None:
                out.append("<td>-</td>")
                continue
            anchor = f"#{e(r['nodeid'])}" if r["outcome"] not in ("passed",) else ""
            label = MARK.get(r["outcome"], r["outcome"])
            tip = f" title=\"{e(r['output'].strip())}\"" if r.get("output") else ""  # what it measured
            out.append(f"<td class={r['outcome']}{tip}>" + (f"<a href=\"{anchor}\">{label}</a>" if anchor else label)
                       + f" <small>{r['duration']:.1f}s</small></td>")
        out.append("</tr>")
    out.append("</table>")
    for r in results:
        if r["outcome"] == "passed":
            continue
        out.append(f"<h2 id=\"{e(r['nodeid'])}\">{e(r['service'])} / {e(r['check'])} on {e(r['kernel'])}: "
                   f"{e(r['outcome'])}</h2><p>{e(r['doc'])}</p><pre>{e(r['message'])}</pre>")
        for g in r.get("evidence", {}).get("guests", []):
            out.append(f"<p>run directory: <code>{e(g['run_dir'])}</code></p>"
                       f"<h3>console (last {CONSOLE_LINES} lines)</h3><pre>{e(g['console'])}</pre>"
                       f"<h3>trace (last {TRACE_LINES} records)</h3><pre>{e(g['trace'])}</pre>"
                       f"<h3>vmbh serve log</h3><pre>{e(g['serve_log'])}</pre>")
    path.write_text("\n".join(out) + "\n")
