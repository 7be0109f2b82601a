"""Section 11: garbage collection cost against the size of the registry and of the garbage.

A registry of 100,000 blob links (quick: 10,000) in 100 repositories, every one referenced
by a manifest except the garbage: 10 or 10,000 (quick: 1,000) links whose manifests were
deleted. The collector (domain/gc.py) runs on the in-memory fakes; each port call it makes
is one AWS call of the DynamoDB/S3 adapters (a Query page, a TransactWriteItems, an
UpdateItem, a DeleteObject: tests/integration/test_aws_calls.py checks the two agree), so
its `awsCalls` are what a run costs on AWS. A dry run and the real run, both reported."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

from .util import log

REPOS = 100


def _digest(i: int) -> str:
    return "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()


def _registry(total: int, garbage: int, clock):
    from chalicelib.storage.memory import MemoryMetadataStore
    from chalicelib.storage.memory_blobs import MemoryBlobStore
    from chalicelib.storage.ports import ManifestRecord

    meta, blobs = MemoryMetadataStore(clock=clock), MemoryBlobStore()
    per_repo = total // REPOS
    doomed = set(range(0, total, max(1, total // garbage))[:garbage])
    for r in range(REPOS):
        repo = f"bench/r{r}"
        ids = range(r * per_repo, (r + 1) * per_repo)
        for i in ids:
            d = _digest(i)
            blobs.put(f"blobs/{d}", b"x")
            meta.link_blob(repo, d, 1000, f"blobs/{d}")
        keep = [_digest(i) for i in ids if i not in doomed]
        gone = [_digest(i) for i in ids if i in doomed]
        for name, refs in (("kept", keep), ("deleted", gone)):
            if refs:
                m = ManifestRecord(repo, _digest(-r - 1) if name == "kept" else _digest(-r - 10**6),
                                   "application/vnd.oci.image.manifest.v1+json", 2, body=b"{}")
                meta.put_manifest(m, None, refs, [])
        if gone:
            meta.delete_manifest(repo, _digest(-r - 10**6))
    return meta, blobs


def run(quick: bool, work: Path) -> dict:
    from chalicelib.domain.gc import GarbageCollector
    from chalicelib.storage.memory_gc import MemoryGcStore

    total = 10_000 if quick else 100_000
    out = {"total_links": total, "repositories": REPOS, "runs": []}
    for garbage in (10, 1_000 if quick else 10_000):
        now = [time.time()]
        meta, blobs = _registry(total, garbage, lambda: now[0])
        now[0] += 7200   # past a grace of an hour
        gc = GarbageCollector(MemoryGcStore(meta), blobs, clock=lambda: now[0])
        row = {"garbage": garbage}
        for dry in (True, False):
            t0 = time.perf_counter()
            rep = gc.run(3600, dry_run=dry)
            row["dry" if dry else "real"] = {k: rep[k] for k in ("links", "blobs", "bytesFreed", "awsCalls",
                                                                  "complete")}
            row["dry" if dry else "real"]["wall_s"] = round(time.perf_counter() - t0, 3)
        again = gc.run(3600)
        row["after"] = {"links": again["links"], "awsCalls": again["awsCalls"]}
        out["runs"].append(row)
        log(f"gc: {garbage} garbage links in {total}: real run {row['real']['awsCalls']} "
            f"({row['real']['links']} links, {row['real']['blobs']} blobs); a run after it {again['awsCalls']}")
    return out
