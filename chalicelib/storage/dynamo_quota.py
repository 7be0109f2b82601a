"""Namespace quotas on the DynamoDB table (storage/quota_ports.py): the parts a blob link,
an unlink and a manifest put add to their transactions, and the QuotaStore adapter.

No read on the push path: the namespace item keeps `room` = quota - stored (and
`soft_room` for the soft limit) beside `stored`, so each condition compares one attribute.
A condition on the soft limit fails only when a write crosses it: the write is then made
again without it and reported as a warning (one refused transaction, only then)."""
from __future__ import annotations

import time
from typing import Any, Optional

from pynamodb.exceptions import DoesNotExist

from . import keys
from .dynamo_models import NsBlobItem, QuotaItem, StorageDayItem, conditional
from .quota_ports import QuotaExceeded, QuotaRecord, StorageDay, day_of, namespace_of, note_warning

DAY_PREFIX = "DAY#"


def _changed(t: Any, ns: str, delta: int) -> None:
    """The day's record of the change (metering integrates stored bytes over time from it)."""
    now = int(time.time())
    t.update(StorageDayItem(keys.quota_pk(ns), DAY_PREFIX + day_of(now)),
             actions=[StorageDayItem.bytes.add(delta), StorageDayItem.weighted.add(delta * now)])

NO_LIMIT = 10 ** 18   # `room` while no limit is set


def _meta(ns: str) -> QuotaItem:
    return QuotaItem(keys.quota_pk(ns), keys.META_SK)


def _within(size: int, soft: bool) -> Any:
    cond = QuotaItem.room.does_not_exist() | (QuotaItem.room >= size)
    if soft:
        cond = cond & (QuotaItem.soft_room.does_not_exist() | (QuotaItem.soft_room >= size))
    return cond


def link_parts(t: Any, repo: str, digest: str, size: int, shared: bool, soft: bool) -> None:
    """A new repository link to `digest`: counted once per namespace (`shared`: the namespace
    links it already, so no bytes are added and no limit applies)."""
    ns = namespace_of(repo)
    sk = keys.blob_link_sk(digest)
    t.owner = "nsblob"
    if shared:
        t.update(NsBlobItem(keys.quota_pk(ns), sk), actions=[NsBlobItem.nrefs.add(1)],
                 condition=NsBlobItem.pk.exists())
        return
    t.save(NsBlobItem(keys.quota_pk(ns), sk, nrefs=1, size=size), condition=NsBlobItem.pk.does_not_exist())
    t.owner = "quota"
    t.update(_meta(ns), actions=[QuotaItem.stored.add(size), QuotaItem.room.set((QuotaItem.room | NO_LIMIT) - size),
                                 QuotaItem.soft_room.set((QuotaItem.soft_room | NO_LIMIT) - size)],
             condition=_within(size, soft))
    t.owner = None
    _changed(t, ns, size)


def manifest_part(t: Any, repo: str, soft: bool) -> None:
    """A manifest put is refused while the namespace is over its quota."""
    t.owner = "quota"
    t.condition_check(QuotaItem, keys.quota_pk(namespace_of(repo)), keys.META_SK, condition=_within(0, soft))


def refusal(repo: str, size: int) -> bool:
    """After the quota part refused a write: raise QuotaExceeded when the hard limit did;
    True when only the soft limit did (write again without it: a warning)."""
    rec = DynamoQuotaStore().get_quota(namespace_of(repo))
    if rec.quota is not None and rec.stored + size > rec.quota:
        raise QuotaExceeded(rec.namespace, rec.quota, rec.stored, size)
    return True


def warned(repo: str, soft_refused: bool) -> None:
    note_warning(DynamoQuotaStore().get_quota(namespace_of(repo)) if soft_refused else None)


def unlink_parts(t: Any, repo: str, digest: str) -> None:
    """Take a repository's link off the namespace's count (read first: the last one gives
    the bytes back). Links made before quotas have no count: nothing to take."""
    ns = namespace_of(repo)
    pk, sk = keys.quota_pk(ns), keys.blob_link_sk(digest)
    try:
        held = NsBlobItem.get(pk, sk, consistent_read=True)
    except DoesNotExist:
        return
    n, size = int(held.nrefs or 0), int(held.size or 0)
    if n > 1:
        t.update(NsBlobItem(pk, sk), actions=[NsBlobItem.nrefs.add(-1)], condition=NsBlobItem.nrefs == n)
        return
    t.delete(NsBlobItem(pk, sk), condition=NsBlobItem.nrefs == n)
    t.update(_meta(ns), actions=[QuotaItem.stored.add(-size), QuotaItem.room.set((QuotaItem.room | NO_LIMIT) + size),
                                 QuotaItem.soft_room.set((QuotaItem.soft_room | NO_LIMIT) + size)])
    _changed(t, ns, -size)


class DynamoQuotaStore:
    def get_quota(self, namespace: str) -> QuotaRecord:
        try:
            it = QuotaItem.get(keys.quota_pk(namespace), keys.META_SK, consistent_read=True)
        except DoesNotExist:
            return QuotaRecord(namespace)
        return QuotaRecord(namespace, None if it.quota is None else int(it.quota),
                           None if it.soft is None else int(it.soft), int(it.stored or 0))

    def storage_days(self, namespace: str) -> list[StorageDay]:
        return [StorageDay(it.sk[len(DAY_PREFIX):], int(it.bytes or 0), int(it.weighted or 0))
                for it in StorageDayItem.query(keys.quota_pk(namespace), StorageDayItem.sk.startswith(DAY_PREFIX),
                                               consistent_read=True)]

    def set_quota(self, namespace: str, quota: Optional[int], soft: Optional[int]) -> QuotaRecord:
        """Read `stored`, then write the limits and both rooms while `stored` is unchanged."""
        while True:
            stored = self.get_quota(namespace).stored
            actions: list[Any] = [QuotaItem.quota.set(quota) if quota is not None else QuotaItem.quota.remove(),
                       QuotaItem.soft.set(soft) if soft is not None else QuotaItem.soft.remove(),
                       QuotaItem.room.set((quota if quota is not None else NO_LIMIT) - stored),
                       QuotaItem.soft_room.set((soft if soft is not None else NO_LIMIT) - stored)]
            cond = (QuotaItem.stored.does_not_exist() | (QuotaItem.stored == 0)) if not stored \
                else QuotaItem.stored == stored
            if conditional(lambda: _meta(namespace).update(actions=actions, condition=cond)):
                return QuotaRecord(namespace, quota, soft, stored)
