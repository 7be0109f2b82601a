"""Garbage collection (docs/lifecycle.md#garbage-collection): unreferenced blob links,
then blobs no repository links, their S3 objects last.

A run reads only the candidate index the refcounts keep (storage/gc_ports.py), so
its cost grows with the garbage, not the registry. Every delete is conditional on
what the run read, so it is safe while pushes go on:
- a link goes only while no manifest references it and it is still stamped as read,
  and only once the stamp is older than the grace (a blob pushed just before its
  manifest is not taken);
- a blob is first claimed (a new link to it is refused from then on), then its S3
  object deleted, then it becomes a tombstone that refuses links whose bytes were
  written before the delete (BlobCollected: the writer uploads again).
A dry run reads the same candidates and reports the same plan without a write.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any, Callable, Optional

from ..auth.policy import namespace_of
from ..oci.errors import RegistryError
from ..storage.gc_ports import GarbageBlob, GcStore
from ..storage.ports import BlobStore
from .gc_sweep import sweep_orphans

log = logging.getLogger("registry.gc")
PAGE = 100              # candidates per Query
TIME_BUDGET = 600.0     # seconds a run may take (the scheduled function's timeout is 900 s)


class GarbageCollector:
    """One collection run at a time per caller; runs may overlap safely (conditional deletes)."""

    def __init__(self, store: GcStore, blobs: BlobStore, clock: Callable[[], float] = time.time,
                 on_collected: Optional[Callable[[str, dict], None]] = None, upload_ttl: int = 86400) -> None:
        self.store = store
        self.upload_ttl = upload_ttl   # the sweep leaves objects younger than this (open sessions)
        self.blobs = blobs
        self.clock = clock
        self.on_collected = on_collected   # (namespace, event data): the gc.collected event

    def run(self, grace: int, dry_run: bool = False, budget: float = TIME_BUDGET, sweep: bool = False) -> dict:
        """With `sweep`, also delete orphaned objects (domain/gc_sweep.py: lists `blobs/`)."""
        started = self.clock()
        self._calls: Counter[str] = Counter()
        report: dict[str, Any] = {"dryRun": dry_run, "grace": grace, "links": 0, "blobs": 0,
                                  "bytesFreed": 0, "manifests": 0, "skipped": 0, "complete": True}
        dropping: Counter = Counter()           # digest -> links of it this run removes
        per_repo: dict[str, list[str]] = {}
        deadline = started + budget
        complete = self._links(int(started) - grace, dry_run, report, dropping, per_repo, deadline)
        if complete:
            complete = self._blobs(dry_run, report, dropping, deadline)
        if complete and sweep:
            complete = sweep_orphans(self.store, self.blobs, self.clock, max(grace, self.upload_ttl), dry_run,
                                     report, self._calls, deadline)
        report["complete"] = complete
        report["awsCalls"] = {"dynamodb": self._calls["dynamodb"], "s3": self._calls["s3"]}
        report["seconds"] = round(self.clock() - started, 3)
        if not dry_run:
            self._announce(per_repo, report)
        return report

    def _links(self, upto: int, dry_run: bool, report: dict, dropping: Counter,
               per_repo: dict, deadline: float) -> bool:
        cursor = None
        while True:
            page, cursor = self.store.garbage_links(upto, PAGE, cursor)
            self._calls["dynamodb"] += 1
            for link in page:
                if link.mrefs > 0 or not link.counted:   # referenced again, or never counted
                    if not dry_run:
                        self.store.unmark_link(link)
                        self._calls["dynamodb"] += 1
                    continue
                if not dry_run:
                    self._calls["dynamodb"] += 2   # the namespace count's read, the transaction
                    if not self.store.drop_link(link, int(self.clock())):
                        report["skipped"] += 1   # referenced or re-stamped since it was read
                        continue
                report["links"] += 1
                dropping[link.digest] += 1
                per_repo.setdefault(link.repo, []).append(link.digest)
            if cursor is None:
                return True
            if self.clock() > deadline:
                return False

    def _blobs(self, dry_run: bool, report: dict, dropping: Counter, deadline: float) -> bool:
        # No grace here: a blob no repository links is visible nowhere, and a new link to it
        # is refused from its claim on (see the module docstring).
        cursor, seen = None, set()
        while True:
            page, cursor = self.store.garbage_blobs(int(self.clock()), PAGE, cursor)
            self._calls["dynamodb"] += 1
            for blob in page:
                seen.add(blob.digest)
                refs = blob.refs - (dropping[blob.digest] if dry_run else 0)
                if refs > 0:
                    if not dry_run:
                        self.store.unmark_blob(blob)
                        self._calls["dynamodb"] += 1
                    continue
                if dry_run or self._collect(blob):
                    report["blobs"] += 1
                    report["bytesFreed"] += blob.size
                else:
                    report["skipped"] += 1
            if cursor is None:
                break
            if self.clock() > deadline:
                return False
        if dry_run:   # blobs whose last links this run would remove are not candidates yet
            todo = [d for d in dropping if d not in seen]
            for i in range(0, len(todo), PAGE):
                self._calls["dynamodb"] += 1
                for d, (refs, size) in self.store.blob_refs(todo[i:i + PAGE]).items():
                    if refs - dropping[d] <= 0:
                        report["blobs"] += 1
                        report["bytesFreed"] += size
        return True

    def _collect(self, blob: GarbageBlob) -> bool:
        claimed = int(self.clock())
        self._calls["dynamodb"] += 1
        if not self.store.claim_blob(blob, claimed):
            return False   # linked again since it was read
        self._calls["s3"] += 1
        self.blobs.delete(blob.s3_key)
        self._calls["dynamodb"] += 1
        if not self.store.drop_blob(blob, claimed, int(self.clock())):
            # Another run claimed it after ours went stale: that run finishes it.
            log.warning("gc: lost the claim on %s after deleting its bytes", blob.digest)
            return False
        return True

    def _announce(self, per_repo: dict[str, list[str]], report: dict) -> None:
        if self.on_collected is None:
            return
        by_ns: dict[str, dict] = {}
        for repo, digests in per_repo.items():
            by_ns.setdefault(namespace_of(repo), {})[repo] = digests[:100]
        for ns, repos in by_ns.items():
            self.on_collected(ns, {"repositories": repos, "links": sum(len(per_repo[r]) for r in repos)})
        if report["blobs"]:
            log.info("gc: %d blobs, %d bytes freed", report["blobs"], report["bytesFreed"])


def admin_run(collector: GarbageCollector, actor: Any, grace: int, dry_run: bool,
              lifecycle: Any = None, sweep: bool = False) -> dict:
    """POST /admin/gc and the scheduled run: global administrators only. With `lifecycle`
    (domain/retention.py), the tag lifecycle runs first, so untagged manifests its policies
    expire stop referencing their blobs (`manifests` counts them; a dry run plans both
    without counting the one's effect on the other)."""
    if actor is not None:
        if actor.anonymous:
            raise RegistryError("UNAUTHORIZED", {"reason": "authentication required"})
        if not actor.admin:
            raise RegistryError("DENIED", {"reason": "garbage collection needs a global administrator"})
    manifests = 0
    if lifecycle is not None:
        done = lifecycle.run(dry_run)
        manifests = sum(len(r.get("manifests") or ()) for r in done.get("retention") or ())
    report = collector.run(grace, dry_run, sweep=sweep)
    report["manifests"] = manifests
    return report


def collected_meanwhile(digest: str) -> RegistryError:
    """A blob's bytes deleted by garbage collection while this upload committed them (rare:
    the blob was garbage past the grace period): the client starts the upload again."""
    return RegistryError("BLOB_UPLOAD_UNKNOWN", {"digest": digest, "reason": "garbage collection removed "
                                                 "this blob while the upload committed it: push it again"})
