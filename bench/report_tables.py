"""The benchmark tables (stdout and markdown) from results; report.py writes the page."""
from __future__ import annotations

import math
from typing import Any, Optional

from . import report_direct, report_gc
from .report_direct import _err, _sec  # one reader of a section's results for every table

CALL_OPS = [
    "manifest GET by tag", "manifest GET by digest", "manifest HEAD by tag", "manifest HEAD by digest",
    "blob HEAD", "blob GET (307)", "tags list page (n=100)", "manifest PUT", "blob single POST ?digest=",
    "push 1-layer image (skopeo)", "pull 1-layer image (skopeo)",
    "push 5x10 MiB image (skopeo)", "pull 5x10 MiB image (skopeo)", "push 5x10 MiB image, 4 MiB chunks",
]


# -- helpers ---------------------------------------------------------------------------
def _f(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return f"{x:,}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def _usd(x: Optional[float]) -> str:
    if x is None:
        return "–"
    if x == 0:
        return "$0"
    if x >= 100:
        return f"${x:,.0f}"
    if x >= 1:
        return f"${x:,.2f}"
    return f"${x:.4f}" if x >= 0.0001 else f"${x:.2e}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# -- tables ----------------------------------------------------------------------------------
def calls_table(results: dict) -> str:
    c = _sec(results, "calls")
    if not c:
        return _err(results, "calls")
    regs = c["registries"]
    ours = regs["this"]
    dist = regs.get("distribution", {})
    cache = regs.get("distribution+cache", {})
    rows = []
    for op in CALL_OPS:
        if op not in ours:
            continue
        s = ours[op]["summary"]
        d = dist.get(op, {}).get("summary", {})
        dc = cache.get(op, {}).get("summary", {})
        over = s["total"] - s["design_total"]
        rows.append([
            op,
            f"**{s['total']}** ({s['dynamodb']} DDB + {s['s3']} S3)",
            f"{s['design_total']}" + (f" (+{over})" if over > 0 else ""),
            f"{d.get('s3', '–')}", f"{dc.get('s3', '–')}",
            f"{s['client_s3_gets']} / {d.get('client_s3_gets', '–')}",
            f"{s['http_requests']}",
        ])
    for op, m in (c.get("auth") or {}).items():
        if op == "error":
            continue
        s = m["summary"]
        rows.append([op, f"**{s['total']}** ({s['dynamodb']} DDB + {s['s3']} S3)", "–", "–", "–", "–",
                     f"{s['http_requests']} (1 to /token)"])
    return _table(["operation", "this registry: AWS calls", "design minimum", "distribution 2.8: S3 calls",
                   "distribution 2.8 + inmemory cache: S3 calls", "client S3 requests (presigned; this / distribution)",
                   "HTTP requests"], rows)


def coldstart_table(results: dict) -> str:
    c = _sec(results, "coldstart")
    if not c:
        return _err(results, "coldstart")
    rows = [
        ["interpreter start (`python -c pass`, whole process)", _f(c["interpreter_start_ms"]["p50"])],
        ["`import app`", _f(c["import_app_ms"]["p50"])],
        ["first request after import (manifest GET by tag)", _f(c["first_request_ms"]["p50"])],
        ["&nbsp;&nbsp;measured apart: `import boto3`", _f(c["clients_ms"]["import_boto3"]["p50"])],
        ["&nbsp;&nbsp;measured apart: building the S3 client (this request makes no S3 call)",
         _f(c["clients_ms"]["s3_client"]["p50"])],
        ["&nbsp;&nbsp;measured apart: building the DynamoDB client", _f(c["clients_ms"]["dynamodb_client"]["p50"])],
        ["**import + first request**", f"**{_f(c['import_plus_first_ms']['p50'])}**"],
        ["second request (warm, including the round trip to moto)", _f(c["second_request_ms"]["p50"])],
    ]
    return _table([f"cold start, median of {c['n']} fresh processes", "ms"], rows)


def importtime_table(results: dict) -> str:
    c = _sec(results, "coldstart")
    if not c:
        return ""
    a, b = c["importtime_import_app"], c["importtime_first_request"]
    rows = []
    for i in range(max(len(a["top"]), len(b["top"]))):
        x = a["top"][i] if i < len(a["top"]) else None
        y = b["top"][i] if i < len(b["top"]) else None
        rows.append([f"`{x['package']}` {_f(x['self_ms'])}" if x else "",
                     f"`{y['package']}` {_f(y['self_ms'])}" if y else ""])
    rows.append([f"**total {_f(a['total_ms'])}**", f"**total {_f(b['total_ms'])}**"])
    return _table(["`-X importtime`, self ms by package: `import app`", "`import app` + first request"], rows)


def cpu_table(results: dict) -> str:
    c = _sec(results, "cpu")
    if not c:
        return _err(results, "cpu")
    rows = [[op, ", ".join(v["aws_calls"]) or "–", _f(v["cpu_ms"]["p50"], 2), _f(v["cpu_ms"]["p99"], 2)]
            for op, v in c["ops"].items()]
    return _table([f"operation ({c['n']} warm requests each)", "AWS calls (stubbed)", "CPU ms p50",
                   "CPU ms p99"], rows)


def e2e_table(results: dict) -> str:
    c = _sec(results, "e2e")
    if not c:
        return _err(results, "e2e")
    rows = []
    for img, e in c["images"].items():
        for op in ("push", "pull"):
            x = e[op]
            rows.append([f"skopeo {op}, {img}", _f(x["this_median_s"], 2), _f(x.get("this_memory_median_s"), 2),
                         _f(x["distribution_median_s"], 2), f"{x['ratio']:.1f}×" if x["ratio"] else "–"])
    return _table([f"median of {c['rounds']} alternating runs", "this registry, strict backends (s)",
                   "this registry, memory backend (s)", "distribution 2.8 (s)", "ratio strict/distribution"],
                  rows)


def throughput_table(results: dict) -> str:
    c = _sec(results, "throughput")
    if not c:
        return _err(results, "throughput")
    rows = []
    for method, per in c["results"].items():
        for name in ("this", "this_memory", "distribution"):
            r = per.get(name)
            if not r:
                continue
            ok = r["status"].get("200", 0)
            total = sum(r["status"].values())
            label = {"this": "this registry (local server, strict backends)",
                     "this_memory": "this registry (local server, REGISTRY_EMBEDDED=memory)"}.get(name, "distribution 2.8")
            rows.append([f"manifest {method}", label,
                         _f(r["rps"], 0), _f(r.get("p50_ms")), _f(r.get("p99_ms")),
                         _f(r.get("server_cpu_ms_per_request"), 2), f"{ok}/{total}"])
    return _table([f"hey -c {c['concurrency']} -z {c['duration_s']}s", "server", "req/s", "p50 ms", "p99 ms",
                   "server CPU ms/request", "200s"], rows)


def scale_table(results: dict) -> str:
    c = _sec(results, "scale")
    if not c:
        return _err(results, "scale")
    rows = []
    for kind, pages in c["results"].items():
        for page, pts in pages.items():
            for p in pts:
                rows.append([f"{kind}, {page}", f"{p['items']:,}", _f(p["wall_ms"]["p50"]),
                             _f(p["handler_cpu_ms"]["p50"], 2), str(p["dynamodb_calls"]), _f(p["rru"], 1),
                             str(p["returned"]), f"{p['response_bytes']:,}" +
                             (" ⚠ > 6 MB" if p["over_lambda_response_limit"] else "")])
    return _table(["listing", "items", "wall ms p50 (moto)", "handler CPU ms p50", "DynamoDB calls",
                   "read units (≥)", "returned", "response bytes"], rows)


def ui_table(results: dict) -> str:
    c = _sec(results, "ui")
    if not c:
        return _err(results, "ui")
    rows = [[name, _f(p["wall_ms"]["p50"]), _f(p["wall_ms"].get("p90")), _f(p["handler_cpu_ms"]["p50"], 2),
             str(p["dynamodb_calls"]), f"{p['bytes']:,}", "yes" if p["under_target"] else "NO"]
            for name, p in c["pages"].items()]
    rows += [[f"asset {name}", "", "", "", "", f"{a['bytes']:,}", "yes" if a["under_limit"] else "NO"]
             for name, a in c["assets"].items()]
    local = c.get("local_stack") or {}
    rows += [[f"{name} (`python -m local`, DynamoDB Local)", _f(p["wall_ms"]["p50"]), _f(p["wall_ms"].get("p90")),
              "", "", f"{p['bytes']:,}", "yes" if p["under_target"] else "NO"]
             for name, p in local.get("pages", {}).items()]
    if "error" in local:
        rows.append(["`python -m local` pages", "", "", "", "", "", f"not measured: {local['error'][:80]}"])
    return _table([f"page ({c['tags']:,} tags in the repository)", "wall ms p50", "p90", "handler CPU ms p50",
                   "AWS calls", "bytes", f"page < {c['target_ms']:.0f} ms / asset < 100 KB"], rows)


def cost_table(results: dict) -> str:
    c = _sec(results, "cost")
    if not c:
        return "_not computed: the calls section did not run_"
    rows = [[r["workload"], r["unit"], _usd(r["this_arm64"]), _usd(r["this_x86_64"]), _usd(r["ecr"])]
            for r in c["rows"]]
    front = c.get("front_door", "rest")
    return _table(["workload", "unit", f"this registry (arm64, {front})", f"this registry (x86_64, {front})",
                   "ECR"], rows)


def cost_breakdown_table(results: dict) -> str:
    c = _sec(results, "cost")
    if not c:
        return ""
    keys = ["front_door", "lambda_requests", "lambda_duration", "dynamodb", "s3_requests", "transfer_out"]
    rows = []
    for r in c["rows"]:
        b = r.get("breakdown_arm64")
        if b:
            rows.append([r["workload"]] + [_usd(b.get(k, b.get("api_gateway", 0.0))) for k in keys])
    return _table(["arm64 breakdown", "front door", "Lambda requests", "Lambda GB-s", "DynamoDB",
                   "S3 requests", "data out"], rows)


def front_door_cost_table(results: dict) -> str:
    """One column per front door: $ per million requests and per million pulls."""
    c = _sec(results, "cost")
    f = c.get("fronts") if c else None
    if not f:
        return ""
    names = list(f["fronts"])
    rows = [[r["workload"], str(r["http_requests"])] + [_usd(r[n]) for n in names] for r in f["rows"]]
    heads = [f"**{f['fronts'][n]} (default)**" if n == f["default"] else f["fronts"][n] for n in names]
    return _table(["workload", "HTTP requests"] + heads, rows)


def env_table(results: dict) -> str:
    e = results["environment"]
    m, v = e["machine"], e["versions"]
    rows = [["date", e["date"]], ["mode", results["mode"]], ["commit", e["commit"]],
            ["machine", f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, kernel {m['kernel']}"],
            ["versions", ", ".join(f"{k} {val}" for k, val in v.items())],
            ["run time", f"{results.get('elapsed_s', 0):.0f} s"]]
    other = results.get("other_cpu_share") or {}
    if other:
        worst = max(other, key=other.get)
        note = (f"other processes used {other[worst] * 100:.0f}% of the machine's CPU during `{worst}` "
                f"(sections: {', '.join(f'{k} {v * 100:.0f}%' for k, v in other.items())})")
        if other[worst] > 0.15:
            note += " ⚠ timings are noisy where that share is high; counts are not affected"
        rows.append(["other load", note])
    for note in results.get("notes") or []:   # sections re-run alone and spliced in, and why
        rows.append(["note", note])
    return _table(["", ""], rows)


def _local_targets(results: dict) -> str:
    from .report_local import targets_table

    return targets_table(results)


def tables(results: dict) -> str:
    parts = [("Environment", env_table), ("1. AWS calls per operation", calls_table),
             ("2. Cold start", coldstart_table), ("2b. Import time by package", importtime_table),
             ("3. Handler CPU per warm request (AWS stubbed)", cpu_table),
             ("4. skopeo end to end on loopback", e2e_table), ("5. Manifest throughput", throughput_table),
             ("6. Listings against the number of items", scale_table), ("7. Cost model", cost_table),
             ("7b. Cost breakdown", cost_breakdown_table), ("7c. Cost per front door", front_door_cost_table),
             ("8. Web UI pages", ui_table), ("9. Local stack targets (issue 12)", _local_targets),
             ("10. Direct uploads", report_direct.direct_table), ("10b. Push gateway", report_direct.gateway_table),
             ("11. Garbage collection", report_gc.gc_table)]
    out = []
    for title, fn in parts:
        try:
            out.append(f"\n## {title}\n\n{fn(results)}")
        except Exception as exc:  # a broken table must not hide the others
            out.append(f"\n## {title}\n\n_table failed: {exc!r}_")
    return "\n".join(out) + "\n"
