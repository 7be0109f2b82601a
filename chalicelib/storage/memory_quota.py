"""Namespace quotas on the in-memory fake (storage/quota_ports.py): helpers the metadata fake
calls under its lock, and the QuotaStore fake."""
from __future__ import annotations

from typing import Any, Callable, Optional

import time

from .quota_ports import QuotaExceeded, QuotaRecord, StorageDay, day_of, namespace_of, note_warning

__all__ = ["QuotaExceeded", "add_link", "remove_link", "check_manifest", "MemoryQuotaStore"]


def add_link(state: Any, repo: str, digest: str, size: int) -> Callable[[], None]:
    """Check a new link against the namespace's quota (QuotaExceeded); returns the write."""
    ns = namespace_of(repo)
    held = state.ns_blobs.get((ns, digest))
    q = state.quotas.setdefault(ns, [None, None, 0])
    if held is not None:   # counted once per namespace
        def more() -> None:
            held[0] += 1
            _warn(ns, q)
        return more
    if q[0] is not None and q[2] + size > q[0]:
        raise QuotaExceeded(ns, q[0], q[2], size)

    def apply() -> None:
        state.ns_blobs[(ns, digest)] = [1, size]
        q[2] += size
        _changed(state, ns, size)
        _warn(ns, q)
    return apply


def _warn(ns: str, q: list) -> None:
    note_warning(QuotaRecord(ns, q[0], q[1], q[2]) if q[1] is not None and q[2] > q[1] else None)


def remove_link(state: Any, repo: str, digest: str) -> None:
    ns = namespace_of(repo)
    held = state.ns_blobs.get((ns, digest))
    if held is None:
        return
    held[0] -= 1
    if held[0] <= 0:
        del state.ns_blobs[(ns, digest)]
        state.quotas[ns][2] -= held[1]
        _changed(state, ns, -held[1])


def _changed(state: Any, ns: str, delta: int) -> None:
    now = int(time.time())
    day = state.ns_days.setdefault((ns, day_of(now)), [0, 0])
    day[0] += delta
    day[1] += delta * now


def check_manifest(state: Any, repo: str) -> None:
    """A manifest put is refused while the namespace is over its quota."""
    ns = namespace_of(repo)
    q = state.quotas.get(ns)
    if q is not None and q[0] is not None and q[2] > q[0]:
        raise QuotaExceeded(ns, q[0], q[2], 0)
    _warn(ns, q or [None, None, 0])


class MemoryQuotaStore:
    def __init__(self, state: Any) -> None:
        self.state = state

    def get_quota(self, namespace: str) -> QuotaRecord:
        with self.state.lock:
            q = self.state.quotas.get(namespace) or [None, None, 0]
            return QuotaRecord(namespace, q[0], q[1], q[2])

    def set_quota(self, namespace: str, quota: Optional[int], soft: Optional[int]) -> QuotaRecord:
        with self.state.lock:
            q = self.state.quotas.setdefault(namespace, [None, None, 0])
            q[0], q[1] = quota, soft
            return QuotaRecord(namespace, q[0], q[1], q[2])

    def storage_days(self, namespace: str) -> list[StorageDay]:
        with self.state.lock:
            return [StorageDay(day, b, w) for (ns, day), (b, w) in sorted(self.state.ns_days.items())
                    if ns == namespace]
