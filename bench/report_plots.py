"""PNG plots of the benchmark results (docs/benchmarks/*.png)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .report_tables import CALL_OPS, _sec
from .util import log


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
