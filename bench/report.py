"""Tables (stdout and markdown), PNG plots and docs/benchmarks.md from results."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Optional

from . import report_direct, report_gc
from .util import log

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


def _sec(results: dict, name: str) -> Optional[dict]:
    s = results.get("sections", {}).get(name)
    return s if s and "error" not in s else None


def _err(results: dict, name: str) -> str:
    s = results.get("sections", {}).get(name) or {}
    return f"_not measured: {s.get('error', 'section not run')}_"


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


# -- plots -------------------------------------------------------------------------------
def plots(results: dict, out_dir: Path) -> dict[str, str]:
    """Write one PNG per figure; returns {figure: path relative to docs/}."""
    import matplotlib

    matplotlib.use("Agg")
    out_dir.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}
    figs: list[tuple[str, Callable]] = [("calls", _plot_calls), ("coldstart", _plot_coldstart),
                                        ("cpu", _plot_cpu), ("e2e", _plot_e2e), ("throughput", _plot_throughput),
                                        ("scale", _plot_scale), ("cost", _plot_cost)]
    for name, fn in figs:
        sec = "calls" if name == "cost" else name
        if not _sec(results, sec) or (name == "cost" and not _sec(results, "cost")):
            continue
        try:
            import matplotlib.pyplot as plt

            fig = fn(results, plt)
            path = out_dir / f"{name}.png"
            fig.savefig(path, dpi=110, bbox_inches="tight")
            plt.close(fig)
            made[name] = f"benchmarks/{name}.png"
        except Exception as exc:
            log(f"plot {name} failed: {exc!r}")
    return made


def _plot_calls(results: dict, plt: Any) -> Any:
    c = results["sections"]["calls"]["registries"]
    ops = [op for op in CALL_OPS if op in c["this"]]
    series = [("this registry", [c["this"][o]["summary"]["total"] for o in ops], "#1f77b4"),
              ("design minimum", [c["this"][o]["summary"]["design_total"] for o in ops], "#aec7e8")]
    for name, color in (("distribution", "#d62728"), ("distribution+cache", "#ff9896")):
        if name in c:
            series.append((f"{name.replace('distribution', 'distribution 2.8')} (S3)",
                           [c[name][o]["summary"]["total"] for o in ops], color))
    fig, ax = plt.subplots(figsize=(10, 7))
    h = 0.8 / len(series)
    top = max(max(vals) for _, vals, _ in series)
    for i, (label, vals, color) in enumerate(series):
        ys = [j + i * h for j in range(len(ops))]
        # log axis from 0.5: a bar of v spans 0.5..v; zero gets no bar, only its label
        ax.barh(ys, [max(v - 0.5, 0) for v in vals], height=h, left=0.5, label=label, color=color)
        for y, v in zip(ys, vals):
            ax.text(max(v, 0.5) * 1.1, y, str(v), va="center", fontsize=7)
    ax.set_xlim(0.5, top * 4)
    ax.set_yticks([j + h * (len(series) - 1) / 2 for j in range(len(ops))])
    ax.set_yticklabels(ops, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("AWS API calls made by the registry (log scale)")
    ax.set_title("AWS calls per registry operation")
    ax.legend(fontsize=8, loc="upper right")
    return fig


def _plot_coldstart(results: dict, plt: Any) -> Any:
    c = results["sections"]["coldstart"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    parts = [("import app", c["import_app_ms"]["p50"]),
             ("S3 client", c["clients_ms"]["s3_client"]["p50"]),
             ("DynamoDB client", c["clients_ms"]["dynamodb_client"]["p50"])]
    rest = c["first_request_ms"]["p50"] - parts[1][1] - parts[2][1]
    parts.append(("rest of first request (lazy imports, request)", max(rest, 0)))
    left = 0.0
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]
    for (label, v), color in zip(parts, colors):
        ax1.barh([0], [v], left=left, color=color, label=f"{label}: {v:.0f} ms")
        left += v
    ax1.barh([1], [c["second_request_ms"]["p50"]], color="#8c564b",
             label=f"warm request: {c['second_request_ms']['p50']:.1f} ms")
    ax1.set_yticks([0, 1])
    ax1.set_yticklabels(["cold: import + first request", "warm"])
    ax1.set_xlabel("ms (median of fresh processes)")
    ax1.legend(fontsize=7, loc="upper right")
    ax1.set_title("Cold start of the handler")
    top = c["importtime_first_request"]["top"][:10]
    ax2.barh([t["package"] for t in top], [t["self_ms"] for t in top], color="#7f7f7f")
    ax2.invert_yaxis()
    ax2.set_xlabel("self import ms (-X importtime, import app + first request)")
    ax2.set_title("Import time by package")
    fig.tight_layout()
    return fig


def _plot_cpu(results: dict, plt: Any) -> Any:
    c = results["sections"]["cpu"]["ops"]
    ops = list(c)
    p50 = [c[o]["cpu_ms"]["p50"] for o in ops]
    p99 = [c[o]["cpu_ms"]["p99"] for o in ops]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.barh(ops, p50, color="#1f77b4", label="p50")
    ax.scatter(p99, ops, color="#d62728", marker="|", s=200, label="p99", zorder=3)
    ax.invert_yaxis()
    ax.set_xlabel("handler CPU ms per request (AWS answered by an in-process stub)")
    ax.set_title("Handler CPU per warm request")
    ax.legend(fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    return fig


def _plot_e2e(results: dict, plt: Any) -> Any:
    c = results["sections"]["e2e"]["images"]
    labels, ours, theirs = [], [], []
    for img, e in c.items():
        for op in ("push", "pull"):
            labels.append(f"{op}\n{img}")
            ours.append(e[op]["this_median_s"])
            theirs.append(e[op]["distribution_median_s"])
    fig, ax = plt.subplots(figsize=(9, 4))
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], ours, width=0.4, label="this registry (python -m local)", color="#1f77b4")
    ax.bar([i + 0.2 for i in x], theirs, width=0.4, label="distribution 2.8 (filesystem)", color="#d62728")
    for i, (a, b) in enumerate(zip(ours, theirs)):
        ax.text(i, max(a, b) * 1.05, f"{a / b:.1f}×" if b else "", ha="center", fontsize=8)
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylim(0, max(ours + theirs) * 1.15)
    ax.set_ylabel("seconds (median)")
    ax.set_title("skopeo push and pull on loopback")
    ax.legend(fontsize=8)
    return fig


def _plot_throughput(results: dict, plt: Any) -> Any:
    c = results["sections"]["throughput"]
    methods = list(c["results"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, label in ((ax1, "rps", "requests/s"), (ax2, "p99_ms", "p99 latency ms")):
        for j, (name, color) in enumerate((("this", "#1f77b4"), ("distribution", "#d62728"))):
            vals = [c["results"][m].get(name, {}).get(key) or 0 for m in methods]
            ax.bar([i + (j - 0.5) * 0.4 for i in range(len(methods))], vals, width=0.4, color=color,
                   label="this registry (local server)" if name == "this" else "distribution 2.8")
            for i, v in enumerate(vals):
                ax.text(i + (j - 0.5) * 0.4, v * 1.02, f"{v:.0f}", ha="center", fontsize=8)
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels([f"manifest {m}" for m in methods])
        ax.set_ylabel(label)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.2)
    ax1.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"hey -c {c['concurrency']} for {c['duration_s']} s on loopback")
    fig.tight_layout()
    return fig


def _plot_scale(results: dict, plt: Any) -> Any:
    c = results["sections"]["scale"]["results"]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4))
    for kind, pages in c.items():
        for page, pts in pages.items():
            xs = [p["items"] for p in pts]
            label = f"{kind}, {page}"
            ax1.plot(xs, [p["handler_cpu_ms"]["p50"] for p in pts], marker="o", label=label)
            ax2.plot(xs, [p["dynamodb_calls"] for p in pts], marker="o", label=label)
            ax3.plot(xs, [p["wall_ms"]["p50"] for p in pts], marker="o", label=label)
    for ax, title in ((ax1, "handler CPU ms per request"), (ax2, "DynamoDB calls per request"),
                      (ax3, "wall ms per request against moto\n(moto scans whole partitions)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("items")
        ax.set_title(title, fontsize=9)
    ax1.legend(fontsize=7)
    fig.suptitle("Listing one page (n=100) as the item count grows")
    fig.tight_layout()
    return fig


def _plot_cost(results: dict, plt: Any) -> Any:
    import textwrap

    rows = results["sections"]["cost"]["rows"]
    labels = [textwrap.fill(f"{r['workload']} ({r['unit']})", 20) for r in rows]
    fig, ax = plt.subplots(figsize=(12, 5))
    x = range(len(rows))
    for j, (key, label, color) in enumerate((("this_arm64", "this registry, arm64", "#1f77b4"),
                                             ("this_x86_64", "this registry, x86_64", "#aec7e8"),
                                             ("ecr", "ECR", "#ff7f0e"))):
        vals = [max(r[key], 1e-4) for r in rows]
        ax.bar([i + (j - 1) * 0.27 for i in x], vals, width=0.27, label=label, color=color)
    ax.set_yscale("log")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("US$ (log scale; $0 drawn at $0.0001)")
    ax.set_title(f"Cost model at AWS list prices ({results['sections']['cost']['prices']['taken']}, "
                 f"{results['sections']['cost']['prices']['region']})")
    ax.legend(fontsize=8)
    return fig


# -- docs/benchmarks.md ---------------------------------------------------------------------------
def _findings(results: dict) -> list[str]:
    out: list[str] = []
    c = _sec(results, "calls")
    if c:
        ours = c["registries"]["this"]
        single = [op for op in CALL_OPS[:9] if op in ours]
        at_min = [op for op in single if ours[op]["summary"]["total"] == ours[op]["summary"]["design_total"]]
        out.append(f"**AWS calls.** {len(at_min)} of {len(single)} single-request operations make exactly the "
                   "design minimum of docs/architecture.md (one DynamoDB call; two for a single-POST blob)."
                   + ("" if len(at_min) == len(single) else
                      " Above it: " + ", ".join(op for op in single if op not in at_min) + "."))
        for op in CALL_OPS[9:]:
            if op not in ours:
                continue
            s = ours[op]["summary"]
            if s["total"] > s["design_total"]:
                by = s["by_op"]
                out.append(f"`{op}`: {s['total']} calls against a minimum of {s['design_total']}; its S3 calls: "
                           f"{', '.join(f'{k[3:]} {v}' for k, v in by.items() if k.startswith('s3.'))} "
                           "(the excess is tail buffering, see section 1).")
        dist = c["registries"].get("distribution")
        if dist:
            pairs = [("pull 1-layer image (skopeo)", "a 1-layer pull"), ("pull 5x10 MiB image (skopeo)", "a 5-layer pull"),
                     ("push 5x10 MiB image (skopeo)", "a 5-layer push")]
            txt = "; ".join(f"{label}, {ours[op]['summary']['total']} calls here against "
                            f"{dist[op]['summary']['total']}" for op, label in pairs if op in ours and op in dist)
            out.append(f"distribution 2.8 on S3 (no cache) makes many more calls for the same client work — {txt}. "
                       "Most of its calls are `ListObjects` (a Stat of a path) and `GetObject` of link files.")
    if c and isinstance(c.get("auth"), dict) and "error" not in c["auth"]:
        a = c["auth"].get("pull 1-layer image, token auth (skopeo --creds)")
        plain = c["registries"]["this"].get("pull 1-layer image (skopeo)")
        if a and plain:
            sa, sp = a["summary"], plain["summary"]
            out.append(f"**Token auth** (the registry's default; every other number here is with "
                       f"`REGISTRY_AUTH=none`, as distribution runs without auth): a skopeo pull with credentials "
                       f"makes {sa['http_requests']} HTTP requests instead of {sp['http_requests']} and "
                       f"{sa['total']} AWS calls instead of {sp['total']}; the `/token` request with Basic "
                       f"credentials spends {sa['token_cpu_s'] * 1000:.0f} ms of CPU (argon2id password "
                       "verification)"
                       + (", more than all the other requests of the pull together"
                          if sa["token_cpu_s"] > sa["handler_cpu_s"] - sa["token_cpu_s"] else "")
                       + "; every skopeo invocation fetches a new token.")
    cs = _sec(results, "coldstart")
    if cs:
        txt = (f"**Cold start.** `import app` takes {cs['import_app_ms']['p50']:.0f} ms; the first request "
               f"{cs['first_request_ms']['p50']:.0f} ms more (lazy imports of boto3/botocore/pynamodb and "
               f"building the botocore clients); a warm request {cs['second_request_ms']['p50']:.1f} ms.")
        if cs.get("manifest_get_builds_s3_client"):
            txt += (f" A manifest GET never calls S3, yet its cold start builds the S3 client "
                    f"(~{cs['clients_ms']['s3_client']['p50']:.0f} ms measured apart): `container.registry()` "
                    "creates it eagerly; building it on first use would shorten cold manifest and tag requests.")
        out.append(txt)
    cpu = _sec(results, "cpu")
    if cpu:
        ops = cpu["ops"]
        reads = [v["cpu_ms"]["p50"] for k, v in ops.items() if k.startswith(("manifest GET", "manifest HEAD", "blob"))
                 and "POST" not in k]
        writes = [v["cpu_ms"]["p50"] for k, v in ops.items() if "PUT" in k or "POST" in k]
        tags = ops.get("tags list page (n=100)", {}).get("cpu_ms", {}).get("p50")
        if reads and writes:
            out.append(f"**Handler CPU.** With AWS stubbed, a manifest or blob read costs {min(reads):.2f}–"
                       f"{max(reads):.2f} ms of CPU (p50) on this machine, a page of 100 tags "
                       f"{_f(tags, 2)} ms, a write {min(writes):.2f}–{max(writes):.2f} ms. Most of it is botocore "
                       "and pynamodb: the handler itself is not where a request's time goes.")
    e = _sec(results, "e2e")
    if e:
        big = e["images"].get("5x10 MiB")
        if big:
            out.append(f"**End to end.** skopeo pushes 5×10 MiB to the local server in "
                       f"{big['push']['this_median_s']:.2f} s against distribution's "
                       f"{big['push']['distribution_median_s']:.2f} s ({big['push']['ratio']:.1f}×); pulls take "
                       f"{big['pull']['this_median_s']:.2f} s against {big['pull']['distribution_median_s']:.2f} s.")
    t = _sec(results, "throughput")
    if t and "HEAD" in t["results"]:
        a, b = t["results"]["HEAD"].get("this", {}), t["results"]["HEAD"].get("distribution", {})
        if a.get("rps") and b.get("rps"):
            out.append(f"**Throughput.** Manifest HEAD: {a['rps']:.0f} req/s (p99 {a.get('p99_ms', 0):.0f} ms) on the "
                       f"local server against {b['rps']:.0f} req/s (p99 {b.get('p99_ms', 0):.0f} ms) on distribution; "
                       f"the local server spends {a.get('server_cpu_ms_per_request') or 0:.1f} ms of CPU per request "
                       "(gateway shim and handler; DynamoDB Local answers the read in its own process).")
    sc = _sec(results, "scale")
    if sc:
        tags = sc["results"].get("tags", {}).get("first page", [])
        if tags:
            pts = [p for kind in ("tags", "catalog", "referrers") for pg in sc["results"].get(kind, {}).values()
                   for p in pg]
            cpus = [p["handler_cpu_ms"]["p50"] for p in pts]
            calls = sorted({p["dynamodb_calls"] for p in pts})
            out.append(f"**Scale.** Tag, catalog and referrers pages stay flat from {min(p['items'] for p in pts):,} "
                       f"to {max(p['items'] for p in pts):,} items: {min(cpus):.1f}–{max(cpus):.1f} ms of handler "
                       f"CPU and {'/'.join(map(str, calls))} DynamoDB call(s) per page. The wall time against moto "
                       "grows because moto scans the whole partition (or table, for an index); DynamoDB reads only "
                       "the page.")
    if c:
        diffs = [op for op, m in c["registries"]["this"].items()
                 if m["summary"].get("wire_total") not in (None, m["summary"]["total"])]
        if diffs:
            out.append("botocore's count and the count at moto differ for " + ", ".join(diffs) +
                       " (retries or calls from outside the registry's clients).")
    co = _sec(results, "cost")
    if co:
        rows = {r["workload"]: r for r in co["rows"]}
        tiny = next((r for k, r in rows.items() if k.startswith("1M pulls, 1-layer") and "region" in k), None)
        big = next((r for k, r in rows.items() if k.startswith("1M pulls, 5x10") and "internet" in k), None)
        push = next((r for k, r in rows.items() if "4 MiB chunks" in k), None)
        if tiny and big and push:
            out.append(f"**Cost.** A million pulls of a small image cost {_usd(tiny['this_arm64'])} here (arm64, "
                       f"in-region) against $0 on ECR, which charges no requests; for 5×10 MiB pulled to the "
                       f"internet both are dominated by data transfer ({_usd(big['this_arm64'])} against "
                       f"{_usd(big['ecr'])}). Pushing costs {_usd(push['this_arm64'])} per GB here; storage is "
                       f"$0.023 against $0.10 per GB-month. Break-even: below ~{co['breakeven_pulls_per_gb_month']:,} "
                       "small-image pulls per stored GB per month this registry is cheaper than ECR.")
            f = co.get("fronts")
            if f:
                rows_ = {r["workload"]: r for r in f["rows"]}
                target = rows_[f["target"]["workload"]]
                token = rows_[f["token_pull"]]
                d = f["default"]
                others = ", ".join(f"{f['fronts'][n]} {_usd(target[n])}" for n in f["fronts"] if n != d)
                out.append(f"**Front door.** A million small pulls ({target['http_requests']} requests: version "
                           f"check, manifest, config, layer) cost {_usd(target[d])} through the default "
                           f"{f['fronts'][d]} (arm64, {f['deployed']['memory_mb']} MB; target ≤ "
                           f"${f['target']['usd_max']:.2f}) against {others}; with a /token request each, "
                           f"{_usd(token[d])} against {_usd(token['rest'])} through the REST API. API Gateway bills "
                           "every client request, including the `GET /v2/` version check that does no work.")
    return out


def _deployed(results: dict) -> str:
    d = (_sec(results, "cost") or {}).get("deployed")
    return f"{d['arch']}, {d['memory_mb']} MB" if d else "arm64"


def markdown(results: dict, plots: dict[str, str], path: Path) -> None:
    def img(name: str, alt: str) -> str:
        return f"\n![{alt}]({plots[name]})\n" if name in plots else ""

    f = _findings(results)
    doc = f"""# Benchmarks

