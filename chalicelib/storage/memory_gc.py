"""In-memory fake of the GcStore port, over the metadata fake's dictionaries and lock
(each operation one critical section, as each is one conditional write in DynamoDB)."""
from __future__ import annotations

from typing import Any

from .gc_ports import GarbageBlob, GarbageLink
from .memory import MemoryMetadataStore, _Blob
from .memory_quota import remove_link


class MemoryGcStore:
    def __init__(self, meta: MemoryMetadataStore) -> None:
        self._m = meta

    def garbage_links(self, upto: int, n: int, cursor: Any = None) -> tuple[list[GarbageLink], Any]:
        m = self._m
        with m._lock:
            found = sorted((since, repo, d) for (repo, d), (_, since) in m._link_gc.items()
                           if since is not None and since <= upto and (cursor is None or (since, repo, d) > cursor))
            page = found[:n]
            out = [GarbageLink(repo, d, m._links[(repo, d)].size, since, m._link_gc[(repo, d)][0])
                   for since, repo, d in page]
        return out, (page[-1] if len(found) > n else None)

    def garbage_blobs(self, upto: int, n: int, cursor: Any = None) -> tuple[list[GarbageBlob], Any]:
        m = self._m
        with m._lock:
            found = sorted((b.since, d) for d, b in m._blobs.items()
                           if b.since is not None and b.since <= upto and (cursor is None or (b.since, d) > cursor))
            page = found[:n]
            out = [GarbageBlob(d, m._blobs[d].size, m._blobs[d].s3_key, since, m._blobs[d].refs)
                   for since, d in page]
        return out, (page[-1] if len(found) > n else None)

    def blob_refs(self, digests: list[str]) -> dict[str, tuple[int, int]]:
        with self._m._lock:
            return {d: (b.refs, b.size) for d in dict.fromkeys(digests)
                    if (b := self._m._blobs.get(d)) is not None and b.gone is None}

    def drop_link(self, link: GarbageLink, now: int) -> bool:
        m = self._m
        with m._lock:
            counts = m._link_gc.get((link.repo, link.digest))
            if counts is None or counts != [0, link.since]:
                return False
            del m._link_gc[(link.repo, link.digest)]
            gone = m._links.pop((link.repo, link.digest))
            remove_link(m.state, link.repo, link.digest)
            m.state.repos[link.repo].stored -= gone.size
            b = m._blobs.get(link.digest)
            if b is not None:
                b.refs -= 1
                b.since = now
            return True

    def unmark_link(self, link: GarbageLink) -> None:
        with self._m._lock:
            counts = self._m._link_gc.get((link.repo, link.digest))
            if counts is not None and counts[1] == link.since:
                counts[1] = None

    def claim_blob(self, blob: GarbageBlob, now: int) -> bool:
        with self._m._lock:
            b = self._m._blobs.get(blob.digest)
            if b is None or b.refs > 0 or b.since != blob.since:
                return False
            b.collecting = now
            return True

    def unmark_blob(self, blob: GarbageBlob) -> None:
        with self._m._lock:
            b = self._m._blobs.get(blob.digest)
            if b is not None and b.since == blob.since:
                b.since = None

    def blob_records(self, digests: list[str]) -> set[str]:
        with self._m._lock:
            return {d for d in digests if d in self._m._blobs}

    def claim_orphan(self, digest: str, size: int, s3_key: str, now: int) -> bool:
        with self._m._lock:
            if digest in self._m._blobs:
                return False
            self._m._blobs[digest] = _Blob(size, s3_key, 0, since=now, collecting=now)
            return True

    def drop_blob(self, blob: GarbageBlob, claimed: int, now: int) -> bool:
        with self._m._lock:
            b = self._m._blobs.get(blob.digest)
            if b is None or b.collecting != claimed or b.refs > 0:
                return False
            b.gone, b.collecting, b.since = now, None, None
            return True
