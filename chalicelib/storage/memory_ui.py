"""In-memory fake of the UiReads port, over the metadata fake's dictionaries."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .ports import TAG_PAGE_READ_FACTOR, RepoStats, UiTagRecord

if TYPE_CHECKING:  # for types only: memory.py imports this module
    from .memory import MemoryMetadataStore


class MemoryUiReads:
    """UiReads over the metadata fake's dictionaries."""

    def __init__(self, meta: MemoryMetadataStore) -> None:
        self._meta = meta

    def tag_items(self, repo: str, n: int, last: Optional[str]) -> tuple[list[UiTagRecord], Optional[str]]:
        m = self._meta
        with m._lock:
            now, budget = m._clock(), TAG_PAGE_READ_FACTOR * (n + 1)
            names = sorted(t for (r, t) in m._tags if r == repo and (last is None or t > last))
            out: list[UiTagRecord] = []
            for tag in names[:budget]:   # expired ones count against the read budget, as in DynamoDB
                t = m._tags[(repo, tag)]
                if t.expires_at is not None and t.expires_at <= now:
                    continue
                out.append(UiTagRecord(repo, tag, t.digest, t.media_type, t.size, t.body, t.s3_key,
                                       expires_at=t.expires_at, pushed=m._tag_pushed.get((repo, tag))))
                if len(out) > n:
                    return out[:n], out[n - 1].tag
            return out, (names[budget - 1] if len(names) >= budget else None)

    def repo_visibility(self, repo: str) -> Optional[bool]:
        with self._meta._lock:
            r = self._meta.state.repos.get(repo)
            return None if r is None else bool(r.public)

    def repo_stats(self, repos: list[str]) -> dict[str, RepoStats]:
        with self._meta._lock:
            out = {}
            for name in list(dict.fromkeys(repos))[:100]:
                r = self._meta.state.repos.get(name)
                if r is None:
                    continue
                when = r.pushed if r.pushed is not None else (r.created or None)  # visibility alone: none
                if when is not None:
                    out[name] = RepoStats(int(when), r.stored)
            return out

    def last_pushes(self, repos: list[str]) -> dict[str, int]:
        # as the DynamoDB adapter: the push times of repo_stats
        return {name: st.pushed for name, st in self.repo_stats(repos).items() if st.pushed is not None}
