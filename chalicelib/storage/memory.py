"""In-memory fake of the MetadataStore port (pure Python, thread-safe, no boto3).

It holds the invariants the DynamoDB adapter holds with conditional writes and
transactions, each as one critical section under a lock: a manifest put whose
references are missing writes nothing and names them; a blob link is created
once; an upload save with a stale offset is refused; expired sessions and
verifying markers read as absent. tests/contract/ runs the same suite on this
fake and on the adapters, so the two cannot drift apart unnoticed.

Records are copied in and out, so a caller mutating what it read (or wrote)
never changes the store behind its back, as with a real database.
"""
from __future__ import annotations

import bisect
import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from . import memory_quota
from .gc_ports import CLAIM_SECONDS, SKEW_SECONDS, BlobCollected
from .ports import (BlobLink, ManifestRecord, PartRefused, PolicyChanged, ReferenceMissing, TagImmutable,
                    TagRecord, TagWrite, TransactionPart, UploadSession)


@dataclass
class _Repo:
    created: int = 0
    pushed: Optional[int] = None
    public: Optional[bool] = None
    listed: bool = False  # in the catalog (touched by a push or a link), not only given a visibility
    policy: Optional[dict] = None       # tag policy (domain/tag_policy.py)
    policy_rev: Optional[int] = None    # None: never set
    stored: int = 0                     # bytes of the linked blobs (the adapter's `stored`)


@dataclass
class _Blob:
    size: int
    s3_key: str
    refs: int = 0
    since: Optional[int] = None       # garbage candidate stamp (gc_ports.py)
    collecting: Optional[int] = None  # claimed by a collection at
    gone: Optional[int] = None        # tombstone: bytes deleted at


