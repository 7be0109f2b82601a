"""In-memory fake of the TagLifecycleStore port, over the metadata fake's dictionaries
(one lock, so each method is as atomic as the adapter's conditional write)."""
from __future__ import annotations

import copy
from typing import Optional

from .memory import MemoryMetadataStore, _page, _Repo
from .ports import INDEX_MEDIA_TYPES, DueExpiry, ManifestEntry, TagEntry


class MemoryTagLifecycle:
    """TagLifecycleStore on MemoryMetadataStore's state."""

    def __init__(self, meta: MemoryMetadataStore) -> None:
        self._m = meta

    def get_policy(self, repo: str) -> tuple[Optional[dict], Optional[int]]:
        with self._m._lock:
            r = self._m.state.repos.get(repo)
            return (copy.deepcopy(r.policy), r.policy_rev) if r else (None, None)

    def put_policy(self, repo: str, doc: Optional[dict]) -> int:
        with self._m._lock:
            r = self._m.state.repos.setdefault(repo, _Repo())
            r.policy = copy.deepcopy(doc) if doc else None
            r.policy_rev = (r.policy_rev or 0) + 1
            return r.policy_rev

    def policy_repos(self, n: int, last: Optional[str]) -> tuple[list[str], bool]:
        with self._m._lock:
            names = sorted(name for name, r in self._m.state.repos.items() if r.policy)
        return _page(names, n, last)

    def tag_entries(self, repo: str, n: int, last: Optional[str]) -> tuple[list[TagEntry], bool]:
        m = self._m
        with m._lock:
            names, more = _page(sorted(t for r, t in m._tags if r == repo), n, last)
            return [TagEntry(t, m._tags[(repo, t)].digest, m._tag_pushed.get((repo, t)),
                             m._tags[(repo, t)].expires_at) for t in names], more

    def manifest_entries(self, repo: str, n: int, last: Optional[str]) -> tuple[list[ManifestEntry], bool]:
        m = self._m
        with m._lock:
            digests, more = _page(sorted(d for r, d in m._manifests if r == repo), n, last)
            out = []
            for d in digests:
                rec = m._manifests[(repo, d)]
                body = rec.body if rec.media_type in INDEX_MEDIA_TYPES else None  # as the adapter
                out.append(ManifestEntry(d, rec.media_type, m._manifest_pushed.get((repo, d)), rec.subject,
                                         body, rec.s3_key))
            return out, more

    def set_tag_expiry(self, repo: str, tag: str, expires_at: Optional[int]) -> Optional[TagEntry]:
        m = self._m
        with m._lock:
            t = m._tags.get((repo, tag))
            if t is None:
                return None
            t.expires_at = expires_at
            if expires_at is not None:
                m._expiry_index[(expires_at, repo, tag)] = t.digest
            return TagEntry(tag, t.digest, m._tag_pushed.get((repo, tag)), expires_at)

    def due_expiries(self, now: int, n: int) -> list[DueExpiry]:
        with self._m._lock:
            due = sorted((e, d) for e, d in self._m._expiry_index.items() if e[0] <= now)[:n]
        return [DueExpiry(repo, tag, when, digest) for (when, repo, tag), digest in due]

    def delete_tag_if(self, repo: str, tag: str, policy_rev: Optional[int]) -> bool:
        m = self._m
        with m._lock:
            m.check_policy_rev(repo, policy_rev)
            return m._tags.pop((repo, tag), None) is not None

    def remove_tag(self, repo: str, tag: str, digest: Optional[str], expires_at: Optional[int] = None) -> bool:
        m = self._m
        with m._lock:
            if expires_at is not None:
                m._expiry_index.pop((expires_at, repo, tag), None)
            t = m._tags.get((repo, tag))
            if t is None or digest is not None and t.digest != digest or \
                    expires_at is not None and t.expires_at != expires_at:
                return False
            del m._tags[(repo, tag)]
            return True

    def remove_manifest(self, repo: str, digest: str, pushed: int) -> bool:
        m = self._m
        with m._lock:
            if (repo, digest) not in m._manifests or m._manifest_pushed.get((repo, digest)) != pushed:
                return False
            del m._manifests[(repo, digest)]
            m._manifest_pushed.pop((repo, digest), None)
            return True
