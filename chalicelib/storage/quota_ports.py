"""Namespace quotas (docs/lifecycle.md#quotas): bytes stored per namespace, a blob counted
once per namespace however many of its repositories link it.

The MetadataStore keeps the count in the transaction that links or unlinks a blob (a
namespace blob item counts the namespace's links to it; the first adds its size to the
namespace's `stored`, the last takes it off), under the condition that the quota is not
exceeded (QuotaExceeded); a manifest put is refused while the namespace is over its quota.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional, Protocol

from ..oci.errors import RegistryError

_warning = threading.local()   # per request thread: what the last commit said about the soft limit


def namespace_of(repo: str) -> str:
    """The first path component owns a repository (as auth/policy.py says)."""
    return repo.split("/", 1)[0]


class QuotaExceeded(RegistryError):
    """Storing `size` more bytes would take `namespace` over `quota` (it holds `stored`):
    403 DENIED, whose message and detail name the quota and the usage."""

    def __init__(self, namespace: str, quota: int, stored: int, size: int) -> None:
        what = f"this blob ({size} bytes) would take it over" if size else "it is over"
        super().__init__("DENIED", {"reason": "namespace quota exceeded", "namespace": namespace, "quota": quota,
                                    "stored": stored, "size": size},
                         message=f"namespace {namespace} stores {stored} of its {quota} bytes quota: {what}")
        self.namespace, self.quota, self.stored, self.size = namespace, quota, stored, size


@dataclass
class QuotaRecord:
    namespace: str
    quota: Optional[int] = None   # bytes; None: unlimited
    soft: Optional[int] = None    # bytes; over it pushes are accepted with a warning
    stored: int = 0


def note_warning(record: Optional[QuotaRecord]) -> None:
    """Set by the store at each blob link and manifest put: the namespace's usage when the
    write took it over its soft limit, else None."""
    _warning.record = record


def take_warning() -> Optional[QuotaRecord]:
    """What the last write on this thread said (and forget it)."""
    record = getattr(_warning, "record", None)
    _warning.record = None
    return record


@dataclass
class StorageDay:
    """What changed a namespace's stored bytes on one UTC day: the sum of the sizes added
    (minus removed) `bytes`, and of each size times the epoch second it changed `weighted`.
    From these the bytes stored at any moment and their integral over time follow
    (domain/storage_usage.py)."""

    day: str
    bytes: int = 0
    weighted: int = 0


def day_of(ts: float) -> str:
    import time as _time

    return _time.strftime("%Y-%m-%d", _time.gmtime(ts))


class QuotaStore(Protocol):
    def get_quota(self, namespace: str) -> QuotaRecord:
        """One consistent read (an unknown namespace: no limits, nothing stored)."""
    def set_quota(self, namespace: str, quota: Optional[int], soft: Optional[int]) -> QuotaRecord:
        """Set (None: remove) the hard and soft limits; `stored` is left alone."""
    def storage_days(self, namespace: str) -> list[StorageDay]:
        """Every day the namespace's stored bytes changed, in order (one Query)."""
