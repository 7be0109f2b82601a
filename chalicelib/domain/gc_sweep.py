"""Sweep of orphaned blob objects (docs/lifecycle.md#orphaned-objects): objects under
`blobs/` that no blob record names. A direct upload completed in place at the blob's key
and abandoned before its digest was proven leaves one; the collection (domain/gc.py)
works from records and never sees them.

The sweep lists `blobs/` (ListObjectsV2: its cost grows with the registry, hence opt-in,
and daily in the scheduled run), reads which listed digests have a record (BatchGetItem
per 100 old ones), and deletes an object with none once it is older than max(grace, upload TTL):
by then every upload session that could still close it has expired.

The race with a writer of the same digest (an upload, a close) is settled by the record,
not by the listing (which may be stale: a writer can rewrite the object after it):
1. claim: create the record `collecting`, only while no record exists (one conditional
   write). A writer that linked first made a record: the claim fails, the object stays.
   From the claim on, a link is refused (BlobCollected: the writer uploads again);
2. delete the S3 object;
3. turn the record into a tombstone saying when (drop_blob, as a collection does): a link
   whose bytes were written before that is refused, so no link ever names deleted bytes.
   An in-place close passes its session's start as the time its bytes were written.
A sweep that dies after its claim leaves a stamped candidate: a collection finishes it.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from ..storage.gc_ports import GarbageBlob, GcStore
from ..storage.ports import BlobStore

log = logging.getLogger("registry.gc")
PREFIX = "blobs/"
LIST_PAGE = 1000   # keys per ListObjectsV2 page (S3's maximum)
BATCH = 100        # records per BatchGetItem (DynamoDB's maximum)


def _digest(key: str) -> str:
    """`blobs/<alg>/<hex>` -> `<alg>:<hex>`; "" for any other key (left alone)."""
    parts = key[len(PREFIX):].split("/")
    return f"{parts[0]}:{parts[1]}" if len(parts) == 2 and all(parts) else ""


def sweep_orphans(store: GcStore, blobs: BlobStore, clock: Callable[[], float], min_age: int,
                  dry_run: bool, report: dict, calls: Any, deadline: float) -> bool:
    """Add `orphans` and `orphanBytes` to `report`; False when the time ran out."""
    report.setdefault("orphans", 0)
    report.setdefault("orphanBytes", 0)
    upto = clock() - min_age
    after = ""
    while True:
        page, more = blobs.list_keys(PREFIX, after, LIST_PAGE)
        calls["s3"] += 1
        if page:
            after = page[-1][0]
        old = {d: (key, size) for key, size, modified in page if modified < upto and (d := _digest(key))}
        listed = list(old)
        for i in range(0, len(listed), BATCH):
            calls["dynamodb"] += 1
            for d in store.blob_records(listed[i:i + BATCH]):
                old.pop(d)
        for digest, (key, size) in old.items():
            if not dry_run and not _delete(store, blobs, clock, digest, key, size, calls):
                report["skipped"] += 1
                continue
            report["orphans"] += 1
            report["orphanBytes"] += size
        if not more:
            return True
        if clock() > deadline:
            return False


def _delete(store: GcStore, blobs: BlobStore, clock: Callable[[], float], digest: str, key: str,
            size: int, calls: Any) -> bool:
    claimed = int(clock())
    calls["dynamodb"] += 1
    if not store.claim_orphan(digest, size, key, claimed):
        return False   # a record appeared since the read: a writer linked it
    calls["s3"] += 1
    blobs.delete(key)
    calls["dynamodb"] += 1
    if not store.drop_blob(GarbageBlob(digest, size, key, claimed), claimed, int(clock())):
        log.warning("gc: lost the claim on orphan %s after deleting it", digest)   # a collection finishes it
        return False
    return True