Generated by `make bench` (full) or `make bench QUICK=1` (smoke, ~3 minutes on
2 cores) from `bench/`; this page and `docs/benchmarks/*.png` are rewritten on
every run, the raw numbers are in `bench/results.json` (not committed). Every
request goes to 127.0.0.1; request counts and durations are bounded; nothing
here passes or fails on speed.

{env_table(results)}

## Findings

{chr(10).join(f"- {x}" for x in f) if f else "_no section produced results_"}

## 1. AWS API calls per registry operation

The same client operations go to three registries: this one, served in
process by the local server's API Gateway shim with its calls counted from
botocore `before-call` events on its own clients (and cross-checked at the
moto server); and distribution 2.8 with its `s3` storage driver pointed at a
moto server whose WSGI app is wrapped to name and count every S3 request,
without and with `cache.blobdescriptor: inmemory`. Single requests use
`requests` (a warm-up run, then the counted run); image push and pull use
real skopeo with a fresh blob-info cache. "4 MiB chunks" is the upload a
deployed client must make (Lambda takes at most ~4.4 MiB of body per request):
POST, PATCHes of 4 MiB with `Content-Range`, PUT. Presigned S3 requests that
clients follow after a 307 are counted apart: the registry does not make
them, but they are billed S3 GETs.

