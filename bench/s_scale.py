"""Figure 6: listing cost against the number of items.

Tags (one repository with N tags), catalog (N repositories) and referrers
(N manifests whose subject is one digest) are created with BatchWriteItem
through the registry's own pynamodb models on the moto server (25 items a
call), not by pushing. Each listing is then requested over HTTP with n=100
(first page and, for tags and catalog, a page from the middle), recording
wall latency, the handler's own CPU, the DynamoDB calls and the read units.

moto answers a Query by scanning the whole partition (and a GSI Query by
scanning the whole table), so the wall latency against moto grows with N
even where DynamoDB's cost is bounded by the page; the handler CPU, the
calls and the read units show the registry's own cost.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests

from .images import MT_MANIFEST, sha256
from .servers import InProcessRegistry
from .util import log, summary

REPO_TAGS = "scale/tags"
REPO_REFS = "scale/refs"
MT_ARTIFACT = "application/vnd.example.sbom.v1+json"
SUBJECT = sha256(b"the subject of every referrer")
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024


def _manifest(i: int, subject: bool = False) -> bytes:
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": MT_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                                      "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                                      "size": 2},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": sha256(f"layer {i}".encode()), "size": 1000 + i}]}
    if subject:
        doc["artifactType"] = MT_ARTIFACT
        doc["subject"] = {"mediaType": MT_MANIFEST, "digest": SUBJECT, "size": 500}
        doc["annotations"] = {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"}
    return json.dumps(doc, separators=(",", ":")).encode()


def seed(kind: str, start: int, stop: int, repo: str = "") -> float:
    """Create items start..stop-1 of `kind` with batch writes; returns seconds."""
    from chalicelib.storage import dynamo, keys

    t0 = time.perf_counter()
    if kind == "tags":
        body = _manifest(0)
        digest = sha256(body)
        pk = keys.repo_pk(repo or REPO_TAGS)
        with dynamo.TagItem.batch_write() as batch:
            for i in range(start, stop):
                batch.save(dynamo.TagItem(pk, keys.tag_sk(f"t{i:07d}"), digest=digest, media_type=MT_MANIFEST,
                                          size=len(body), body=body))
    elif kind == "catalog":
        with dynamo.RepoItem.batch_write() as batch:
            for i in range(start, stop):
                name = f"scale/repo{i:07d}"
                it = dynamo.RepoItem(keys.repo_pk(name), keys.REPO_META_SK, created=int(time.time()))
                it.gsi2pk, it.gsi2sk = keys.CATALOG_PK, name
                batch.save(it)
    elif kind == "referrers":
        pk = keys.repo_pk(REPO_REFS)
        with dynamo.ManifestItem.batch_write() as batch:
            for i in range(start, stop):
                body = _manifest(i, subject=True)
                d = sha256(body)
                it = dynamo.ManifestItem(pk, keys.manifest_sk(d), digest=d, media_type=MT_MANIFEST,
                                         size=len(body), body=body, subject=SUBJECT, artifact_type=MT_ARTIFACT,
                                         annotations=json.dumps({"org.opencontainers.image.created":
                                                                 "2026-01-01T00:00:00Z"}))
                it.gsi1pk, it.gsi1sk = keys.referrers_pk(REPO_REFS, SUBJECT), d
                batch.save(it)
    return time.perf_counter() - t0


def _urls(base: str, kind: str, n_items: int) -> dict[str, str]:
    mid = n_items // 2
    if kind == "tags":
        return {"first page": f"{base}/v2/{REPO_TAGS}/tags/list?n=100",
                "middle page": f"{base}/v2/{REPO_TAGS}/tags/list?n=100&last=t{mid:07d}"}
    if kind == "catalog":
        return {"first page": f"{base}/v2/_catalog?n=100",
                "middle page": f"{base}/v2/_catalog?n=100&last=scale/repo{mid:07d}"}
    # referrers come in digest order: the middle page starts after the median digest
    digests = sorted(sha256(_manifest(i, subject=True)) for i in range(n_items))
    return {"first page": f"{base}/v2/{REPO_REFS}/referrers/{SUBJECT}?n=100",
            "middle page": f"{base}/v2/{REPO_REFS}/referrers/{SUBJECT}?n=100&last={digests[mid]}"}


# Referrers are paginated (n/last, Link); moto scans the whole table for every
# GSI page, so seeding and serving 10^5 referrers is left out: 10^4 is the top.
REFERRERS_MAX = 10_000
BUDGET_S = 30.0  # per (listing, page, N): stop sampling after this long (at least 2 samples)


def _samples(quick: bool, n_items: int) -> int:
    if n_items <= 1000:
        return 10 if quick else 20
    return 5 if n_items <= 10_000 else 3


def run(quick: bool, work: Path) -> dict:
    sizes = [100, 1000] if quick else [100, 1000, 10_000, 100_000]
    reg = InProcessRegistry().start()
    s = requests.Session()
    out: dict[str, Any] = {"sizes": sizes, "results": {}, "seed_s": {}}
    try:
        have = {"tags": 0, "catalog": 0, "referrers": 0}
        for n_items in sizes:
            kinds = ["tags", "catalog"] + (["referrers"] if n_items <= REFERRERS_MAX else [])
            for kind in kinds:
                secs = seed(kind, have[kind], n_items)
                out["seed_s"][f"{kind}@{n_items}"] = secs
                log(f"scale: {kind} {have[kind]}..{n_items} seeded in {secs:.1f}s")
                have[kind] = n_items
            for kind in kinds:
                for page, url in _urls(reg.url, kind, n_items).items():
                    k = _samples(quick, n_items)
                    if n_items <= 1000:
                        s.get(url).raise_for_status()  # warm-up
                    reg.take_records()
                    wall, cpu, calls, rru, size = [], [], [], [], 0
                    started = time.perf_counter()
                    for j in range(k):
                        if j >= 2 and time.perf_counter() - started > BUDGET_S:
                            break
                        before = reg.boto.snapshot()
                        t0 = time.perf_counter()
                        r = s.get(url)
                        wall.append((time.perf_counter() - t0) * 1000)
                        r.raise_for_status()
                        size = len(r.content)
                        after = reg.boto.snapshot()
                        calls.append(sum(after["calls"].values()) - sum(before["calls"].values()))
                        rru.append(after["units"]["rru"] - before["units"]["rru"])
                        rec = reg.take_records()
                        cpu.append(sum(x["cpu"] for x in rec) * 1000)
                    doc = r.json()
                    items = len(doc.get("tags") or doc.get("repositories") or doc.get("manifests") or [])
                    out["results"].setdefault(kind, {}).setdefault(page, []).append({
                        "items": n_items, "wall_ms": summary(wall), "handler_cpu_ms": summary(cpu),
                        "dynamodb_calls": max(calls), "rru": max(rru), "response_bytes": size,
                        "returned": items, "over_lambda_response_limit": size > LAMBDA_RESPONSE_LIMIT})
                    log(f"scale: {kind} {page} N={n_items}: {summary(wall)['p50']:.1f} ms wall, "
                        f"{summary(cpu)['p50']:.1f} ms cpu, {max(calls)} calls, {items} items, {size} B")
        return out
    finally:
        reg.stop()
