"""Tables and text for the direct-upload sections (bench/s_direct.py, bench/s_gateway.py),
with the targets of issue 9 printed beside the numbers."""
from __future__ import annotations

from typing import Any, Optional

TARGET_CLI = 1.2       # regcli push of 5×100 MiB against PutObject of the same bytes
TARGET_GATEWAY = 1.5   # skopeo → gateway → registry against skopeo → distribution 2.8
TARGET_RSS_MIB = 256
TARGET_BODY = 6_000_000


def _sec(results: dict, name: str) -> Optional[dict]:
    s = results.get("sections", {}).get(name)
    return s if s and "error" not in s else None


def _err(results: dict, name: str) -> str:
    s = results.get("sections", {}).get(name) or {}
    return f"_not measured: {s.get('error', 'section not run')}_"


def _table(header: list, rows: list) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def _ok(value: Any, target: float) -> str:
    return "met" if value is not None and value <= target else "not met"


def direct_table(results: dict) -> str:
    d = _sec(results, "direct")
    if not d:
        return _err(results, "direct")
    out = []
    rows = [[name, c["registry_requests"], c["aws_calls"],
             ", ".join(f"{op.split('.', 1)[1]} {n}" for op, n in c["by_operation"].items())]
            for name, c in d["calls"].items()]
    out.append(_table(["blob push", "registry requests", "AWS calls by the registry", "by operation"], rows))
    p = d["push"]
    out.append(_table(
        [f"{p['blobs']} × {p['mib']} MiB" + (f" (medians of {p['rounds']} rounds)" if p.get("rounds") else ""),
         "direct push (s)", "PutObject (s)", "ratio", "target"],
        [["all at once (`regcli push`, 5 blobs at a time, 16 MiB parts, 8 at a time each)", p["cli_all_s"],
          p["put_object_all_s"], f"{p['cli_ratio']}×", f"≤ {TARGET_CLI}× ({_ok(p['cli_ratio'], TARGET_CLI)})"],
         *([["S3's own multipart uploads of the same files, same parts (no registry): the floor",
             p["multipart_all_s"], p["put_object_all_s"], f"{p['multipart_ratio']}×",
             f"`regcli push` is {p['cli_over_multipart']}× this"]] if "multipart_all_s" in p else []),
         ["one after another (client/direct.py)", p["sequential_s"], p["put_object_sequential_s"],
          f"{p['sequential_ratio']}×", "–"]]))
    r = d["requests"]
    out.append(_table(["requests the registry handled", "largest body (bytes)", "413 answers", "target"],
                      [[r["count"], r["max_body_bytes"], r["refused_413"],
                        f"≤ {TARGET_BODY} ({_ok(r['max_body_bytes'], TARGET_BODY)})"]]))
    return "\n\n".join(out)


def gateway_table(results: dict) -> str:
    g = _sec(results, "gateway")
    if not g:
        return _err(results, "gateway")
    runs = (f" (median of {g['rounds']}: {', '.join(map(str, g['gateway_runs_s']))} against "
            f"{', '.join(map(str, g['distribution_runs_s']))})" if g.get("rounds") else "")
    rows = [[f"skopeo push, one {g['layer_mib']} MiB layer{runs}", g["gateway_s"], g["distribution_s"],
             f"{g['ratio']}×", f"≤ {TARGET_GATEWAY}× ({_ok(g['ratio'], TARGET_GATEWAY)})"],
            ["peak RSS, gateway (MiB)", g["gateway_peak_rss_mib"], "", "",
             f"< {TARGET_RSS_MIB} ({_ok(g['gateway_peak_rss_mib'], TARGET_RSS_MIB)})"],
            ["peak RSS, registry (MiB)", g["registry_peak_rss_mib"], "", "",
             f"< {TARGET_RSS_MIB} ({_ok(g['registry_peak_rss_mib'], TARGET_RSS_MIB)})"]]
    text = _table(["", "via gateway → this registry, Lambda limits (s)", "distribution 2.8 (s)", "ratio",
                   "target"], rows)
    big = max(g.get("gateway_uploads") or [{}], key=lambda u: u.get("size", 0))
    if big.get("size"):
        text += (f"\n\nThe layer went to S3 `{big.get('how')}`; after skopeo's last byte the gateway waited "
                 f"{big.get('parts_seconds')} s for its last parts, and {big['seconds']} s in all until the "
                 "registry had verified and committed it"
                 + (" (planned with the digest hint: completed at the blob's key, no copy)." if big.get("hinted")
                    else "."))
    return text


MARKDOWN = """
## 10. Direct uploads and the push gateway

`bench/s_direct.py`: this registry under `REGISTRY_LAMBDA_LIMITS=1` on the strict
local backend (ministack S3 checks presigned signatures and SHA-256 checksums;
DynamoDB Local), served in the benchmark's process with its botocore calls counted
and every request's body size recorded. AWS calls are the registry's own (the
client's presigned S3 PUTs are not the registry's calls); then `regcli push` of
several 100 MiB files against PutObject of the same files to the same S3.

{direct}

`bench/s_gateway.py`: skopeo pushes an image with one large layer through
`regcli gateway` to this registry (`python -m local`, strict backend, Lambda
limits), and the same image to distribution 2.8 (filesystem) in the same run;
then pulls it back from the registry. Peak RSS is each process's VmHWM.

{gateway}
"""


def markdown(results: dict) -> str:
    return MARKDOWN.format(direct=direct_table(results), gateway=gateway_table(results))