Design minimum: for single requests, the table in docs/architecture.md; for
pushes and pulls, the same per-request costs summed over the HTTP requests
the client sent, with each streamed blob costing one PutObject when under
5 MiB, else create + one write per chunk + complete + copy + delete — that
is, no tail buffers. The excess is the tail buffering: a streamed blob
under 5 MiB (every config blob) is written to a tail object, read back,
written to its final key and the tail deleted (4 S3 calls instead of 1);
chunks under S3's 5 MiB part minimum are buffered and re-read. The first
could be avoided (keep a small tail in the session item, which DynamoDB
allows up to 400 KB); the second follows from Lambda's payload limit
against S3's part minimum and goes away only with direct-to-S3 uploads.

{calls_table(results)}
{img("calls", "AWS calls per operation")}
## 2. Cold start

Fresh `python -c` processes with the repository as working directory, as
Lambda imports `app.py`; the first request is a manifest GET by tag, built as
an API Gateway proxy event in the child and answered by a moto server that is
already up. Lambda's own init (runtime start, code download) is not included.

{coldstart_table(results)}

{importtime_table(results)}
{img("coldstart", "Cold start")}
## 3. Handler CPU per warm request

Each operation runs once against moto while `after-call` records the raw HTTP
answers; the same event is then replayed with a `before-send` handler on the
registry's botocore clients returning those answers, so Chalice, the domain
code, pynamodb serialisation, botocore validation, signing and parsing all
run, but no socket. CPU is `time.thread_time()` around `app(event, context)`.

