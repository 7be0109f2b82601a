"""DynamoDB adapter of the TagLifecycleStore port: tag policies, tag expiry and the
conditional deletes retention makes (same table; layout in keys.py)."""
from __future__ import annotations

import json
from typing import Optional

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from . import keys
from .dynamo import (ExpiryItem, Item, ManifestItem, RepoItem, TagItem, _connection, _reasons, conditional,
                     policy_condition)
from .ports import INDEX_MEDIA_TYPES, DueExpiry, ManifestEntry, PolicyChanged, TagEntry


class _PolicyIndexItem(Item):
    """TAGPOLICY/<repo>: the repository has a tag policy."""

    repo = UnicodeAttribute(null=True)


def _int(v: Optional[float]) -> Optional[int]:
    return int(v) if v is not None else None


class DynamoTagLifecycle:
    """TagLifecycleStore on the registry table."""

    # -- policies -------------------------------------------------------------
    def get_policy(self, repo: str) -> tuple[Optional[dict], Optional[int]]:
        """One consistent GetItem of the repository item."""
        try:
            it = RepoItem.get(keys.repo_pk(repo), keys.REPO_META_SK, consistent_read=True,
                              attributes_to_get=["tag_policy", "policy_rev"])
        except DoesNotExist:
            return None, None
        return (json.loads(it.tag_policy) if it.tag_policy else None), _int(it.policy_rev)

    def put_policy(self, repo: str, doc: Optional[dict]) -> int:
        """Index first (a run visiting a repository without rules just skips it), then the
        policy and its new revision in one UpdateItem; clearing drops the index entry last."""
        index = _PolicyIndexItem(keys.POLICY_INDEX_PK, repo, repo=repo)
        if doc:
            index.save()
        item = RepoItem(keys.repo_pk(repo), keys.REPO_META_SK)
        item.update(actions=[  # returns the new item (ALL_NEW) into `item`
            RepoItem.tag_policy.set(json.dumps(doc, sort_keys=True)) if doc else RepoItem.tag_policy.remove(),
            RepoItem.policy_rev.add(1),
        ])
        if not doc:
            index.delete()
        return int(item.policy_rev)

    def policy_repos(self, n: int, last: Optional[str]) -> tuple[list[str], bool]:
        cond = _PolicyIndexItem.sk > last if last else None
        out = [it.sk for it in _PolicyIndexItem.query(keys.POLICY_INDEX_PK, cond, limit=n + 1)]
        return out[:n], len(out) > n

    # -- tags and manifests -----------------------------------------------------
    def tag_entries(self, repo: str, n: int, last: Optional[str]) -> tuple[list[TagEntry], bool]:
        """One Query per page (only the small attributes, not the manifest bytes)."""
        cond = TagItem.sk > keys.tag_sk(last) if last else TagItem.sk.startswith(keys.TAG_PREFIX)
        out: list[TagEntry] = []
        for it in TagItem.query(keys.repo_pk(repo), cond, limit=n + 1, consistent_read=True,
                                attributes_to_get=["PK", "SK", "digest", "pushed", "expires_at"]):
            if not it.sk.startswith(keys.TAG_PREFIX):
                break
            out.append(TagEntry(it.sk[len(keys.TAG_PREFIX):], it.digest, _int(it.pushed), _int(it.expires_at)))
            if len(out) > n:
                break
        return out[:n], len(out) > n

    def manifest_entries(self, repo: str, n: int, last: Optional[str]) -> tuple[list[ManifestEntry], bool]:
        cond = (ManifestItem.sk > keys.manifest_sk(last) if last
                else ManifestItem.sk.startswith(keys.MANIFEST_PREFIX))
        out: list[ManifestEntry] = []
        for it in ManifestItem.query(keys.repo_pk(repo), cond, limit=n + 1, consistent_read=True):
            if not it.sk.startswith(keys.MANIFEST_PREFIX):
                break
            # Retention reads only index bodies (for their children): the rest are not kept.
            body = it.body if it.media_type in INDEX_MEDIA_TYPES else None
            out.append(ManifestEntry(it.digest, it.media_type or "", _int(it.pushed), it.subject,
                                     body, it.s3_key))
            if len(out) > n:
                break
        return out[:n], len(out) > n

    def set_tag_expiry(self, repo: str, tag: str, expires_at: Optional[int]) -> Optional[TagEntry]:
        """One UpdateItem (the tag must exist), then the index entry; an entry left by an
        earlier expiry is dropped by the run when it meets it."""
        item = TagItem(keys.repo_pk(repo), keys.tag_sk(tag))
        action = TagItem.expires_at.set(expires_at) if expires_at is not None else TagItem.expires_at.remove()
        if not conditional(lambda: item.update(actions=[action], condition=TagItem.pk.exists())):
            return None
        if expires_at is not None:
            ExpiryItem(keys.EXPIRY_PK, keys.expiry_sk(expires_at, repo, tag), repo=repo, tag=tag,
                       digest=item.digest).save()
        return TagEntry(tag, item.digest, _int(item.pushed), expires_at)  # `item` holds the new values

    def due_expiries(self, now: int, n: int) -> list[DueExpiry]:
        return [DueExpiry(it.repo, it.tag, int(it.sk.split("#", 1)[0]), it.digest)
                for it in ExpiryItem.query(keys.EXPIRY_PK, ExpiryItem.sk < keys.expiry_sk_upto(now),
                                           limit=n)][:n]

    # -- deletes ------------------------------------------------------------------
    def delete_tag_if(self, repo: str, tag: str, policy_rev: Optional[int]) -> bool:
        """The tag and a check of the policy revision, in one transaction."""
        pk = keys.repo_pk(repo)
        try:
            with TransactWrite(connection=_connection()) as t:
                t.delete(TagItem(pk, keys.tag_sk(tag)), condition=TagItem.pk.exists())
                t.condition_check(RepoItem, pk, keys.REPO_META_SK, condition=policy_condition(policy_rev))
            return True
        except TransactWriteError as err:
            reasons = _reasons(err)  # pynamodb sends condition checks first, then deletes
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise PolicyChanged() from None
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                return False
            raise

    def remove_tag(self, repo: str, tag: str, digest: Optional[str], expires_at: Optional[int] = None) -> bool:
        cond = TagItem.pk.exists()
        if digest is not None:
            cond &= TagItem.digest == digest
        if expires_at is not None:
            cond &= TagItem.expires_at == expires_at
        done = conditional(lambda: TagItem(keys.repo_pk(repo), keys.tag_sk(tag)).delete(condition=cond))
        if expires_at is not None:
            ExpiryItem(keys.EXPIRY_PK, keys.expiry_sk(expires_at, repo, tag)).delete()
        return done

    def remove_manifest(self, repo: str, digest: str, pushed: int) -> bool:
        return conditional(lambda: ManifestItem(keys.repo_pk(repo), keys.manifest_sk(digest)).delete(
            condition=ManifestItem.pushed == pushed))
