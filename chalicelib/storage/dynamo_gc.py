"""DynamoDB adapter of the GcStore port: the sparse `garbage` index (GCPK/GCAT, on links
and blobs only while they are candidates) and the conditional writes of a collection.
Each method is one DynamoDB call (a Query page, a BatchGetItem, an UpdateItem or a
TransactWriteItems)."""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from . import keys
from .dynamo_models import GC_BLOB, GC_LINK, BlobItem, BlobLinkItem, RepoItem, _connection, _reasons, conditional
from .dynamo_quota import unlink_parts
from .gc_ports import TOMBSTONE_SECONDS, GarbageBlob, GarbageLink


def _page(model: Any, pk: str, upto: int, n: int, cursor: Any) -> tuple[list, Any]:
    result = model.query(pk, model.gcat <= upto, index_name="garbage", limit=n, last_evaluated_key=cursor)
    items = list(result)
    return items, result.last_evaluated_key


class DynamoGcStore:
    def garbage_links(self, upto: int, n: int, cursor: Any = None) -> tuple[list[GarbageLink], Any]:
        items, nxt = _page(BlobLinkItem, GC_LINK, upto, n, cursor)
        return [GarbageLink(it.pk[len("REPO#"):], it.sk[len(keys.BLOB_PREFIX):], int(it.size or 0), int(it.gcat),
                            int(it.mrefs or 0), bool(it.counted)) for it in items], nxt

    def garbage_blobs(self, upto: int, n: int, cursor: Any = None) -> tuple[list[GarbageBlob], Any]:
        items, nxt = _page(BlobItem, GC_BLOB, upto, n, cursor)
        return [GarbageBlob(it.pk[len("BLOB#"):], int(it.size or 0), it.s3_key or keys.blob_key(it.pk[5:]),
                            int(it.gcat), int(it.refs or 0)) for it in items], nxt

    def blob_refs(self, digests: list[str]) -> dict[str, tuple[int, int]]:
        found = BlobItem.batch_get([(keys.blob_pk(d), keys.META_SK) for d in dict.fromkeys(digests)],
                                   attributes_to_get=["PK", "SK", "refs", "size", "gone"])
        return {it.pk[len("BLOB#"):]: (int(it.refs or 0), int(it.size or 0)) for it in found if it.gone is None}

    def drop_link(self, link: GarbageLink, now: int) -> bool:
        pk = keys.repo_pk(link.repo)
        try:
            with TransactWrite(connection=_connection()) as t:
                t.delete(BlobLinkItem(pk, keys.blob_link_sk(link.digest)),
                         condition=BlobLinkItem.counted.exists() & (BlobLinkItem.mrefs == 0)
                         & (BlobLinkItem.gcat == link.since) & (BlobLinkItem.size == link.size))
                t.update(BlobItem(keys.blob_pk(link.digest), keys.META_SK), actions=[
                    BlobItem.refs.add(-1), BlobItem.gcpk.set(GC_BLOB), BlobItem.gcat.set(now)])
                t.update(RepoItem(pk, keys.REPO_META_SK), actions=[RepoItem.stored.add(-link.size)])
                unlink_parts(t, link.repo, link.digest)   # reads the namespace's count first
            return True
        except TransactWriteError as err:
            if "ConditionalCheckFailed" in _reasons(err):   # the link, or its namespace count, changed
                return False
            raise

    def unmark_link(self, link: GarbageLink) -> None:
        conditional(lambda: BlobLinkItem(keys.repo_pk(link.repo), keys.blob_link_sk(link.digest)).update(
            actions=[BlobLinkItem.gcpk.remove(), BlobLinkItem.gcat.remove()],
            condition=BlobLinkItem.gcat == link.since))

    def claim_blob(self, blob: GarbageBlob, now: int) -> bool:
        return conditional(lambda: BlobItem(keys.blob_pk(blob.digest), keys.META_SK).update(
            actions=[BlobItem.collecting.set(now)],
            condition=(BlobItem.refs <= 0) & (BlobItem.gcat == blob.since)))

    def unmark_blob(self, blob: GarbageBlob) -> None:
        conditional(lambda: BlobItem(keys.blob_pk(blob.digest), keys.META_SK).update(
            actions=[BlobItem.gcpk.remove(), BlobItem.gcat.remove()], condition=BlobItem.gcat == blob.since))

    def blob_records(self, digests: list[str]) -> set[str]:
        found = BlobItem.batch_get([(keys.blob_pk(d), keys.META_SK) for d in dict.fromkeys(digests)],
                                   attributes_to_get=["PK", "SK"])
        return {it.pk[len("BLOB#"):] for it in found}

    def claim_orphan(self, digest: str, size: int, s3_key: str, now: int) -> bool:
        return conditional(lambda: BlobItem(keys.blob_pk(digest), keys.META_SK, size=size, s3_key=s3_key, refs=0,
                                            collecting=now, gcpk=GC_BLOB, gcat=now).save(
            condition=BlobItem.pk.does_not_exist()))

    def drop_blob(self, blob: GarbageBlob, claimed: int, now: int) -> bool:
        return conditional(lambda: BlobItem(keys.blob_pk(blob.digest), keys.META_SK).update(
            actions=[BlobItem.gone.set(now), BlobItem.expires.set(now + TOMBSTONE_SECONDS),
                     BlobItem.collecting.remove(), BlobItem.gcpk.remove(), BlobItem.gcat.remove()],
            condition=(BlobItem.collecting == claimed) & (BlobItem.refs <= 0)))
