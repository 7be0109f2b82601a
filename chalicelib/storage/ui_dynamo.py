"""DynamoDB adapter of the UiReads port (web UI reads; same table, see keys.py)."""
from __future__ import annotations

import time
from typing import Optional

from pynamodb.exceptions import DoesNotExist

from . import keys
from .dynamo import RepoItem, TagItem
from .ports import TAG_PAGE_READ_FACTOR, RepoStats, UiTagRecord


class DynamoUiReads:
    """UiReads on the registry table: a tag page with its manifests is one Query."""

    def tag_items(self, repo: str, n: int, last: Optional[str]) -> tuple[list[UiTagRecord], Optional[str]]:
        """Up to `n` live tags after `last`, each with the manifest its item carries."""
        out: list[UiTagRecord] = []
        now = time.time()
        budget, want, cursor = TAG_PAGE_READ_FACTOR * (n + 1), n + 1, last
        while budget > 0:
            # Limit n + 1: with nothing expired the page is one Query. Expired ones seen: read on
            # past them, another n + 1 (twice what is missing if more): at most 4 Queries a page.
            k = min(budget, want)
            cond = TagItem.sk > keys.tag_sk(cursor) if cursor else TagItem.sk.startswith(keys.TAG_PREFIX)
            read = 0
            for it in TagItem.query(keys.repo_pk(repo), cond, limit=k, page_size=k, consistent_read=True):
                read += 1
                if not it.sk.startswith(keys.TAG_PREFIX):
                    return out, None
                cursor = it.sk[len(keys.TAG_PREFIX):]
                if it.expires_at is not None and it.expires_at <= now:
                    continue  # expired: hidden at once (the lifecycle run deletes it)
                out.append(UiTagRecord(repo, cursor, it.digest, it.media_type, int(it.size or 0), it.body,
                                       it.s3_key,
                                       expires_at=int(it.expires_at) if it.expires_at is not None else None,
                                       pushed=int(it.pushed) if it.pushed is not None else None))
                if len(out) > n:
                    return out[:n], out[n - 1].tag
            if read < k:
                return out, None  # the repository's tags end here
            budget -= read
            want = max(n + 1, 2 * (n + 1 - len(out)))
        return out, cursor  # budget spent on expired tags: the next page goes on from here

    def repo_visibility(self, repo: str) -> Optional[bool]:
        """One GetItem of the repository item: None when missing, else its public flag."""
        try:
            it = RepoItem.get(keys.repo_pk(repo), keys.REPO_META_SK, consistent_read=True,
                              attributes_to_get=["PK", "public"])
        except DoesNotExist:
            return None
        return bool(it.public)

    def repo_stats(self, repos: list[str]) -> dict[str, RepoStats]:
        """Last push and stored bytes per repository, in one BatchGetItem (at most 100 names)."""
        wanted = list(dict.fromkeys(repos))[:100]
        out: dict[str, RepoStats] = {}
        if not wanted:
            return out
        for it in RepoItem.batch_get([(keys.repo_pk(r), keys.REPO_META_SK) for r in wanted],
                                     attributes_to_get=["PK", "pushed", "created", "stored", "counted"]):
            when = it.pushed if it.pushed is not None else it.created
            if when is None:
                continue  # visibility set, nothing pushed
            whole = it.counted is not None and it.counted == it.created
            out[it.pk[len(keys.repo_pk("")):]] = RepoStats(int(when), int(it.stored or 0) if whole else None)
        return out

    def last_pushes(self, repos: list[str]) -> dict[str, int]:
        """Last push (else first push) per repository, in one BatchGetItem (at most 100 names)."""
        return {name: st.pushed for name, st in self.repo_stats(repos).items() if st.pushed is not None}
