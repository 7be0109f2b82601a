"""Figure 7: a cost model from the measured calls and handler time, per front door.

Prices are AWS list prices for us-east-1, on-demand, without free tiers,
as read from stored copies of public pricing pages on the dates below. They
change: update PRICES (and its dates) rather than trusting old numbers.
The function is priced as deployed: the architecture of infra/settings.py and
the memory size of .chalice/config.json.
"""
from __future__ import annotations

import math
from typing import Any

PRICES: dict[str, Any] = {
    "taken": "2026-11-27 (front doors: 2026-12-01)",
    "region": "us-east-1",
    "sources": [
        "https://aws.amazon.com/lambda/pricing/ (requests $0.20/M; x86 $0.0000166667, arm64 $0.0000133334 per GB-s)",
        "https://aws.amazon.com/api-gateway/pricing/ (REST API $3.50 per million, first 333 M/month; "
        "HTTP API $1.00 per million, first 300 M/month)",
        "https://docs.aws.amazon.com/lambda/latest/dg/lambda-urls.html (Function URLs: no charge beyond "
        "the function's requests and duration)",
        "https://aws.amazon.com/cloudfront/pricing/ (HTTPS requests, United States: $0.0100 per 10,000; "
        "10 M requests/month in the always-free tier, not counted here)",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/ (since 2024-11-01: $0.625 per M write "
        "request units, $0.125 per M read request units; storage $0.25/GB-month)",
        "https://aws.amazon.com/s3/pricing/ (S3 Standard: $0.023/GB-month first 50 TB; PUT, COPY, POST, "
        "LIST $0.005 per 1,000; GET, SELECT and other $0.0004 per 1,000; DELETE free; "
        "data transfer out to the internet $0.09/GB for the first 10 TB/month)",
        "https://aws.amazon.com/ecr/pricing/ (private: $0.10/GB-month storage; no request charge; data "
        "transfer in free, out to the internet at EC2 rates, $0.09/GB; free within the region)",
    ],
    # The values were read on those dates from stored copies of public pages, not the live AWS
    # pages: API Gateway from AWS's own whitepaper ("Best Practices for Designing Amazon API
    # Gateway Private APIs", cost optimization) and, for HTTP APIs, secondary summaries
    # (apigatewaycost.com, amnic.com, awsforengineers.com, 2025-2026); Function URLs from the
    # Lambda developer guide and secondary summaries (dev.to, 2022; iamanuragh.in, 2026-03);
    # the CloudFront request rate was NOT found in the stored copies (only its data transfer
    # and free tier were): it is AWS's long-standing US rate, to be checked. The others as
    # quoted by secondary summaries (cloudchipr.com and a Lambda cost note for Lambda;
    # airbyte.com for DynamoDB after the 2024-11 cut; c3x.dev and devnotes.tech for S3;
    # cloudburn.io, March 2026, for ECR). Check them against the pages above before relying on them.
    "checked_against": "secondary copies, see comment in bench/cost.py",
    "lambda_per_million_requests": 0.20,
    "lambda_gb_second": {"arm64": 0.0000133334, "x86_64": 0.0000166667},
    "apigw_rest_per_million": 3.50,
    "apigw_http_per_million": 1.00,
    "function_url_per_million": 0.0,
    "cloudfront_https_per_10000": 0.0100,
    "dynamodb_per_million_wru": 0.625,
    "dynamodb_per_million_rru": 0.125,
    "dynamodb_storage_gb_month": 0.25,
    "s3_put_class_per_1000": 0.005,
    "s3_get_class_per_1000": 0.0004,
    "s3_storage_gb_month": 0.023,
    "transfer_out_internet_per_gb": 0.09,
    "ecr_storage_gb_month": 0.10,
    "ecr_per_request": 0.0,
}

# The front doors `make synth FRONT=...` builds, with what each adds per client request.
FRONT_DOORS: dict[str, dict[str, Any]] = {
    "function-url": {"label": "Function URL", "per_million": PRICES["function_url_per_million"]},
    "function-url+cloudfront": {"label": "Function URL + CloudFront (custom domain)",
                                "per_million": PRICES["cloudfront_https_per_10000"] * 100},
    "http-api": {"label": "HTTP API", "per_million": PRICES["apigw_http_per_million"]},
    "rest": {"label": "REST API (Chalice)", "per_million": PRICES["apigw_rest_per_million"]},
}
DEFAULT_FRONT = "function-url"


def deployed() -> dict[str, Any]:
    """Architecture and memory of the deployed function (infra settings, Chalice config)."""
    from infra.settings import ARCHITECTURE, stage_value

    return {"arch": ARCHITECTURE, "memory_mb": int(str(stage_value("lambda_memory_size", "dev", 1024)))}


# Assumptions of the duration model (not prices): how long a deployed handler
# waits on each AWS call, and how much slower its CPU is than this machine's
# (Lambda gives a full vCPU at 1,769 MB and a share proportional to memory below).
ASSUMPTIONS: dict[str, Any] = {
    "aws_call_latency_ms": {
        "dynamodb.GetItem": 4, "dynamodb.Query": 6, "dynamodb.PutItem": 6, "dynamodb.DeleteItem": 6,
        "dynamodb.UpdateItem": 6, "dynamodb.TransactWriteItems": 12, "dynamodb.BatchGetItem": 6,
        "s3.*": 20,
    },
    "s3_throughput_mb_s": 80,
    "full_vcpu_mb": 1769,
    "rounding_ms_per_request": 0.5,
}

S3_PUT_CLASS = {"PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "UploadPartCopy",
                "CompleteMultipartUpload", "ListObjects", "ListObjectsV2", "ListParts",
                "ListMultipartUploads", "PostObject", "CreateBucket", "PutBucketLifecycle"}
S3_FREE = {"DeleteObject", "DeleteObjects", "AbortMultipartUpload"}
GB = 1024 ** 3


def s3_request_cost(calls: dict) -> float:
    """$ for a {"s3.Op": n} mapping (DynamoDB keys ignored)."""
    total = 0.0
    for key, n in calls.items():
        service, op = key.split(".", 1)
        if service != "s3" or op in S3_FREE:
            continue
        per_1000 = PRICES["s3_put_class_per_1000"] if op in S3_PUT_CLASS else PRICES["s3_get_class_per_1000"]
        total += n * per_1000 / 1000
    return total


def lambda_seconds(summary: dict, memory_mb: int) -> float:
    """Modelled billed Lambda seconds for one measured operation at `memory_mb`."""
    lat = ASSUMPTIONS["aws_call_latency_ms"]
    wait_ms = 0.0
    for key, n in summary.get("by_op", {}).items():
        wait_ms += n * lat.get(key, lat["s3.*"] if key.startswith("s3.") else 6)
    data_mb = summary.get("s3_data_bytes", 0) / 1e6
    wait_ms += data_mb / ASSUMPTIONS["s3_throughput_mb_s"] * 1000
    cpu_scale = max(1.0, ASSUMPTIONS["full_vcpu_mb"] / memory_mb)
    cpu_ms = summary.get("handler_cpu_s", 0.0) * 1000 * cpu_scale
    return (cpu_ms + wait_ms + ASSUMPTIONS["rounding_ms_per_request"] * summary.get("http_requests", 0)) / 1000


def this_registry_cost(summary: dict, arch: str, internet: bool, front: str = DEFAULT_FRONT,
                       memory_mb: int = 0) -> dict:
    """$ of one measured operation on this registry, by component, behind `front`."""
    memory_mb = memory_mb or deployed()["memory_mb"]
    req = summary.get("http_requests", 0)
    gb_s = lambda_seconds(summary, memory_mb) * memory_mb / 1024
    parts = {
        "front_door": req * FRONT_DOORS[front]["per_million"] / 1e6,
        "lambda_requests": req * PRICES["lambda_per_million_requests"] / 1e6,
        "lambda_duration": gb_s * PRICES["lambda_gb_second"][arch],
        "dynamodb": (summary.get("rru", 0) * PRICES["dynamodb_per_million_rru"]
                     + summary.get("wru", 0) * PRICES["dynamodb_per_million_wru"]) / 1e6,
        "s3_requests": s3_request_cost(summary.get("by_op", {}))
        + summary.get("client_s3_gets", 0) * PRICES["s3_get_class_per_1000"] / 1000,
        "transfer_out": (summary.get("client_s3_bytes", 0) / GB * PRICES["transfer_out_internet_per_gb"]
                         if internet else 0.0),
    }
    parts["total"] = sum(parts.values())
    return parts


def ecr_cost(bytes_out: int, internet: bool) -> dict:
    out = bytes_out / GB * PRICES["transfer_out_internet_per_gb"] if internet else 0.0
    return {"requests": 0.0, "transfer_out": out, "total": out}


def _combine(a: dict, b: dict, sign: int = 1) -> dict:
    """a + sign*b over the numeric fields and per-operation counts of two summaries."""
    out = dict(a)
    for k, v in b.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(a.get(k, 0), (int, float)):
            out[k] = a.get(k, 0) + sign * v
    ops = dict(a.get("by_op", {}))
    for k, v in b.get("by_op", {}).items():
        ops[k] = ops.get(k, 0) + sign * v
    out["by_op"] = {k: v for k, v in ops.items() if v > 0}
    return out


def with_token(plain: dict, token_small: dict, plain_small: dict) -> dict:
    """A pull plus what the token flow added to the measured small pull (the /token request,
    the challenged version check): the same extra requests, calls and CPU for any image."""
    extra = _combine(token_small, plain_small, -1)
    extra = {k: max(v, 0) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
             for k, v in extra.items() if k not in ("client_s3_gets", "client_s3_bytes")}
    return _combine(plain, extra)


def front_door_table(calls_result: dict) -> dict:
    """$ per million requests and per million pulls (token + version check + manifest +
    layers) for each front door, at the deployed architecture and memory."""
    dep = deployed()
    ours = calls_result["registries"]["this"]
    auth = (calls_result.get("auth") or {}).get("pull 1-layer image, token auth (skopeo --creds)")
    small = ours["pull 1-layer image (skopeo)"]["summary"]
    big = ours["pull 5x10 MiB image (skopeo)"]["summary"]
    token_small = {**auth["summary"], "client_s3_gets": small.get("client_s3_gets", 0),
                   "client_s3_bytes": small.get("client_s3_bytes", 0)} if auth else small
    token_big = with_token(big, token_small, small) if auth else big
    workloads = [
        ("1M requests (the average request of a small pull with token)", token_small, False, True),
        ("1M pulls, 1-layer small image, token + /v2/ + manifest + 2 blobs, in-region", token_small, False, False),
        ("1M pulls, 1-layer small image, /v2/ + manifest + 2 blobs (token reused)", small, False, False),
        ("1M pulls, 5x10 MiB image with token, in-region", token_big, False, False),
        ("1M pulls, 5x10 MiB image with token, to the internet", token_big, True, False),
    ]
    rows = []
    for label, summary, internet, per_request in workloads:
        row: dict[str, Any] = {"workload": label, "http_requests": summary.get("http_requests", 0)}
        for front in FRONT_DOORS:
            c = this_registry_cost(summary, dep["arch"], internet, front, dep["memory_mb"])
            scale = 1e6 / max(summary.get("http_requests", 1), 1) if per_request else 1e6
            row[front] = c["total"] * scale
            row[f"breakdown_{front}"] = {k: v * scale for k, v in c.items()}
        row["lambda_ms"] = lambda_seconds(summary, dep["memory_mb"]) * 1000
        rows.append(row)
    return {"deployed": dep, "default": DEFAULT_FRONT,
            "fronts": {k: v["label"] for k, v in FRONT_DOORS.items()}, "rows": rows,
            # The target, on the workload of its $16.42 REST figure (no /token request).
            "target": {"workload": workloads[2][0], "usd_max": 3.0}, "token_pull": workloads[1][0]}


def model(calls_result: dict) -> dict:
    """Dollars per million pulls and per GB pushed/stored, this registry (default front door,
    deployed memory) vs ECR, and the table per front door."""
    dep = deployed()
    mem = dep["memory_mb"]
    ours = calls_result["registries"]["this"]
    rows: list[dict] = []

    def row(workload: str, unit: str, s: dict, internet: bool, scale: float, ecr: float) -> dict:
        arm = this_registry_cost(s, "arm64", internet, DEFAULT_FRONT, mem)
        return {"workload": workload, "unit": unit, "this_arm64": arm["total"] * scale,
                "this_x86_64": this_registry_cost(s, "x86_64", internet, DEFAULT_FRONT, mem)["total"] * scale,
                "ecr": ecr, "breakdown_arm64": {k: v * scale for k, v in arm.items()},
                "lambda_ms": lambda_seconds(s, mem) * 1000}

    for op, label in (("pull 1-layer image (skopeo)", "1M pulls, 1-layer tiny image"),
                      ("pull 5x10 MiB image (skopeo)", "1M pulls, 5x10 MiB image")):
        s = ours[op]["summary"]
        for internet in (True, False):
            where = "to the internet" if internet else "within the region"
            rows.append(row(f"{label}, {where}", "per 1M pulls", s, internet, 1e6,
                            ecr_cost(s.get("client_s3_bytes", 0), internet)["total"] * 1e6))
    auth = calls_result.get("auth", {}).get("pull 1-layer image, token auth (skopeo --creds)")
    if auth:
        plain = ours["pull 1-layer image (skopeo)"]["summary"]
        s = {**auth["summary"], "client_s3_gets": plain.get("client_s3_gets", 0),
             "client_s3_bytes": plain.get("client_s3_bytes", 0)}
        rows.append(row("1M pulls, 1-layer tiny image, within the region, token auth (a /token request each)",
                        "per 1M pulls", s, False, 1e6, 0.0))
    big_bytes = calls_result["images"]["chunked_bytes"]
    for op, label in (("push 5x10 MiB image, 4 MiB chunks", "1 GB pushed in 4 MiB chunks (deployable)"),
                      ("push 5x10 MiB image (skopeo)", "1 GB pushed, one PATCH per layer (local only)")):
        rows.append(row(label, "per GB (one-time)", ours[op]["summary"], False, GB / big_bytes, 0.0))
    rows.append({"workload": "1 GB stored for a month", "unit": "per GB-month",
                 "this_arm64": PRICES["s3_storage_gb_month"], "this_x86_64": PRICES["s3_storage_gb_month"],
                 "ecr": PRICES["ecr_storage_gb_month"]})
    # Break-even: pulls of the tiny image per GB-month stored at which ECR's storage premium
    # equals this registry's request charges.
    tiny = next(r for r in rows if r["workload"] == "1M pulls, 1-layer tiny image, within the region")
    premium = PRICES["ecr_storage_gb_month"] - PRICES["s3_storage_gb_month"]
    per_pull = tiny["this_arm64"] / 1e6
    return {"prices": PRICES, "assumptions": ASSUMPTIONS, "deployed": dep, "front_door": DEFAULT_FRONT,
            "rows": rows, "fronts": front_door_table(calls_result),
            "breakeven_pulls_per_gb_month": math.floor(premium / per_pull) if per_pull else None}


def metering_cost(requests_per_month: float, namespaces: int, instances: int,
                  flush_seconds: float = 60.0, flush_events: int = 1000) -> dict:
    """What usage metering costs per month (docs/metering.md), against one ADD per request.

    A flush writes one UpdateItem (1 WRU: the item is far below 1 KB) per namespace a
    process saw since the last flush. A process flushes when its oldest count is
    `flush_seconds` old or `flush_events` counts wait, so per process and month there are
    at most max(seconds / flush_seconds, its requests / flush_events) flushes, each
    writing at most `namespaces` items (and at most one per counted request).
    """
    seconds = 30 * 86400
    per_instance = requests_per_month / max(1, instances)
    flushes = instances * max(seconds / flush_seconds, per_instance / flush_events)
    writes = min(requests_per_month, flushes * namespaces)
    wru = PRICES["dynamodb_per_million_wru"] / 1e6
    return {"writes": writes, "cost": writes * wru,
            "per_request_writes": requests_per_month, "per_request_cost": requests_per_month * wru}
