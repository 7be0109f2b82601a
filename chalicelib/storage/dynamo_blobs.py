"""Blob links, global blob records and Docker V1 images on the DynamoDB table
(part of DynamoMetadataStore)."""
from __future__ import annotations

import json
import time
from typing import Optional

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from . import keys
from .dynamo_models import (_CONFLICT_RETRIES, GC_BLOB, GC_LINK, BlobItem, BlobLinkItem, RepoItem, UploadItem,
                            V1ImageItem, _connection, _reasons, touch_repo)
from .dynamo_quota import link_parts, refusal, unlink_parts, warned
from .dynamo_tx import OwnedTransaction, transact
from .gc_ports import CLAIM_SECONDS, SKEW_SECONDS, BlobCollected
from .quota_ports import QuotaExceeded
from .ports import BlobLink


class _AlreadyLinked(Exception):
    """link_blob's condition: the repository has the link already."""


class _Shared(Exception):
    """The namespace's count of the blob is not what the transaction assumed (absent/present)."""


class _OverQuota(Exception):
    """The namespace's limit refused the link."""


class BlobTables:
    """The blob half of DynamoMetadataStore."""

    def get_blob_link(self, repo: str, digest: str) -> Optional[BlobLink]:
        """One consistent read of the repository's link to a blob."""
        try:
            it = BlobLinkItem.get(keys.repo_pk(repo), keys.blob_link_sk(digest), consistent_read=True)
        except DoesNotExist:
            return None
        return BlobLink(repo, digest, int(it.size), it.s3_key)

    def find_blob_link(self, repos: list[str], digest: str) -> Optional[BlobLink]:
        """A link to `digest` in any of `repos` (one BatchGetItem per 100 repositories)."""
        keys_ = [(keys.repo_pk(r), keys.blob_link_sk(digest)) for r in dict.fromkeys(repos)]
        for it in BlobLinkItem.batch_get(keys_, consistent_read=True):
            return BlobLink(it.pk[len("REPO#"):], digest, int(it.size), it.s3_key)
        return None

    def get_blob(self, digest: str) -> Optional[BlobLink]:
        """The blob's global record, if any repository ever committed it."""
        try:
            it = BlobItem.get(keys.blob_pk(digest), keys.META_SK, consistent_read=True)
        except DoesNotExist:
            return None
        if it.gone is not None:   # a tombstone (domain/gc.py): no bytes
            return None
        return BlobLink("", digest, int(it.size), it.s3_key)

    def link_blob(self, repo: str, digest: str, size: int, s3_key: str,
                  written_at: Optional[float] = None, upload_id: Optional[str] = None) -> bool:
        """Link a committed blob into `repo`; False when it was linked already. The new link
        is counted, referenced by no manifest yet: a garbage candidate until one is pushed.
        With `written_at` (when the caller started writing the bytes), BlobCollected while a
        collection claims the blob or when it deleted the bytes after that. With `upload_id`,
        the finished upload session is deleted in the same transaction."""
        pk = keys.repo_pk(repo)
        now = int(time.time())
        shared, soft = False, True   # the namespace links it already; the soft limit still holds

        def build(t: OwnedTransaction) -> None:
            t.owner = "link"  # pynamodb sends deletes before puts: owners name the refusals
            t.save(BlobLinkItem(pk, keys.blob_link_sk(digest), size=size, s3_key=s3_key, mrefs=0, counted=True,
                                gcpk=GC_LINK, gcat=now),
                   condition=BlobLinkItem.pk.does_not_exist())
            t.owner = "blob"
            t.update(BlobItem(keys.blob_pk(digest), keys.META_SK), actions=[
                BlobItem.size.set(size),
                BlobItem.s3_key.set(BlobItem.s3_key | s3_key),
                BlobItem.refs.add(1),
                BlobItem.collecting.remove(), BlobItem.gone.remove(), BlobItem.expires.remove(),
                BlobItem.gcpk.remove(), BlobItem.gcat.remove(),
            ], condition=None if written_at is None else (
                (BlobItem.collecting.does_not_exist() | (BlobItem.collecting < written_at - CLAIM_SECONDS))
                & (BlobItem.gone.does_not_exist() | (BlobItem.gone < written_at - SKEW_SECONDS))))
            t.owner = None
            touch_repo(t, repo, stored=size)
            link_parts(t, repo, digest, size, shared, soft)
            t.owner = None
            if upload_id:
                t.delete(UploadItem(keys.upload_pk(upload_id), keys.META_SK))

        def refused(codes: list, t: OwnedTransaction) -> None:
            owners = t.refused(codes)
            if "link" in owners:
                raise _AlreadyLinked()
            if "blob" in owners:
                raise BlobCollected(digest)
            if "nsblob" in owners:
                raise _Shared()
            if "quota" in owners:
                raise _OverQuota()

        for _ in range(4):
            try:
                transact(_connection(), build, refused=refused, attempts=_CONFLICT_RETRIES)
                warned(repo, not soft)
                return True
            except _AlreadyLinked:
                return False
            except _Shared:
                shared = not shared
            except _OverQuota:
                try:
                    soft = not refusal(repo, size)   # QuotaExceeded when over the hard limit
                except QuotaExceeded:
                    # The bytes are in S3 already: a garbage candidate, so that a collection
                    # deletes them unless another link takes them meanwhile.
                    BlobItem(keys.blob_pk(digest), keys.META_SK).update(actions=[
                        BlobItem.size.set(size), BlobItem.s3_key.set(BlobItem.s3_key | s3_key),
                        BlobItem.refs.add(0), BlobItem.gcpk.set(GC_BLOB), BlobItem.gcat.set(now)])
                    raise
        raise RuntimeError(f"link of {digest} in {repo}: the namespace's count kept changing")

    def unlink_blob(self, repo: str, digest: str) -> bool:
        """Remove `repo`'s link to a blob; False when there was none. The link is read first
        for its size (subtracted from the repository's `stored` in the same transaction,
        which deletes the link only if it still has that size)."""
        link = self.get_blob_link(repo, digest)
        if link is None:
            return False
        try:
            with TransactWrite(connection=_connection()) as t:
                t.delete(BlobLinkItem(keys.repo_pk(repo), keys.blob_link_sk(digest)),
                         condition=BlobLinkItem.pk.exists() & (BlobLinkItem.size == link.size))
                t.update(BlobItem(keys.blob_pk(digest), keys.META_SK),  # maybe the last link: a candidate
                         actions=[BlobItem.refs.add(-1), BlobItem.gcpk.set(GC_BLOB), BlobItem.gcat.set(int(time.time()))])
                t.update(RepoItem(keys.repo_pk(repo), keys.REPO_META_SK), actions=[RepoItem.stored.add(-link.size)])
                unlink_parts(t, repo, digest)
            return True
        except TransactWriteError as err:
            if _reasons(err)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise

    # -- Docker V1 images -----------------------------------------------------
    def put_v1_images(self, repo: str, images: list) -> None:
        """Record synthesised V1 images [(id, layer digest, size, json, ancestry)] for `repo`."""
        with V1ImageItem.batch_write() as batch:
            for image_id, layer, size, v1_json, ancestry in images:
                batch.save(V1ImageItem(keys.v1_image_pk(image_id), keys.repo_pk(repo), layer=layer,
                                       size=size, v1_json=v1_json, ancestry=json.dumps(ancestry)))

    def get_v1_image(self, image_id: str) -> list:
        """Every repository holding V1 image `image_id`: [(repo, layer, size, json, ancestry)]."""
        return [(it.sk[len("REPO#"):], it.layer, int(it.size or 0), it.v1_json, json.loads(it.ancestry or "[]"))
                for it in V1ImageItem.query(keys.v1_image_pk(image_id))]