{cpu_table(results)}
{img("cpu", "Handler CPU per request")}
## 4. End to end with skopeo on loopback

This registry's real local server (`python -m local`: the API Gateway shim and
the handler in one Python process, on its default strict backends, ministack's
S3 and DynamoDB Local, as subprocesses; and on REGISTRY_EMBEDDED=memory's moto)
against distribution 2.8 with its filesystem driver.
Runs alternate between the two, every push goes to a new repository with a
fresh blob-info cache (so every blob is uploaded) and every pull to a new
`dir:` destination. The local server is a development stand-in, not the
deployed path: deployed, uploads go through API Gateway and Lambda and
downloads straight from S3.

{e2e_table(results)}
{img("e2e", "skopeo push and pull")}
## 5. Manifest throughput

`hey` with fixed concurrency and duration against both servers (a 1-layer
image pushed first). The local server is one Python process whose manifest
reads go over HTTP to DynamoDB Local (strict) or to moto in the same process
(memory); a deployed
registry instead runs one request per Lambda instance, so its throughput
scales with concurrency and its latency is the handler plus one DynamoDB
read plus API Gateway.

{throughput_table(results)}
{img("throughput", "Manifest throughput")}
## 6. Listings against the number of items

Items are created with BatchWriteItem through the registry's pynamodb models
(not by pushing): N tags in one repository, N repositories, N manifests with
one subject. Each listing is then requested with n=100 (first page and a page
from the middle). moto answers a Query by scanning the partition, and a GSI
Query by scanning the table, so wall time against moto grows with N where
DynamoDB would read only the page; handler CPU, calls and read units are the
registry's own cost. Referrers have no pagination: every referrer is
returned in one response. Read units are a lower bound (from the bytes
returned; DynamoDB bills the whole items read).