@dataclass
class MemoryState:
    """The single table: shared by the metadata and account fakes (a repository's
    visibility and its catalog entry are one item, as in DynamoDB)."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    repos: dict = field(default_factory=dict)        # repo -> _Repo
    quotas: dict = field(default_factory=dict)       # namespace -> [quota, soft, stored] (memory_quota.py)
    ns_blobs: dict = field(default_factory=dict)     # (namespace, digest) -> [links, size]
    ns_days: dict = field(default_factory=dict)      # (namespace, day) -> [bytes, weighted] (StorageDay)


def _page(names: list, n: int, last: Optional[str]) -> tuple[list, bool]:
    """Up to `n` of sorted `names` strictly after `last`, and whether more follow."""
    start = bisect.bisect_right(names, last) if last else 0
    chunk = names[start:start + n + 1]
    return chunk[:n], len(chunk) > n


class MemoryMetadataStore:
    """MetadataStore in dictionaries, one lock for every operation."""

    def __init__(self, state: Optional[MemoryState] = None, clock: Callable[[], float] = time.time) -> None:
        self.state = state or MemoryState()
        self._lock = self.state.lock
        self._clock = clock  # injectable, so TTL tests need no sleeping
        self._manifests: dict = {}    # (repo, digest) -> ManifestRecord
        self._tags: dict = {}         # (repo, tag) -> TagRecord
        self._tag_pushed: dict = {}   # (repo, tag) -> when it was last pushed (web UI)
        self._manifest_pushed: dict = {}  # (repo, digest) -> when it was last pushed (retention)
        self._expiry_index: dict = {}     # (expires at, repo, tag) -> digest, as keys.expiry_sk orders them
        self._derived: dict = {}      # (repo, source digest, media type) -> ManifestRecord
        self._links: dict = {}        # (repo, digest) -> BlobLink
        self._blobs: dict = {}        # digest -> _Blob
        self._v1: dict = {}           # image id -> {repo: (layer, size, json, ancestry)}
        self._uploads: dict = {}      # upload id -> UploadSession
        self._verifying: dict = {}    # (digest, repo) -> (upload id, expires)
        # refcounts (storage/gc_ports.py): per counted link [manifests referencing it, garbage
        # stamp or None]; per counted manifest the blobs it added a reference to
        self._link_gc: dict = {}      # (repo, digest) -> [mrefs, since]
        self._manifest_blobs: dict = {}   # (repo, digest) -> [blob digests]

    # -- manifests and tags -------------------------------------------------
    def get_tag(self, repo: str, tag: str) -> Optional[TagRecord]:
        with self._lock:
            return copy.deepcopy(self._tags.get((repo, tag)))

    def get_manifest(self, repo: str, digest: str) -> Optional[ManifestRecord]:
        with self._lock:
            return copy.deepcopy(self._manifests.get((repo, digest)))

    def put_manifest(
        self, manifest: ManifestRecord, tag: Optional[str], blobs: list[str], manifests: list[str],
        tag_write: Optional[TagWrite] = None, parts: Sequence[TransactionPart] = (),
    ) -> None:
        """All or nothing: every referenced blob link and child manifest must exist; with
        `tag_write`, the policy revision must match and an immutable tag keep its digest;
        each of `parts` must pass its checks (else PartRefused) and is applied with it."""
        repo = manifest.repo
        with self._lock:
            missing_blobs = [d for d in dict.fromkeys(blobs) if (repo, d) not in self._links]
            missing_manifests = [d for d in dict.fromkeys(manifests)
                                 if d != manifest.digest and (repo, d) not in self._manifests]
            if missing_blobs or missing_manifests:
                raise ReferenceMissing(missing_blobs, missing_manifests)
            memory_quota.check_manifest(self.state, repo)
            if tag is not None and tag_write is not None:
                self.check_policy_rev(repo, tag_write.policy_rev)
                old = self._tags.get((repo, tag))
                if tag_write.immutable and old is not None and old.digest != manifest.digest:
                    raise TagImmutable()
            contributed: list = []   # per part: its (check, apply) pairs
            for part in parts:
                ops: list = []
                part.add(ops)
                if not all(check() for check, _ in ops):
                    raise PartRefused(part)
                contributed += ops
            for _, apply in contributed:
                apply()
            if (repo, manifest.digest) not in self._manifest_blobs:  # new: count its references
                counted = list(dict.fromkeys(blobs))
                for d in counted:
                    self._link_gc[(repo, d)][0] += 1
                    self._link_gc[(repo, d)][1] = None
                self._manifest_blobs[(repo, manifest.digest)] = counted
            self._manifests[(repo, manifest.digest)] = copy.deepcopy(manifest)
            self._manifest_pushed[(repo, manifest.digest)] = int(self._clock())
            if tag is not None:
                expires = tag_write.expires_at if tag_write else None
                self._tags[(repo, tag)] = TagRecord(repo, tag, manifest.digest, manifest.media_type,
                                                    manifest.size, manifest.body, manifest.s3_key, expires)
                self._tag_pushed[(repo, tag)] = int(self._clock())
                if expires is not None:
                    self._expiry_index[(expires, repo, tag)] = manifest.digest
            self._touch_repo(repo)

    def get_derived(self, repo: str, source_digest: str, media_type: str) -> Optional[ManifestRecord]:
        with self._lock:
            return copy.deepcopy(self._derived.get((repo, source_digest, media_type)))

    def put_derived(self, source_digest: str, media_type: str, derived: ManifestRecord) -> None:
        """The derived manifest (by its digest) and the cache entry, together; like the
        adapter, only digest, media type, size and body are kept."""
        rec = ManifestRecord(derived.repo, derived.digest, derived.media_type, derived.size,
                             body=derived.body)
        with self._lock:
            if (derived.repo, derived.digest) not in self._manifest_blobs:  # never over a pushed one
                self._manifests[(derived.repo, derived.digest)] = copy.deepcopy(rec)
            self._derived[(derived.repo, source_digest, media_type)] = copy.deepcopy(rec)

    def check_policy_rev(self, repo: str, rev: Optional[int]) -> None:
        """Raise PolicyChanged unless the repository's policy is at `rev` (call under the lock)."""
        r = self.state.repos.get(repo)
        if (r.policy_rev if r else None) != rev:
            raise PolicyChanged()

    def _touch_repo(self, repo: str) -> None:
        now = int(self._clock())
        r = self.state.repos.setdefault(repo, _Repo())
        r.created = r.created or now
        r.pushed = now
        r.listed = True

    def delete_tag(self, repo: str, tag: str) -> bool:
        with self._lock:
            return self._tags.pop((repo, tag), None) is not None

    def delete_manifest(self, repo: str, digest: str) -> bool:
        """The manifest and every tag pointing at it; False when there was no manifest."""
        with self._lock:
            if self._manifests.pop((repo, digest), None) is None:
                return False
            self._manifest_pushed.pop((repo, digest), None)
            for key in [k for k, t in self._tags.items() if k[0] == repo and t.digest == digest]:
                del self._tags[key]
            now = int(self._clock())
            for d in self._manifest_blobs.pop((repo, digest), []):
                counts = self._link_gc.get((repo, d))
                if counts is not None:   # unlinked meanwhile: nothing to lower
                    counts[0] -= 1
                    counts[1] = now
            # its conversions go with it (a pushed manifest of the same digest stays)
            for key in [k for k in self._derived if k[0] == repo and k[1] == digest]:
                conv = self._derived.pop(key)
                if (repo, conv.digest) not in self._manifest_blobs:
                    self._manifests.pop((repo, conv.digest), None)
            return True

    def list_tags(self, repo: str, n: int, last: Optional[str]) -> tuple[list[str], bool]:
        with self._lock:
            names = sorted(t for r, t in self._tags if r == repo)
        return _page(names, n, last)

    def repo_exists(self, repo: str) -> bool:
        with self._lock:
            return repo in self.state.repos

    def list_repos(self, n: int, last: Optional[str]) -> tuple[list[str], bool]:
        with self._lock:
            names = sorted(name for name, r in self.state.repos.items() if r.listed)
        return _page(names, n, last)

    def referrers(self, repo: str, subject: str, limit: int,
                  after: Optional[str] = None) -> tuple[list[ManifestRecord], bool]:
        """In digest order after `after`; as from the adapter's index, without body or subject."""
        with self._lock:
            found = sorted((m for (r, _), m in self._manifests.items()
                            if r == repo and m.subject == subject), key=lambda m: m.digest)
            out = [ManifestRecord(repo, m.digest, m.media_type, m.size,
                                  artifact_type=m.artifact_type,
                                  annotations=copy.deepcopy(m.annotations) or None)
                   for m in found if after is None or m.digest > after]
        return out[:limit], len(out) > limit

    # -- blobs --------------------------------------------------------------
    def get_blob_link(self, repo: str, digest: str) -> Optional[BlobLink]:
        with self._lock:
            return copy.copy(self._links.get((repo, digest)))

    def get_blob(self, digest: str) -> Optional[BlobLink]:
        with self._lock:
            b = self._blobs.get(digest)
            return BlobLink("", digest, b.size, b.s3_key) if b and b.gone is None else None

    def find_blob_link(self, repos: list[str], digest: str) -> Optional[BlobLink]:
        with self._lock:
            for r in dict.fromkeys(repos):
                if (r, digest) in self._links:
                    return copy.copy(self._links[(r, digest)])
        return None

    def link_blob(self, repo: str, digest: str, size: int, s3_key: str,
                  written_at: Optional[float] = None, upload_id: Optional[str] = None) -> bool:
        """Create the link once (False when linked already) and count the reference. With
        `written_at` (when the caller started writing the bytes), refused (BlobCollected)
        while a collection claims the blob or when it deleted the bytes after that. The
        session `upload_id` goes with the link, as in the adapter's transaction."""
        with self._lock:
            if (repo, digest) in self._links:
                return False
            b = self._blobs.get(digest)
            if written_at is not None and b is not None and (
                    (b.collecting is not None and b.collecting >= written_at - CLAIM_SECONDS)
                    or (b.gone is not None and b.gone >= written_at - SKEW_SECONDS)):
                raise BlobCollected(digest)
            now = int(self._clock())
            try:
                count = memory_quota.add_link(self.state, repo, digest, size)
            except memory_quota.QuotaExceeded:
                if b is None:   # the bytes are in S3: a garbage candidate (as the adapter does)
                    self._blobs[digest] = _Blob(size, s3_key, 0, since=now)
                elif b.refs <= 0:
                    b.since = now
                raise
            count()
            if upload_id:
                self._uploads.pop(upload_id, None)
            self._links[(repo, digest)] = BlobLink(repo, digest, size, s3_key)
            self._link_gc[(repo, digest)] = [0, now]   # nothing references it yet
            if b is None:
                self._blobs[digest] = _Blob(size, s3_key, 1)
            else:  # the first key stays, as the adapter's `s3_key | new` keeps it
                b.size, b.refs = size, b.refs + 1
                b.since = b.collecting = b.gone = None
            self._touch_repo(repo)
            self.state.repos[repo].stored += size
            return True

    def unlink_blob(self, repo: str, digest: str) -> bool:
        with self._lock:
            link = self._links.pop((repo, digest), None)
            if link is None:
                return False
            self._link_gc.pop((repo, digest), None)
            memory_quota.remove_link(self.state, repo, digest)
            self.state.repos[repo].stored -= link.size
            b = self._blobs.get(digest)
            if b is not None:
                b.refs -= 1
                b.since = int(self._clock())
            return True

    def blob_refs(self, digest: str) -> int:
        """How many repositories link the blob (a fake-only probe for tests)."""
        with self._lock:
            b = self._blobs.get(digest)
            return b.refs if b else 0

    # -- Docker V1 images -----------------------------------------------------
    def put_v1_images(self, repo: str, images: list) -> None:
        with self._lock:
            for image_id, layer, size, v1_json, ancestry in images:
                self._v1.setdefault(image_id, {})[repo] = (layer, size, v1_json, list(ancestry))

    def get_v1_image(self, image_id: str) -> list:
        with self._lock:
            held = self._v1.get(image_id, {})
            return [(r, layer, size, js, list(anc)) for r, (layer, size, js, anc) in sorted(held.items())]

    # -- upload sessions ----------------------------------------------------
    def _live(self, upload_id: str) -> Optional[UploadSession]:
        s = self._uploads.get(upload_id)
        if s is None or (s.expires and s.expires < self._clock()):
            return None
        return s

    def create_upload(self, session: UploadSession) -> None:
        """Never overwrites (a repeated create of the same id keeps the first)."""
        with self._lock:
            self._uploads.setdefault(session.upload_id, copy.deepcopy(session))

    def get_upload(self, upload_id: str) -> Optional[UploadSession]:
        with self._lock:
            return copy.deepcopy(self._live(upload_id))

    def save_upload(self, session: UploadSession, expected_offset: int) -> bool:
        """Only if the session exists and nobody advanced it since `expected_offset`."""
        with self._lock:
            cur = self._uploads.get(session.upload_id)
            if cur is None or cur.offset != expected_offset:
                return False
            self._uploads[session.upload_id] = copy.deepcopy(session)
            return True

    def delete_upload(self, upload_id: str) -> None:
        with self._lock:
            self._uploads.pop(upload_id, None)

    # -- direct uploads -----------------------------------------------------
    def start_direct(self, session: UploadSession) -> bool:
        """Only a fresh session: not planned yet and fed nothing."""
        with self._lock:
            cur = self._uploads.get(session.upload_id)
            if cur is None or cur.direct is not None or cur.offset != 0:
                return False
            self._uploads[session.upload_id] = copy.deepcopy(session)
            return True

    def mark_verifying(self, repo: str, digest: str, upload_id: str, expires: int) -> None:
        with self._lock:
            self._verifying[(digest, repo)] = (upload_id, expires)

    def clear_verifying(self, repo: str, digest: str) -> None:
        with self._lock:
            self._verifying.pop((digest, repo), None)

    def verifying(self, repo: str, digests: list[str]) -> list[str]:
        now = self._clock()
        with self._lock:
            live = {d for (d, r), (_, exp) in self._verifying.items() if r == repo and (not exp or exp >= now)}
        return [d for d in digests if d in live]


# The web UI reads live beside (kept importable from here).
from .memory_ui import MemoryUiReads  # noqa: E402,F401
