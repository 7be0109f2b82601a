"""Blob use cases: stat, presigned URL, unlink, and the two ways of adding a blob without
an upload session (cross-repository mount, monolithic POST)."""
from __future__ import annotations

import time
from typing import Optional

from ..oci.digest import compute, parse_digest
from ..oci.errors import RegistryError
from ..oci.names import validate_name
from ..storage import keys
from ..storage.gc_ports import BlobCollected
from ..storage.ports import BlobLink
from .gc import collected_meanwhile
from .registry_base import RegistryBase

# Automatic mounts look in at most this many readable repositories (one BatchGetItem).
MAX_MOUNT_CANDIDATES = 100


class BlobsMixin(RegistryBase):
    """Blobs as linked to a repository (bytes in S3 are content addressed and shared)."""

    def stat_blob(self, repo: str, digest: str) -> BlobLink:
        """The repository's link to a blob (one read, no S3)."""
        validate_name(repo)
        parse_digest(digest, code="DIGEST_INVALID")
        link = self.meta.get_blob_link(repo, digest)
        if link is None:
            raise RegistryError("BLOB_UNKNOWN", {"name": repo, "digest": digest})
        return link

    def blob_url(self, repo: str, digest: str) -> tuple[BlobLink, str]:
        """The link and a presigned GET URL (presigning makes no API call)."""
        link = self.stat_blob(repo, digest)
        return link, self.blobs.presign_get(link.s3_key, self.settings.presign_ttl)

    def delete_blob(self, repo: str, digest: str) -> None:
        """Unlink a blob from a repository (bytes stay for other repositories and GC)."""
        validate_name(repo)
        parse_digest(digest, code="DIGEST_INVALID")
        if not self.meta.unlink_blob(repo, digest):
            raise RegistryError("BLOB_UNKNOWN", {"name": repo, "digest": digest})

    def _try_mount(self, repo: str, digest: str, mount_from: Optional[str],
                   candidates: Optional[list[str]]) -> bool:
        try:
            parse_digest(digest)
        except RegistryError:
            return False  # a bad mount digest just means a normal upload
        source, looked = None, time.time()
        if mount_from:
            try:
                validate_name(mount_from)
            except RegistryError:
                return False
            source = self.meta.get_blob_link(mount_from, digest)
        elif not self.settings.automatic_mount:
            return False
        elif candidates is None:
            source = self.meta.get_blob(digest)
        elif candidates:
            source = self.meta.find_blob_link(candidates[:MAX_MOUNT_CANDIDATES], digest)
        if source is None:
            return False
        try:
            self.meta.link_blob(repo, digest, source.size, source.s3_key, looked)
        except BlobCollected:
            return False   # collected meanwhile: the client uploads it
        return True

    def _put_whole(self, repo: str, digest: str, body: bytes) -> str:
        want = parse_digest(digest)
        actual = compute(body, want.algorithm)
        if actual != digest:
            raise RegistryError("DIGEST_INVALID", {"expected": digest, "actual": actual})
        key = keys.blob_key(digest)
        for attempt in (1, 2):   # a collection deleting these very bytes meanwhile: write them again
            written = time.time()
            self.blobs.put(key, body)
            try:
                self.meta.link_blob(repo, digest, len(body), key, written)
                break
            except BlobCollected:
                if attempt == 2:
                    raise collected_meanwhile(digest) from None
        self.notify.uploaded(repo, len(body))
        return digest
