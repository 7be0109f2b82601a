"""Figure 7: a cost model from the measured calls and handler time.

Prices are AWS list prices for us-east-1, on-demand, without free tiers,
as read from public pricing pages on the date below. They change: update
PRICES (and its date) rather than trusting old numbers.
"""
from __future__ import annotations

import math
from typing import Any

PRICES: dict[str, Any] = {
    "taken": "2026-11-27",
    "region": "us-east-1",
    "sources": [
        "https://aws.amazon.com/lambda/pricing/ (requests $0.20/M; x86 $0.0000166667, arm64 $0.0000133334 per GB-s)",
        "https://aws.amazon.com/api-gateway/pricing/ (REST API $3.50 per million, first 333 M/month)",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/ (since 2024-11-01: $0.625 per M write "
        "request units, $0.125 per M read request units; storage $0.25/GB-month)",
        "https://aws.amazon.com/s3/pricing/ (S3 Standard: $0.023/GB-month first 50 TB; PUT, COPY, POST, "
        "LIST $0.005 per 1,000; GET, SELECT and other $0.0004 per 1,000; DELETE free; "
        "data transfer out to the internet $0.09/GB for the first 10 TB/month)",
        "https://aws.amazon.com/ecr/pricing/ (private: $0.10/GB-month storage; no request charge; data "
        "transfer in free, out to the internet at EC2 rates, $0.09/GB; free within the region)",
    ],
    # The values were read on that date from stored copies of public pages, not the live AWS
    # pages: API Gateway from AWS's own whitepaper ("Best Practices for Designing Amazon API
    # Gateway Private APIs", cost optimization); the others as quoted by secondary summaries
    # (cloudchipr.com and a Lambda cost note for Lambda; airbyte.com for DynamoDB after the
    # 2024-11 cut; c3x.dev and devnotes.tech for S3; cloudburn.io, March 2026, for ECR).
    # Check them against the pages above before relying on them.
    "checked_against": "secondary copies, see comment in bench/cost.py",
    "lambda_per_million_requests": 0.20,
    "lambda_gb_second": {"arm64": 0.0000133334, "x86_64": 0.0000166667},
    "lambda_memory_mb": 1024,
    "apigw_rest_per_million": 3.50,
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

# Assumptions of the duration model (not prices): how long a deployed handler
# waits on each AWS call, and how much slower its CPU is than this machine's
# (Lambda gives a full vCPU at 1,769 MB, so 1,024 MB gets ~58% of one).
ASSUMPTIONS: dict[str, Any] = {
    "aws_call_latency_ms": {
        "dynamodb.GetItem": 4, "dynamodb.Query": 6, "dynamodb.PutItem": 6, "dynamodb.DeleteItem": 6,
        "dynamodb.UpdateItem": 6, "dynamodb.TransactWriteItems": 12, "dynamodb.BatchGetItem": 6,
        "s3.*": 20,
    },
    "s3_throughput_mb_s": 80,
    "cpu_scale": 1769 / 1024,
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


def lambda_seconds(summary: dict) -> float:
    """Modelled billed Lambda seconds for one measured operation."""
    lat = ASSUMPTIONS["aws_call_latency_ms"]
    wait_ms = 0.0
    for key, n in summary.get("by_op", {}).items():
        wait_ms += n * lat.get(key, lat["s3.*"] if key.startswith("s3.") else 6)
    data_mb = summary.get("s3_data_bytes", 0) / 1e6
    wait_ms += data_mb / ASSUMPTIONS["s3_throughput_mb_s"] * 1000
    cpu_ms = summary.get("handler_cpu_s", 0.0) * 1000 * ASSUMPTIONS["cpu_scale"]
    return (cpu_ms + wait_ms + ASSUMPTIONS["rounding_ms_per_request"] * summary.get("http_requests", 0)) / 1000


def this_registry_cost(summary: dict, arch: str, internet: bool) -> dict:
    """$ of one measured operation on this registry, by component."""
    req = summary.get("http_requests", 0)
    gb_s = lambda_seconds(summary) * PRICES["lambda_memory_mb"] / 1024
    parts = {
        "api_gateway": req * PRICES["apigw_rest_per_million"] / 1e6,
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


def model(calls_result: dict) -> dict:
    """Dollars per million pulls and per GB pushed/stored, this registry vs ECR."""
    ours = calls_result["registries"]["this"]
    rows: list[dict] = []
    for op, label in (("pull 1-layer image (skopeo)", "1M pulls, 1-layer tiny image"),
                      ("pull 5x10 MiB image (skopeo)", "1M pulls, 5x10 MiB image")):
        s = ours[op]["summary"]
        for internet in (True, False):
            where = "to the internet" if internet else "within the region"
            rows.append({
                "workload": f"{label}, {where}",
                "unit": "per 1M pulls",
                "this_arm64": this_registry_cost(s, "arm64", internet)["total"] * 1e6,
                "this_x86_64": this_registry_cost(s, "x86_64", internet)["total"] * 1e6,
                "ecr": ecr_cost(s.get("client_s3_bytes", 0), internet)["total"] * 1e6,
                "breakdown_arm64": {k: v * 1e6 for k, v in this_registry_cost(s, "arm64", internet).items()},
                "lambda_ms_per_pull": lambda_seconds(s) * 1000,
            })
    auth = calls_result.get("auth", {}).get("pull 1-layer image, token auth (skopeo --creds)")
    if auth:
        plain = ours["pull 1-layer image (skopeo)"]["summary"]
        s = {**auth["summary"], "client_s3_gets": plain.get("client_s3_gets", 0),
             "client_s3_bytes": plain.get("client_s3_bytes", 0)}
        rows.append({
            "workload": "1M pulls, 1-layer tiny image, within the region, token auth (a /token request each)",
            "unit": "per 1M pulls",
            "this_arm64": this_registry_cost(s, "arm64", False)["total"] * 1e6,
            "this_x86_64": this_registry_cost(s, "x86_64", False)["total"] * 1e6,
            "ecr": 0.0,
            "breakdown_arm64": {k: v * 1e6 for k, v in this_registry_cost(s, "arm64", False).items()},
            "lambda_ms_per_pull": lambda_seconds(s) * 1000,
        })
    big_bytes = calls_result["images"]["chunked_bytes"]
    for op, label in (("push 5x10 MiB image, 4 MiB chunks", "1 GB pushed in 4 MiB chunks (deployable)"),
                      ("push 5x10 MiB image (skopeo)", "1 GB pushed, one PATCH per layer (local only)")):
        s = ours[op]["summary"]
        scale = GB / big_bytes
        rows.append({
            "workload": label, "unit": "per GB (one-time)",
            "this_arm64": this_registry_cost(s, "arm64", False)["total"] * scale,
            "this_x86_64": this_registry_cost(s, "x86_64", False)["total"] * scale,
            "ecr": 0.0,
            "breakdown_arm64": {k: v * scale for k, v in this_registry_cost(s, "arm64", False).items()},
            "lambda_ms_per_push": lambda_seconds(s) * 1000,
        })
    rows.append({"workload": "1 GB stored for a month", "unit": "per GB-month",
                 "this_arm64": PRICES["s3_storage_gb_month"], "this_x86_64": PRICES["s3_storage_gb_month"],
                 "ecr": PRICES["ecr_storage_gb_month"]})
    # Break-even: pulls of the tiny image per GB-month stored at which ECR's storage premium
    # equals this registry's request charges.
    tiny = next(r for r in rows if r["workload"] == "1M pulls, 1-layer tiny image, within the region")
    premium = PRICES["ecr_storage_gb_month"] - PRICES["s3_storage_gb_month"]
    per_pull = tiny["this_arm64"] / 1e6
    return {"prices": PRICES, "assumptions": ASSUMPTIONS, "rows": rows,
            "breakeven_pulls_per_gb_month": math.floor(premium / per_pull) if per_pull else None}
