"""The registry's use cases, written against the storage ports only.

Every public method is one operation of the distribution API; routes call
exactly one of them and render the result.
"""
from __future__ import annotations

from .registry_base import ManifestResult, Page, RegistryBase, UploadResult
from .registry_blobs import MAX_MOUNT_CANDIDATES, BlobsMixin
from .registry_listings import ListingsMixin, live_tags
from .registry_manifests import MAX_CONFIG_BYTES, MAX_REFERRER_ANNOTATIONS_BYTES, ManifestsMixin
from .registry_uploads import INLINE_TAIL_BYTES, UploadsMixin

__all__ = ["Registry", "ManifestResult", "UploadResult", "Page", "live_tags", "INLINE_TAIL_BYTES",
           "MAX_MOUNT_CANDIDATES", "MAX_CONFIG_BYTES", "MAX_REFERRER_ANNOTATIONS_BYTES"]


class Registry(ManifestsMixin, ListingsMixin, UploadsMixin, BlobsMixin, RegistryBase):
    """OCI distribution use cases over a MetadataStore and a BlobStore (registry_base.py
    holds its state; each mixin one kind of operation)."""
