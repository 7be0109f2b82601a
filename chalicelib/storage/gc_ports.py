"""Garbage collection port (domain/gc.py): the candidates the refcounts mark, and the
conditional deletes that make a collection safe while pushes go on (docs/lifecycle.md).

How the marks come about (kept by MetadataStore writes, no scan):
- a repository's blob link counts the manifests of that repository that reference it
  (`mrefs`): +1 in the transaction that puts a new manifest, -1 in the one deleting it;
- a blob counts the repositories linking it (`refs`): +1 per link, -1 per unlink;
- a write that may leave a count at zero (a new link: nothing references it yet; a
  manifest delete; an unlink; a link collected) stamps the item with the time, which puts
  it in a sparse index of candidates. A run reads only that index: its cost grows with
  the garbage, not with the registry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Protocol


class BlobCollected(Exception):
    """link_blob refused: garbage collection deleted (or is deleting) the blob's bytes after
    the caller wrote them, so the link would point at nothing. Write them again."""


@dataclass
class GarbageLink:
    """A candidate link: `since` is the time it was stamped (compared again on delete)."""

    repo: str
    digest: str
    size: int
    since: int
    mrefs: int = 0
    counted: bool = True   # False: made before refcounts (never collected; see docs)


@dataclass
class GarbageBlob:
    """A candidate blob (no repository links it, unless `refs` says otherwise)."""

    digest: str
    size: int
    s3_key: str
    since: int
    refs: int = 0


class GcStore(Protocol):
    """Reads of the candidate index and the conditional deletes of a collection."""

    def garbage_links(self, upto: int, n: int, cursor: Any = None) -> tuple[list[GarbageLink], Any]:
        """Up to `n` candidate links stamped at or before `upto`, oldest first, and a cursor
        for the next page (None: no more)."""
    def garbage_blobs(self, upto: int, n: int, cursor: Any = None) -> tuple[list[GarbageBlob], Any]:
        """As garbage_links, for blobs."""
    def blob_refs(self, digests: list[str]) -> dict[str, tuple[int, int]]:
        """(links, size) of each blob (missing blobs left out): what a dry run predicts from."""
    def drop_link(self, link: GarbageLink, now: int) -> bool:
        """Delete the link while it is counted, unreferenced and still stamped `since`; in the
        same transaction the blob loses a reference (and is stamped `now`), the repository's
        stored bytes shrink and so does the namespace's count (read first: two calls).
        False: the link changed (kept)."""
    def unmark_link(self, link: GarbageLink) -> None:
        """A stale candidate (referenced again, or uncounted): leave the index, if still stamped `since`."""
    def claim_blob(self, blob: GarbageBlob, now: int) -> bool:
        """Mark the blob `collecting` (at `now`) while no repository links it and it is still
        stamped `since`; from then on a new link to it is refused (BlobCollected)."""
    def unmark_blob(self, blob: GarbageBlob) -> None:
        """A stale candidate (linked again): leave the index, if still stamped `since`."""
    def blob_records(self, digests: list[str]) -> set[str]:
        """The digests that have a blob record, tombstones included (one BatchGetItem per 100)."""
    def claim_orphan(self, digest: str, size: int, s3_key: str, now: int) -> bool:
        """Create the record of an object no record names, claimed (`collecting` = `now`) and
        stamped as a candidate (so a collection finishes it if the sweep dies), only while no
        record exists: from then on a link to it is refused. False: a record appeared."""
    def drop_blob(self, blob: GarbageBlob, claimed: int, now: int) -> bool:
        """After its bytes were deleted: replace the claimed blob by a tombstone saying when
        (`gone` = `now`, expiring after a day), so a link whose bytes were written before
        that is refused. False: the claim was lost."""


TOMBSTONE_SECONDS = 86400   # how long a collected blob's tombstone stays
CLAIM_SECONDS = 900         # a claim older than this (a crashed run) no longer blocks links
SKEW_SECONDS = 5            # clock difference tolerated between a writer and a run
