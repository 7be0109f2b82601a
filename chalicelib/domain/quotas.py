"""Namespace quotas: the admin use cases (GET/PUT /admin/quotas/<ns>, `client quota`) and
the soft limit's warning after a commit (docs/lifecycle.md#quotas). Enforcement is in the
MetadataStore's transactions (storage/quota_ports.py)."""
from __future__ import annotations

from typing import Any, Optional

from ..auth.policy import Principal, can_administer
from ..oci.errors import RegistryError
from ..oci.names import validate_name
from ..storage.quota_ports import QuotaRecord, QuotaStore, take_warning

WARNING_HEADER = "X-Registry-Quota-Warning"


def as_doc(rec: QuotaRecord) -> dict:
    return {"namespace": rec.namespace, "quota": rec.quota, "soft": rec.soft, "stored": rec.stored,
            "overSoft": rec.soft is not None and rec.stored > rec.soft,
            "overQuota": rec.quota is not None and rec.stored > rec.quota}


def warning_text(rec: QuotaRecord) -> str:
    return f"namespace {rec.namespace} stores {rec.stored} bytes, over its soft limit of {rec.soft} bytes"


def after_commit(notify: Any) -> Optional[str]:
    """The header value when the commit just made on this thread crossed the soft limit
    (and a quota.warning event for it); None otherwise."""
    rec = take_warning()
    if rec is None:
        return None
    notify.quota_warning(rec.namespace, as_doc(rec))
    return warning_text(rec)


def forget_warning() -> None:
    take_warning()


class Quotas:
    def __init__(self, store: QuotaStore) -> None:
        self.store = store

    def get(self, actor: Principal, ns: str) -> dict:
        """The namespace's administrators (and global admins) read its quota and usage."""
        validate_name(ns)
        if actor.anonymous:
            raise RegistryError("UNAUTHORIZED", {"reason": "authentication required"})
        if not can_administer(actor, ns):
            raise RegistryError("DENIED", {"reason": "administrator rights on the namespace required",
                                           "namespace": ns})
        return as_doc(self.store.get_quota(ns))

    def set(self, actor: Principal, ns: str, quota: Optional[int], soft: Optional[int]) -> dict:
        """Global administrators set the limits (None removes one)."""
        validate_name(ns)
        if actor.anonymous:
            raise RegistryError("UNAUTHORIZED", {"reason": "authentication required"})
        if not actor.admin:
            raise RegistryError("DENIED", {"reason": "setting a quota needs a global administrator"})
        if quota is not None and soft is not None and soft > quota:
            raise RegistryError("UNSUPPORTED", {"field": "soft", "reason": "the soft limit must not exceed "
                                                "the quota"}, status=400)
        return as_doc(self.store.set_quota(ns, quota, soft))
