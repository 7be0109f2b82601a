"""What every part of the Registry shares: its results, its collaborators, paging.

The use cases are split by kind (registry_manifests, registry_listings, registry_blobs,
registry_uploads) as mixins over RegistryBase; domain/registry.py composes them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ..storage.ports import BlobStore, MetadataStore
from .hooks import ManifestHook
from .notify import Notifier
from .tag_policy import TagRules


@dataclass
class ManifestResult:
    """A manifest as served: bytes may be None for HEAD of an S3-held manifest."""

    digest: str
    media_type: str
    size: int
    body: Optional[bytes]


@dataclass
class UploadResult:
    """Either a committed blob (`digest` set, 201) or an open session (202)."""

    digest: Optional[str] = None
    upload_id: Optional[str] = None
    offset: int = 0


@dataclass
class StagedBody:
    """A PATCH body the local server already wrote to S3 while it arrived (local/prestage.py),
    at an upload tail key of `upload_id`, with the SHA-256 state of its bytes. An upload that
    takes it as its first body marks it `adopted`; otherwise the server deletes the object."""

    upload_id: str
    key: str
    size: int
    hash_state: bytes
    adopted: bool = False


@dataclass
class Page:
    """One page of a listing and whether another follows."""

    items: list
    more: bool
    expires: Optional[dict] = None  # tags list: tag -> expiry (epoch seconds), for those that expire


class RegistryBase:
    """The state every use case reads: storage ports, settings, hooks, tag rules, notifier."""

    def __init__(self, meta: MetadataStore, blobs: BlobStore, settings: Any,
                 hooks: Sequence[ManifestHook] = (), tag_rules: Optional[TagRules] = None,
                 notify: Optional[Notifier] = None) -> None:
        self.meta = meta
        self.blobs = blobs
        self.settings = settings
        self.hooks = list(hooks)  # e.g. the Helm chart index (domain/hooks.py)
        self.tag_rules = tag_rules  # tag policies and expiry (domain/tag_policy.py)
        self.notify = notify or Notifier()  # events after each commit, uploaded bytes (domain/notify.py)

    def page_size(self, n: Optional[int]) -> int:
        if n is None:
            return self.settings.page_size_max
        return max(0, min(n, self.settings.page_size_max))
