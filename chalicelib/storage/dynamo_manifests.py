"""Manifests, tags, listings and referrers on the DynamoDB table (part of DynamoMetadataStore).

Invariants are held by conditional writes and transactions: a manifest commits with its
tag, its repository item and a condition check for every blob and child it references.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Optional, Sequence

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from . import keys
from .bounded import BoundedCache
from .dynamo_models import (_CONFLICT_RETRIES, GC_LINK, BlobLinkItem, ExpiryItem, Item, ManifestItem, RepoItem,
                            TagItem, _connection, _reasons, catalog_page, conditional, touch_repo)
from .dynamo_quota import manifest_part, refusal, warned
from .dynamo_tx import OwnedTransaction
from .ports import (ManifestRecord, PartRefused, PolicyChanged, ReferenceMissing, TagImmutable, TagRecord,
                    TagWrite, TransactionPart)

# A transaction holds at most 100 actions; keep room for manifest, tag, expiry, repo, quota.
_MAX_CONDITION_CHECKS = 95


def _manifest_record(repo: str, it: ManifestItem) -> ManifestRecord:
    return ManifestRecord(
        repo=repo,
        digest=it.digest,
        media_type=it.media_type,
        size=int(it.size or 0),
        body=it.body,
        s3_key=it.s3_key,
        subject=it.subject,
        artifact_type=it.artifact_type,
        annotations=json.loads(it.annotations) if it.annotations else None,
    )


class ManifestTables:
    """The manifest and tag half of DynamoMetadataStore."""

    def __init__(self) -> None:
        # Manifests this store stored: a re-push (the same manifest again, or under another
        # tag) starts with the transaction for a counted manifest instead of failing the one
        # for a new manifest first. Only a hint: if it is wrong (deleted meanwhile, by another
        # instance) the refused condition flips it and the other transaction runs.
        self._counted = BoundedCache(4096)

    def get_tag(self, repo: str, tag: str) -> Optional[TagRecord]:
        """One consistent read of the tag item (which carries the manifest)."""
        try:
            it = TagItem.get(keys.repo_pk(repo), keys.tag_sk(tag), consistent_read=True)
        except DoesNotExist:
            return None
        return TagRecord(repo, tag, it.digest, it.media_type, int(it.size or 0), it.body, it.s3_key,
                         int(it.expires_at) if it.expires_at is not None else None)

    def get_manifest(self, repo: str, digest: str) -> Optional[ManifestRecord]:
        """One consistent read of the manifest item."""
        try:
            it = ManifestItem.get(keys.repo_pk(repo), keys.manifest_sk(digest), consistent_read=True)
        except DoesNotExist:
            return None
        return _manifest_record(repo, it)

    def put_manifest(
        self, manifest: ManifestRecord, tag: Optional[str], blobs: list[str], manifests: list[str],
        tag_write: Optional[TagWrite] = None, parts: Sequence[TransactionPart] = (),
    ) -> None:
        """Write manifest, tag and repository in one transaction that also
        checks every referenced blob link and child manifest exists, and, with
        `tag_write`, that the tag policy is unchanged and an immutable tag keeps its digest;
        `parts` (other stores' writes, e.g. a Helm index entry) commit in it too."""
        repo = manifest.repo
        pk = keys.repo_pk(repo)
        checks: list[tuple[type[Item], str, str, str]] = [
            (BlobLinkItem, keys.blob_link_sk(d), d, "blob") for d in dict.fromkeys(blobs)]
        checks += [(ManifestItem, keys.manifest_sk(d), d, "manifest") for d in dict.fromkeys(manifests)
                   if d != manifest.digest]
        room = _MAX_CONDITION_CHECKS - sum(p.ops for p in parts)
        overflow = checks[room:]
        checks = checks[:room]
        if overflow:
            # Beyond one transaction's room: check the rest first, pinning the links for good
            # (a reference never taken back: they are never collected).
            self._check_exist(repo, overflow, (repo, manifest.digest) not in self._counted)
        counted = [d for _, _, d, kind in checks if kind == "blob"]
        item = ManifestItem(
            pk, keys.manifest_sk(manifest.digest), digest=manifest.digest,
            media_type=manifest.media_type, size=manifest.size, body=manifest.body,
            s3_key=manifest.s3_key, subject=manifest.subject,
            artifact_type=manifest.artifact_type,
            annotations=json.dumps(manifest.annotations) if manifest.annotations else None,
            pushed=int(time.time()), counted=True, blob_refs=json.dumps(counted), rev=uuid.uuid4().hex,
        )
        if manifest.subject:
            item.gsi1pk = keys.referrers_pk(repo, manifest.subject)
            item.gsi1sk = manifest.digest
        # a new manifest adds a reference to each link; a re-put of a counted one does not
        new = (repo, manifest.digest) not in self._counted
        soft = True  # the namespace's soft limit holds (else written again without it: a warning)
        for attempt in range(_CONFLICT_RETRIES + 2):
            try:
                with OwnedTransaction(connection=_connection()) as t:
                    for i, (model, sk, _, kind) in enumerate(checks):
                        t.owner = ("check", i)   # reasons come back grouped by kind: trace them by owner
                        if new and kind == "blob":
                            t.update(BlobLinkItem(pk, sk), actions=[
                                BlobLinkItem.mrefs.add(1), BlobLinkItem.gcpk.remove(), BlobLinkItem.gcat.remove(),
                            ], condition=BlobLinkItem.pk.exists())
                        else:
                            t.condition_check(model, pk, sk, condition=model.pk.exists())
                    t.owner = "manifest"
                    t.save(item, condition=ManifestItem.counted.does_not_exist() if new
                           else ManifestItem.counted.exists())
                    t.owner = "tag"
                    if tag is not None:
                        _save_tag(t, manifest, tag, tag_write)
                    t.owner = "repo"
                    touch_repo(t, repo, tag_write)
                    manifest_part(t, repo, soft)
                    for part in parts:
                        t.owner = part
                        part.add(t)
                warned(repo, not soft)
                self._counted.put((repo, manifest.digest))
                return
            except TransactWriteError as err:
                reasons = _reasons(err)
                refused = t.refused(reasons)
                if tag is not None and tag_write is not None:
                    _tag_refusal("tag" in refused, "repo" in refused)
                missing = [checks[o[1]] for o in refused if isinstance(o, tuple)]
                if missing:
                    raise ReferenceMissing(
                        [d for _, _, d, kind in missing if kind == "blob"],
                        [d for _, _, d, kind in missing if kind == "manifest"],
                    ) from err
                if "quota" in refused:
                    soft = not refusal(repo, 0)   # QuotaExceeded while over the hard limit
                    continue
                for part in [o for o in refused if isinstance(o, TransactionPart)][:1]:
                    raise PartRefused(part) from err
                if "manifest" in refused and attempt < _CONFLICT_RETRIES:
                    new = not new   # counted already (a re-push), or deleted meanwhile
                    continue
                if "TransactionConflict" in reasons and attempt + 1 < _CONFLICT_RETRIES:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise

    def get_derived(self, repo: str, source_digest: str, media_type: str) -> Optional[ManifestRecord]:
        """A conversion of `source_digest` to `media_type` made earlier, if any."""
        try:
            it = ManifestItem.get(keys.repo_pk(repo), keys.derived_sk(source_digest, media_type),
                                  consistent_read=True)
        except DoesNotExist:
            return None
        return _manifest_record(repo, it)

    def put_derived(self, source_digest: str, media_type: str, derived: ManifestRecord) -> None:
        """Keep a conversion: the derived manifest (by its digest) and the cache entry, together."""
        pk = keys.repo_pk(derived.repo)

        def item(sk: str) -> ManifestItem:
            return ManifestItem(pk, sk, digest=derived.digest, media_type=derived.media_type,
                                size=derived.size, body=derived.body)

        try:
            with TransactWrite(connection=_connection()) as t:
                # never over a pushed manifest of the same digest (its refcounts would be lost)
                t.save(item(keys.manifest_sk(derived.digest)), condition=ManifestItem.counted.does_not_exist())
                t.save(item(keys.derived_sk(source_digest, media_type)))
        except TransactWriteError as err:
            if _reasons(err)[:1] != ["ConditionalCheckFailed"]:
                raise
            item(keys.derived_sk(source_digest, media_type)).save()

    def _check_exist(self, repo: str, checks: list, new: bool) -> None:
        """Each reference exists; a new manifest's blob links gain their pinning reference
        (a re-put of a counted manifest only reads: it pinned them already)."""
        pk = keys.repo_pk(repo)
        missing = []
        for model, sk, digest, kind in checks:
            if kind == "blob" and new:
                found = conditional(lambda: BlobLinkItem(pk, sk).update(
                    actions=[BlobLinkItem.mrefs.add(1), BlobLinkItem.gcpk.remove(), BlobLinkItem.gcat.remove()],
                    condition=BlobLinkItem.pk.exists()))
            else:
                found = bool(model.count(pk, model.sk == sk, consistent_read=True))
            if not found:
                missing.append((digest, kind))
        if missing:
            raise ReferenceMissing([d for d, k in missing if k == "blob"],
                                   [d for d, k in missing if k == "manifest"])

    def delete_tag(self, repo: str, tag: str) -> bool:
        """Delete one tag; False when it did not exist."""
        return conditional(lambda: TagItem(keys.repo_pk(repo), keys.tag_sk(tag)).delete(
            condition=TagItem.pk.exists()))

    def delete_manifest(self, repo: str, digest: str) -> bool:
        """Delete a manifest and every tag pointing at it, atomically; in the same transaction
        each link it counted loses the reference (and is stamped a garbage candidate).
        Its conversions go after it (drop_conversions)."""
        for _ in range(_CONFLICT_RETRIES + 2):
            done = self._delete_manifest(repo, digest)
            if done is not None:
                return done
        raise RuntimeError(f"delete of {digest} in {repo}: pushes of it kept coming")

    def _delete_manifest(self, repo: str, digest: str) -> Optional[bool]:
        """One attempt; None when a put of the manifest came between its reads and its write
        (it may have added a tag this attempt would leave naming nothing): read again."""
        pk = keys.repo_pk(repo)
        try:
            held = ManifestItem.get(pk, keys.manifest_sk(digest), consistent_read=True,
                                    attributes_to_get=["PK", "SK", "counted", "blobs", "rev"])
        except DoesNotExist:
            return False
        self._counted.pop((repo, digest))
        refs = json.loads(held.blob_refs or "[]") if held.counted else []
        same = ManifestItem.rev == held.rev if held.rev else ManifestItem.rev.does_not_exist()
        tags = [t.sk for t in TagItem.query(
            pk, TagItem.sk.startswith(keys.TAG_PREFIX), filter_condition=TagItem.digest == digest,
            attributes_to_get=["PK", "SK"], consistent_read=True)]
        first, now = True, int(time.time())
        while True:
            if not first and not tags:
                drop_conversions(repo, digest)
                return True
            room = 99 - len(refs) if first else 99   # a transaction holds 100 actions
            batch, rest = tags[:room], tags[room:]
            try:
                with OwnedTransaction(connection=_connection()) as t:
                    if first:
                        t.owner = "manifest"
                        t.delete(ManifestItem(pk, keys.manifest_sk(digest)), condition=ManifestItem.pk.exists() & same
                                 & (ManifestItem.counted.exists() if held.counted else ManifestItem.counted.does_not_exist()))
                        for d in refs:   # only links still there and counted (unlinked ones are not re-created)
                            t.owner = d
                            t.update(BlobLinkItem(pk, keys.blob_link_sk(d)), actions=[
                                BlobLinkItem.mrefs.add(-1), BlobLinkItem.gcpk.set(GC_LINK), BlobLinkItem.gcat.set(now),
                            ], condition=BlobLinkItem.counted.exists())
                    t.owner = "tag"
                    for sk in batch:
                        t.delete(TagItem(pk, sk), condition=TagItem.digest == digest)
            except TransactWriteError as err:
                refused = t.refused(_reasons(err))
                if "manifest" in refused:   # gone (False), or put again since the reads (retry)
                    return None if first and _exists(pk, keys.manifest_sk(digest)) else False
                gone = [d for d in refused if d in refs]
                if gone:
                    refs = [d for d in refs if d not in gone]
                    continue
                if "tag" not in refused:
                    raise
                # A tag moved to another manifest meanwhile: delete this batch one by one.
                for sk in batch:
                    conditional(lambda: TagItem(pk, sk).delete(condition=TagItem.digest == digest))
                tags = rest
                continue   # the manifest (when first) with the next batch
            first, tags = False, rest

    def list_tags(self, repo: str, n: int, last: Optional[str]) -> tuple[list[str], bool]:
        """Up to `n` tags after `last` in lexical order, and whether more follow."""
        pk = keys.repo_pk(repo)
        # TAG# is the last SK prefix in a repository partition, so `> TAG#last` stays in tags.
        cond = TagItem.sk > keys.tag_sk(last) if last else TagItem.sk.startswith(keys.TAG_PREFIX)
        out = []
        for it in TagItem.query(pk, cond, limit=n + 1, attributes_to_get=["PK", "SK"],
                                consistent_read=True):
            if not it.sk.startswith(keys.TAG_PREFIX):
                break
            out.append(it.sk[len(keys.TAG_PREFIX):])
            if len(out) > n:
                break
        return out[:n], len(out) > n

    def repo_exists(self, repo: str) -> bool:
        """True when anything was ever pushed to `repo`."""
        try:
            RepoItem.get(keys.repo_pk(repo), keys.REPO_META_SK, consistent_read=True,
                         attributes_to_get=["PK"])
            return True
        except DoesNotExist:
            return False

    def list_repos(self, n: int, last: Optional[str]) -> tuple[list[str], bool]:
        """Up to `n` repository names after `last`, in order."""
        page, more = catalog_page(n, last)
        return [name for name, _ in page], more

    def referrers(self, repo: str, subject: str, limit: int,
                  after: Optional[str] = None) -> tuple[list[ManifestRecord], bool]:
        """Up to `limit` manifests in `repo` whose subject is `subject`, in digest order
        after `after` (from the GSI), and whether more follow."""
        cond = ManifestItem.gsi1sk > after if after else None
        # Query through ManifestItem so the projected attributes are deserialised.
        out = [ManifestRecord(
            repo=repo, digest=it.digest or it.gsi1sk, media_type=it.media_type or "",
            size=int(it.size or 0), artifact_type=it.artifact_type,
            annotations=json.loads(it.annotations) if it.annotations else None)
            for it in ManifestItem.query(keys.referrers_pk(repo, subject), cond, index_name="referrers",
                                         limit=limit + 1)]
        return out[:limit], len(out) > limit


def _save_tag(t: TransactWrite, manifest: ManifestRecord, tag: str, tw: Optional[TagWrite]) -> None:
    """The tag item (an immutable one may only be rewritten with its digest) and, when it
    expires, its expiry index entry."""
    pk = keys.repo_pk(manifest.repo)
    expires = tw.expires_at if tw else None
    cond = (TagItem.pk.does_not_exist() | (TagItem.digest == manifest.digest)) if tw and tw.immutable else None
    t.save(TagItem(pk, keys.tag_sk(tag), digest=manifest.digest, media_type=manifest.media_type,
                   size=manifest.size, body=manifest.body, s3_key=manifest.s3_key,
                   pushed=int(time.time()), expires_at=expires), condition=cond)
    if expires is not None:
        t.save(ExpiryItem(keys.EXPIRY_PK, keys.expiry_sk(expires, manifest.repo, tag),
                          repo=manifest.repo, tag=tag, digest=manifest.digest))


def _tag_refusal(tag_refused: bool, repo_refused: bool) -> None:
    """Raise what a cancelled manifest transaction says about its tag, if anything."""
    if repo_refused:
        raise PolicyChanged()
    if tag_refused:
        raise TagImmutable()


def drop_conversions(repo: str, digest: str) -> None:
    """After a manifest's delete: its cached conversions (one Query; usually none), and the
    converted manifests themselves unless pushed (counted) under the same digest."""
    pk = keys.repo_pk(repo)
    for it in ManifestItem.query(pk, ManifestItem.sk.startswith(keys.derived_sk(digest, "")),
                                 attributes_to_get=["PK", "SK", "digest"], consistent_read=True):
        conditional(lambda: ManifestItem(pk, keys.manifest_sk(it.digest)).delete(
            condition=ManifestItem.counted.does_not_exist()))
        it.delete()


def _exists(pk: str, sk: str) -> bool:
    return bool(ManifestItem.count(pk, ManifestItem.sk == sk, consistent_read=True))
