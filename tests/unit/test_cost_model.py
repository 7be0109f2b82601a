"""The cost model's arithmetic per front door (bench/cost.py), on a fixed measured summary."""
from __future__ import annotations

import pytest

from bench import cost

# A small pull as section 1 records it: /v2/, manifest, config and layer (2 presigned S3 GETs).
SMALL = {"http_requests": 4, "rru": 3.0, "wru": 0.0, "handler_cpu_s": 0.004, "client_s3_gets": 2,
         "client_s3_bytes": 2000, "by_op": {"dynamodb.GetItem": 3}}
TOKEN = {**SMALL, "http_requests": 5, "rru": 4.0, "handler_cpu_s": 0.050,
         "by_op": {"dynamodb.GetItem": 3, "dynamodb.BatchGetItem": 1, "dynamodb.Query": 1}}
BIG = {**SMALL, "http_requests": 8, "rru": 7.0, "client_s3_gets": 6, "client_s3_bytes": 50 * 2**20,
       "by_op": {"dynamodb.GetItem": 7}}
CALLS = {"registries": {"this": {
    "pull 1-layer image (skopeo)": {"summary": SMALL},
    "pull 5x10 MiB image (skopeo)": {"summary": BIG},
    "push 5x10 MiB image, 4 MiB chunks": {"summary": BIG},
    "push 5x10 MiB image (skopeo)": {"summary": BIG}}},
    "auth": {"pull 1-layer image, token auth (skopeo --creds)": {"summary": TOKEN}},
    "images": {"chunked_bytes": 50 * 2**20}}


def test_front_doors_differ_only_by_their_per_request_charge():
    costs = {f: cost.this_registry_cost(TOKEN, "arm64", False, f, 1024) for f in cost.FRONT_DOORS}
    assert costs["function-url"]["front_door"] == 0.0
    assert costs["http-api"]["front_door"] == pytest.approx(5 * 1.00 / 1e6)
    assert costs["rest"]["front_door"] == pytest.approx(5 * 3.50 / 1e6)
    assert costs["function-url+cloudfront"]["front_door"] == pytest.approx(5 * 1.00 / 1e6)
    for f, c in costs.items():
        assert c["total"] - c["front_door"] == pytest.approx(costs["function-url"]["total"]), f
    assert costs["function-url"]["total"] < costs["http-api"]["total"] < costs["rest"]["total"]


def test_memory_changes_duration_not_requests():
    small = cost.this_registry_cost(TOKEN, "arm64", False, "function-url", 512)
    large = cost.this_registry_cost(TOKEN, "arm64", False, "function-url", 2048)
    assert small["lambda_requests"] == large["lambda_requests"]
    # below a full vCPU the CPU part costs the same GB-s; the waiting part scales with memory
    assert small["lambda_duration"] < large["lambda_duration"]
    assert cost.lambda_seconds(TOKEN, 512) > cost.lambda_seconds(TOKEN, 2048)
    assert cost.lambda_seconds(TOKEN, 1769) == pytest.approx(cost.lambda_seconds(TOKEN, 3538))


def test_front_door_table_rows_and_token_overhead():
    t = cost.front_door_table(CALLS)
    assert t["default"] == "function-url" and t["deployed"]["arch"] == "arm64"
    rows = {r["workload"]: r for r in t["rows"]}
    per_request = next(r for k, r in rows.items() if k.startswith("1M requests"))
    pull = rows[t["token_pull"]]
    assert rows[t["target"]["workload"]]["http_requests"] == 4  # the target: no /token request
    for front in cost.FRONT_DOORS:
        assert per_request[front] == pytest.approx(pull[front] / 5)
    big = next(r for k, r in rows.items() if "5x10 MiB image with token, in-region" in k)
    assert big["http_requests"] == BIG["http_requests"] + 1  # the /token request added to the big pull
    internet = next(r for k, r in rows.items() if "to the internet" in k)
    assert internet["function-url"] - big["function-url"] == pytest.approx(50 / 1024 * 0.09 * 1e6)


def test_model_keeps_the_ecr_comparison_at_the_default_front_door():
    m = cost.model(CALLS)
    tiny = next(r for r in m["rows"] if r["workload"] == "1M pulls, 1-layer tiny image, within the region")
    assert tiny["breakdown_arm64"]["front_door"] == 0.0 and tiny["ecr"] == 0.0
    assert m["front_door"] == "function-url" and m["fronts"]["rows"]


def test_metering_cost_grows_with_processes_and_namespaces_not_requests():
    from bench.cost import PRICES, metering_cost

    # 100 M requests a month over 10 warm instances and 50 namespaces, 60 s flushes:
    # 10 x 43,200 flushes (by age) x 50 items at most = 21.6 M writes, vs 100 M per request
    m = metering_cost(100e6, namespaces=50, instances=10)
    assert m["writes"] == 10 * 43200 * 50
    assert m["cost"] == pytest.approx(21.6 * PRICES["dynamodb_per_million_wru"])
    assert m["per_request_cost"] == pytest.approx(100 * PRICES["dynamodb_per_million_wru"])
    # a quiet registry never writes more than it was asked to count
    assert metering_cost(1000, namespaces=50, instances=10)["writes"] == 1000
    # by count, not age, once one instance sees more than flush_events per flush_seconds
    busy = metering_cost(1e9, namespaces=1, instances=1)
    assert busy["writes"] == 1e9 / 1000
