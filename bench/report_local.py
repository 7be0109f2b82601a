"""Section 9 of the report: the local stack's targets from issue 12, measured in the same
run as distribution 2.8 (sections memory, throughput and e2e)."""
from __future__ import annotations

from typing import Any, Optional

# The local server before issue 12 (moto in its process), from the committed report of
# 2026-11: 131 manifest HEAD/s against distribution's 998/s in the same run. Absolute
# rates move with the machine's load, so "against the old rate" is taken relative to
# distribution in each run: (this / distribution now) / (131 / 998).
OLD_HEAD_RPS, OLD_DIST_HEAD_RPS = 131.0, 998.0
TARGETS = {"memory_mib": 1024, "head_vs_old": 3.0, "head_vs_distribution": 0.4, "push_vs_distribution": 2.0}


def _sec(results: dict, name: str) -> Optional[dict]:
    s = results.get("sections", {}).get(name)
    return s if s and "error" not in s else None


def targets(results: dict) -> list[dict[str, Any]]:
    """One row per target: what, measured, target, met (None when not measured)."""
    rows: list[dict[str, Any]] = []
    m = _sec(results, "memory")
    if m:
        rows.append({"what": f"peak RSS of the whole local stack, skopeo push of one {m['size_mib']} MiB layer",
                     "measured": f"{m['peak_mib']} MiB (idle {m['idle_mib']} MiB, push {m['push_s']} s)",
                     "target": f"< {TARGETS['memory_mib']} MiB for 1 GiB",
                     "met": m["peak_mib"] < TARGETS["memory_mib"]})
    t = _sec(results, "throughput")
    head = (t or {}).get("results", {}).get("HEAD", {})
    a, b = head.get("this", {}).get("rps"), head.get("distribution", {}).get("rps")
    if a and b:
        vs_dist = a / b
        vs_old = vs_dist / (OLD_HEAD_RPS / OLD_DIST_HEAD_RPS)
        rows.append({"what": "manifest HEAD, local server (strict) / distribution 2.8",
                     "measured": f"{vs_dist:.2f}× ({a:.0f} / {b:.0f} req/s)",
                     "target": f"≥ {TARGETS['head_vs_distribution']}×", "met": vs_dist >= TARGETS["head_vs_distribution"]})
        rows.append({"what": f"manifest HEAD against the old local server ({OLD_HEAD_RPS:.0f} req/s when "
                             f"distribution did {OLD_DIST_HEAD_RPS:.0f}), relative to distribution",
                     "measured": f"{vs_old:.1f}× (absolute: {a / OLD_HEAD_RPS:.1f}× on this run's load)",
                     "target": f"≥ {TARGETS['head_vs_old']}×", "met": vs_old >= TARGETS["head_vs_old"]})
    e = _sec(results, "e2e")
    big = (e or {}).get("images", {}).get("5x10 MiB")
    if big and big["push"].get("ratio"):
        r = big["push"]["ratio"]
        rows.append({"what": "skopeo push of 5×10 MiB, local server (strict) / distribution 2.8 (medians)",
                     "measured": f"{r:.2f}× ({big['push']['this_median_s']:.2f} s / "
                                 f"{big['push']['distribution_median_s']:.2f} s)",
                     "target": f"≤ {TARGETS['push_vs_distribution']}×", "met": r <= TARGETS["push_vs_distribution"]})
    return rows


def targets_table(results: dict) -> str:
    rows = targets(results)
    if not rows:
        return "_no memory, throughput or e2e results in this run_"
    lines = ["| target (issue 12) | measured | target | met |", "|---|---|---|---|"]
    lines += [f"| {r['what']} | {r['measured']} | {r['target']} | {'yes' if r['met'] else '**no**'} |"
              for r in rows]
    return "\n".join(lines)
