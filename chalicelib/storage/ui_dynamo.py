"""DynamoDB adapter of the UiReads port (web UI reads; same table, see keys.py)."""
from __future__ import annotations

import time
from typing import Optional

from pynamodb.exceptions import DoesNotExist

from . import keys
from .dynamo import RepoItem, TagItem
from .ports import RepoStats, UiTagRecord


class DynamoUiReads:
    """UiReads on the registry table: a tag page with its manifests is one Query."""

    def tag_items(self, repo: str, n: int, last: Optional[str]) -> tuple[list[UiTagRecord], bool]:
        """Up to `n` tags after `last`, each with the manifest its item carries."""
        cond = TagItem.sk > keys.tag_sk(last) if last else TagItem.sk.startswith(keys.TAG_PREFIX)
        out: list[UiTagRecord] = []
        now = time.time()
        # page_size, not limit: expired tags are skipped, and the query goes on to the next
        # page until n + 1 live tags are seen, so `more` (the next-page marker) stays right.
        for it in TagItem.query(keys.repo_pk(repo), cond, page_size=n + 1, consistent_read=True):
            if not it.sk.startswith(keys.TAG_PREFIX):
                break
            if it.expires_at is not None and it.expires_at <= now:
                continue  # expired: hidden at once (the lifecycle run deletes it)
            out.append(UiTagRecord(repo, it.sk[len(keys.TAG_PREFIX):], it.digest, it.media_type,
                                   int(it.size or 0), it.body, it.s3_key,
                                   expires_at=int(it.expires_at) if it.expires_at is not None else None,
                                   pushed=int(it.pushed) if it.pushed is not None else None))
            if len(out) > n:
                break
        return out[:n], len(out) > n

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