{scale_table(results)}
{img("scale", "Listings against item count")}
## 7. Cost model

From section 1's measured calls, read and write units and handler CPU, at AWS
list prices for {_sec(results, "cost")["prices"]["region"] if _sec(results, "cost") else "us-east-1"} taken
{_sec(results, "cost")["prices"]["taken"] if _sec(results, "cost") else "–"} (`bench/cost.py` holds the dated
price table and its sources; no free tiers). The function as deployed
({_deployed(results)}, `make synth`'s default front door unless a column says
otherwise); billed duration = measured handler CPU × 1769/memory (a full vCPU
at 1,769 MB) + an assumed latency per AWS call (DynamoDB 4–12 ms, S3 20 ms +
80 MB/s) + 0.5 ms rounding per request. A pull is the client's whole sequence
(version check, manifest, blobs); blob bytes come from S3 through presigned
URLs (S3 GETs and data transfer), so they never pass through Lambda. ECR
charges no requests: its pull cost is data transfer only, which is free within
the region for both.

{cost_table(results)}

{cost_breakdown_table(results)}

Per front door (`make synth FRONT=...`; the custom-domain column adds
CloudFront's HTTPS request charge to the Function URL). "Without the /token
request" is a client that reuses its token; the 5×10 MiB rows add the token
flow's measured requests and calls to the anonymous pull:

{front_door_cost_table(results)}
{img("cost", "Cost model")}

## 8. Web UI pages

A logged-in session requests each page of the web UI (`/ui/`) with 1,000 tags
seeded in one repository (`bench/s_ui.py`); the target is under 300 ms per
page on the local server and no asset over 100 KB. Wall time against moto is
dominated by moto's Query, which scans the whole partition; the handler CPU
and the AWS calls are the UI's own cost.

{ui_table(results)}

## 9. Local stack targets (issue 12)

The local server on its default strict backends (ministack's S3 and DynamoDB Local as
subprocesses), measured in the same run as distribution 2.8: the peak resident memory of
every process of the stack while skopeo pushes one 1 GiB layer (`bench/s_memory.py`,
sampled every 0.2 s), and the ratios of sections 4 and 5. Load from other processes moves
absolute numbers; the ratios are taken within one run.

{_local_targets(results)}
{report_direct.markdown(results)}
{report_gc.markdown(results)}"""
    path.write_text(doc.rstrip() + "\n")
