"""In-memory fake of the UiReads port, over the metadata fake's dictionaries."""
from __future__ import annotations

from typing import Optional

from .ports import RepoStats, UiTagRecord


def _page(names: list, n: int, last: Optional[str]) -> tuple[list, bool]:
    from .memory import _page as page

    return page(names, n, last)


class MemoryUiReads:
    """UiReads over the metadata fake's dictionaries."""

    def __init__(self, meta: "MemoryMetadataStore") -> None:  # noqa: F821 - memory.py imports this module
        self._meta = meta

    def tag_items(self, repo: str, n: int, last: Optional[str]) -> tuple[list[UiTagRecord], bool]:
        m = self._meta
        with m._lock:
            now = m._clock()
            names = sorted(t for (r, t), rec in m._tags.items()
                           if r == repo and (rec.expires_at is None or rec.expires_at > now))
            page, more = _page(names, n, last)
            out = []
            for tag in page:
                t = m._tags[(repo, tag)]
                out.append(UiTagRecord(repo, tag, t.digest, t.media_type, t.size, t.body, t.s3_key,
                                       expires_at=t.expires_at, pushed=m._tag_pushed.get((repo, tag))))
            return out, more

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
        with self._meta._lock:
            out = {}
            for name in list(dict.fromkeys(repos))[:100]:
                r = self._meta.state.repos.get(name)
                if r is None:
                    continue
                when = r.pushed if r.pushed is not None else (r.created or None)  # visibility alone: none
                if when is not None:
                    out[name] = int(when)
            return out
