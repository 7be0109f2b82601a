"""Section 11 of the report: garbage collection cost (bench/s_gc.py)."""
from __future__ import annotations


def gc_table(results: dict) -> str:
    s = results.get("sections", {}).get("gc")
    if not s or "error" in s:
        return f"_not measured: {(s or {}).get('error', 'section not run')}_"
    rows = []
    for r in s["runs"]:
        for kind in ("dry", "real"):
            x = r[kind]
            rows.append(f"| {r['garbage']:,} | {kind} run | {x['links']:,} | {x['blobs']:,} | "
                        f"{x['awsCalls']['dynamodb']:,} | {x['awsCalls']['s3']:,} | {x['wall_s']} |")
        a = r["after"]
        rows.append(f"| {r['garbage']:,} | the next run | {a['links']:,} | 0 | {a['awsCalls']['dynamodb']:,} | "
                    f"{a['awsCalls']['s3']:,} | |")
    head = ("| garbage links (of " + f"{s['total_links']:,}" + ") | run | links collected | blobs collected | "
            "DynamoDB calls | S3 calls | wall s (fakes) |\n|---|---|---|---|---|---|---|")
    return head + "\n" + "\n".join(rows)


def markdown(results: dict) -> str:
    return f"""
## 11. Garbage collection cost

A registry of {(results.get('sections', {}).get('gc') or {}).get('total_links', 100000):,} blob links in
100 repositories, all referenced by manifests except the garbage (links whose manifests were
deleted more than the grace ago), collected by `domain/gc.py` on the in-memory fakes
(`bench/s_gc.py`). Each port call is one AWS call of the adapters (a Query page of 100
candidates, per link a read of its namespace count and a transaction, per blob a claim, its S3 `DeleteObject` and its
tombstone), so the counts are a run's AWS cost: they grow with the garbage, not with the
registry; a run with nothing to collect costs one Query per candidate kind.

{gc_table(results)}
"""
