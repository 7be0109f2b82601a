"""`python -m bench [--quick] [--only a,b]`: run the benchmarks, print the
table, write bench/results.json, docs/benchmarks/*.png and docs/benchmarks.md.

A smoke test in quick mode: the exit status says whether every section ran,
never whether anything was fast.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from . import cost, env, report
from .section import SECTIONS
from .util import PYTHON, ROOT, clean_env, log, temp_dir

# Safety nets, not targets: a section that runs past its limit is stopped and reported.
TIMEOUT_S = {"quick": {"calls": 150, "coldstart": 120, "cpu": 90, "direct": 300, "e2e": 150, "gateway": 300,
                       "throughput": 120, "scale": 150, "ui": 420, "memory": 300, "gc": 120},
             "full": {"calls": 300, "coldstart": 300, "cpu": 300, "direct": 900, "e2e": 600, "gateway": 1800,
                      "throughput": 300, "scale": 900, "ui": 900, "memory": 900, "gc": 600}}


def run_section(name: str, quick: bool, work: Path) -> dict:
    out = work / f"{name}.json"
    log_path = work / f"{name}.log"
    mode = "quick" if quick else "full"
    cmd = [PYTHON, "-m", "bench.section", name, "--work", str(work / name), "--out", str(out)]
    if quick:
        cmd.append("--quick")
    t0 = time.perf_counter()
    with open(log_path, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env=clean_env(), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait(timeout=TIMEOUT_S[mode][name])
        except subprocess.TimeoutExpired:
            from .util import stop_process

            stop_process(proc)
            rc = -1
    elapsed = time.perf_counter() - t0
    tail = log_path.read_text(errors="replace").splitlines()
    for line in tail:
        if line.startswith("[bench]"):
            print(line, file=sys.stderr)
    if rc == 0 and out.exists():
        return json.loads(out.read_text())
    reason = "timed out" if rc == -1 else f"exited {rc}"
    log(f"{name}: FAILED ({reason} after {elapsed:.0f}s)")
    print("\n".join(tail[-25:]), file=sys.stderr)
    return {"error": f"{reason} after {elapsed:.0f}s", "log_tail": tail[-25:]}


def _cpu_sample() -> tuple[float, float, float]:
    """(wall, machine busy CPU s, this benchmark's CPU s incl. reaped descendants)."""
    import os
    import resource

    busy = 0.0
    try:
        fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...
        busy = (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    own = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))
    return time.perf_counter(), busy, own


def _other_load(before: tuple, after: tuple) -> float:
    """Share of the machine's CPU used by other processes between two samples."""
    import os

    wall = after[0] - before[0]
    other = (after[1] - before[1]) - (after[2] - before[2])
    return max(0.0, other / (wall * (os.cpu_count() or 1))) if wall > 0 else 0.0


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench")
    p.add_argument("--quick", action="store_true", help="small smoke run (~3 min on 2 cores)")
    p.add_argument("--only", default="", help="comma-separated sections: " + ",".join(SECTIONS))
    p.add_argument("--results", default=str(ROOT / "bench" / "results.json"))
    p.add_argument("--docs", default=str(ROOT / "docs"))
    p.add_argument("--report-only", action="store_true",
                   help="re-render the table, plots and docs from an existing results file")
    a = p.parse_args()
    docs = Path(a.docs)
    if a.report_only:
        results = json.loads(Path(a.results).read_text())
        if "registries" in results["sections"].get("calls", {}):
            results["sections"]["cost"] = cost.model(results["sections"]["calls"])
        plots = report.plots(results, docs / "benchmarks")
        print(report.tables(results))
        report.markdown(results, plots, docs / "benchmarks.md")
        return 0
    names = [n for n in SECTIONS if not a.only or n in a.only.split(",")]
    t0 = time.perf_counter()
    results = {"mode": "quick" if a.quick else "full", "environment": env.describe(), "sections": {}}
    log(f"{results['mode']} run of {', '.join(names)} on {results['environment']['machine']['cpu']}")
    with temp_dir("bench-") as work:
        for name in names:
            log(f"== {name}")
            before = _cpu_sample()
            results["sections"][name] = run_section(name, a.quick, work)
            results.setdefault("other_cpu_share", {})[name] = round(_other_load(before, _cpu_sample()), 3)
    calls = results["sections"].get("calls", {})
    if "registries" in calls:
        results["sections"]["cost"] = cost.model(calls)
    results["elapsed_s"] = time.perf_counter() - t0
    Path(a.results).write_text(json.dumps(results, indent=1, default=str))
    plots = report.plots(results, docs / "benchmarks")
    text = report.tables(results)
    print(text)
    report.markdown(results, plots, docs / "benchmarks.md")
    failed = [n for n, r in results["sections"].items() if "error" in r]
    log(f"wrote {a.results}, {docs / 'benchmarks.md'} and {len(plots)} plots in {results['elapsed_s']:.0f}s"
        + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
