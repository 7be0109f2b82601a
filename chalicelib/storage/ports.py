"""Storage ports: what the use cases need from metadata and blob storage.

The records are plain dataclasses so the domain never sees pynamodb or boto3.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Protocol, Sequence, Union

# Ports kept in modules of their own, importable from here like the rest.
from .accounts_ports import AccountRecord, AccountStore, NamespaceRoster, RosterMember, RosterRobot  # noqa: F401
from .lifecycle_ports import (INDEX_MEDIA_TYPES, DueExpiry, ManifestEntry, TagEntry,  # noqa: F401
                              TagLifecycleStore)


@dataclass
class ManifestRecord:
    """A manifest stored in a repository (bytes inline or in S3)."""

    repo: str
    digest: str
    media_type: str
    size: int
    body: Optional[bytes] = None
    s3_key: Optional[str] = None
    subject: Optional[str] = None
    artifact_type: Optional[str] = None
    annotations: Optional[dict] = None


@dataclass
class TagRecord:
    """A tag with a denormalised copy of its manifest, so a pull by tag is one read."""

    repo: str
    tag: str
    digest: str
    media_type: str
    size: int
    body: Optional[bytes] = None
    s3_key: Optional[str] = None
    expires_at: Optional[int] = None  # epoch seconds; reads treat it as gone from then on


# What a manifest read serves: the manifest's own record or a tag's denormalised copy of it.
StoredManifest = Union[ManifestRecord, TagRecord]


@dataclass
class TagWrite:
    """How a manifest put writes its tag under the repository's tag policy
    (domain/tag_policy.py): the policy revision it was decided under (None: the
    repository has none; the write fails with PolicyChanged otherwise), whether
    the tag is immutable (an existing tag may then only be rewritten with the same
    digest, else TagImmutable), and when it expires."""

    policy_rev: Optional[int] = None
    immutable: bool = False
    expires_at: Optional[int] = None


class PolicyChanged(Exception):
    """The repository's tag policy is not the revision a write was decided under."""


class TagImmutable(Exception):
    """An immutable tag already names another manifest."""


@dataclass
class BlobLink:
    """A blob as seen from one repository."""

    repo: str
    digest: str
    size: int
    s3_key: str


@dataclass
class UploadSession:
    """A chunked upload in progress."""

    upload_id: str
    repo: str
    offset: int = 0
    hash_state: bytes = b""
    mpu_id: Optional[str] = None
    parts: list = field(default_factory=list)  # [[part_number, etag], ...]
    tail_key: Optional[str] = None
    tail_size: int = 0
    tail_inline: Optional[bytes] = None
    expires: int = 0
    # Direct-to-S3 uploads (domain/direct.py, direct_close.py): the method ("put" or "multipart") once
    # planned, the declared size and digest, the part size; while closing, the state
    # ("verifying", "copying"), the SHA-256 state of the bytes hashed so far (`offset`
    # counts them) and the multipart copy to the blob's key.
    direct: Optional[str] = None
    direct_size: int = 0
    direct_digest: Optional[str] = None
    part_size: int = 0
    direct_state: Optional[str] = None
    verify_state: bytes = b""
    copy_mpu_id: Optional[str] = None
    copy_parts: list = field(default_factory=list)  # [[part_number, etag], ...]
    # A multipart plan made with the digest known uploads straight to the blob's key
    # (`direct_key`; None: the staging key) and completes there if nothing is (no copy);
    # `direct_etag` is the completed object's ETag, so a refusal deletes only that object.
    direct_key: Optional[str] = None
    direct_etag: Optional[str] = None


def missing_object(exc: BaseException) -> bool:
    """True when a BlobStore call failed because its object or multipart upload is gone.
    Adapters raise S3's error shape (`.response["Error"]["Code"]`), the fake included."""
    response = getattr(exc, "response", None)
    code = (response.get("Error") or {}).get("Code") if isinstance(response, dict) else None
    return code in ("NoSuchKey", "NoSuchUpload", "NotFound", "404")


def taken(exc: BaseException) -> bool:
    """True when a conditional write (If-None-Match, If-Match) found another object."""
    response = getattr(exc, "response", None)
    code = (response.get("Error") or {}).get("Code") if isinstance(response, dict) else None
    return code in ("PreconditionFailed", "412")


class ReferenceMissing(Exception):
    """A manifest put named blobs or manifests the repository does not have."""

    def __init__(self, blobs: list[str], manifests: list[str]) -> None:
        super().__init__(f"missing blobs {blobs} manifests {manifests}")
        self.blobs = blobs
        self.manifests = manifests


@dataclass(eq=False)
class TransactionPart:
    """Writes another store of the same backend adds to a manifest's transaction, so they
    commit with the manifest or not at all (the Helm index entry of a chart: domain/helm.py).

    `add(txn)` puts its `ops` operations into the backend's transaction (DynamoDB: a
    pynamodb TransactWrite; the in-memory fake: a list it appends `(check, apply)` pairs
    to, `check()` False meaning refused). When one of its conditions fails, the whole
    write is refused and the store raises PartRefused(part).
    """

    add: Callable[[Any], None]
    ops: int
    what: str   # for logs: what would have been written


class PartRefused(Exception):
    """A TransactionPart's condition failed: nothing of the manifest write happened."""

    def __init__(self, part: TransactionPart) -> None:
        super().__init__(f"refused: {part.what}")
        self.part = part


class MetadataStore(Protocol):
    """Tags, manifests, blob links, repositories and upload sessions."""

    def get_tag(self, repo: str, tag: str) -> Optional[TagRecord]: ...
    def get_manifest(self, repo: str, digest: str) -> Optional[ManifestRecord]: ...
    def put_manifest(
        self, manifest: ManifestRecord, tag: Optional[str], blobs: list[str], manifests: list[str],
        tag_write: Optional[TagWrite] = None, parts: Sequence[TransactionPart] = (),
    ) -> None: ...
    def get_derived(self, repo: str, source_digest: str, media_type: str) -> Optional[ManifestRecord]: ...
    def put_derived(self, source_digest: str, media_type: str, derived: ManifestRecord) -> None: ...
    def delete_tag(self, repo: str, tag: str) -> bool: ...
    def delete_manifest(self, repo: str, digest: str) -> bool: ...
    def list_tags(self, repo: str, n: int, last: Optional[str]) -> tuple[list[str], bool]: ...
    def repo_exists(self, repo: str) -> bool: ...
    def list_repos(self, n: int, last: Optional[str]) -> tuple[list[str], bool]: ...
    def referrers(self, repo: str, subject: str, limit: int,
                  after: Optional[str] = None) -> tuple[list[ManifestRecord], bool]: ...
    def get_blob_link(self, repo: str, digest: str) -> Optional[BlobLink]: ...
    def get_blob(self, digest: str) -> Optional[BlobLink]: ...
    def find_blob_link(self, repos: list[str], digest: str) -> Optional[BlobLink]: ...
    # `written_at`: when the caller started writing the bytes (BlobCollected if a collection took
    # them since). `upload_id`: the finished upload session, deleted with the link (one write,
    # not two); when the link existed already, nothing is written and the caller drops the session.
    def link_blob(self, repo: str, digest: str, size: int, s3_key: str,
                  written_at: Optional[float] = None, upload_id: Optional[str] = None) -> bool: ...
    def unlink_blob(self, repo: str, digest: str) -> bool: ...
    def put_v1_images(self, repo: str, images: list) -> None: ...
    def get_v1_image(self, image_id: str) -> list: ...
    def create_upload(self, session: UploadSession) -> None: ...
    def get_upload(self, upload_id: str) -> Optional[UploadSession]: ...
    def save_upload(self, session: UploadSession, expected_offset: int) -> bool: ...
    def delete_upload(self, upload_id: str) -> None: ...
    # direct uploads
    def start_direct(self, session: UploadSession) -> bool: ...
    def mark_verifying(self, repo: str, digest: str, upload_id: str, expires: int) -> None: ...
    def clear_verifying(self, repo: str, digest: str) -> None: ...
    def verifying(self, repo: str, digests: list[str]) -> list[str]: ...


class BlobStore(Protocol):
    """Object storage for blob bytes, oversized manifests and upload parts."""

    def put(self, key: str, data: bytes) -> None: ...
    # `size` bytes read from file-like `body` as they come (read once, never replayed)
    def put_stream(self, key: str, body: Any, size: int) -> None: ...
    def get(self, key: str) -> bytes: ...
    # one listing page: (key, size, last modified epoch) after `after` in key order; more follow?
    def list_keys(self, prefix: str, after: str, n: int) -> tuple[list[tuple[str, int, float]], bool]: ...
    def size(self, key: str) -> Optional[int]: ...  # None: no such object
    def delete(self, key: str) -> None: ...
    # `size` picks the copy: one CopyObject up to 5 GiB, a managed multipart copy beyond.
    def copy(self, src: str, dst: str, size: int = 0) -> None: ...
    def presign_get(self, key: str, ttl: int) -> str: ...
    def create_multipart(self, key: str) -> str: ...
    def upload_part(self, key: str, mpu_id: str, number: int, data: bytes) -> str: ...
    def complete_multipart(self, key: str, mpu_id: str, parts: list) -> None: ...
    def abort_multipart(self, key: str, mpu_id: str) -> None: ...
    # direct uploads: URLs carry the SHA-256 (base64) and length S3 must see
    def presign_put_sha256(self, key: str, sha256_b64: str, size: int, ttl: int) -> str: ...
    def create_multipart_sha256(self, key: str) -> str: ...
    def presign_part_sha256(self, key: str, mpu_id: str, number: int, sha256_b64: str,
                            size: int, ttl: int) -> str: ...
    def list_parts(self, key: str, mpu_id: str) -> Optional[list]: ...
    # fresh: complete only if no object is at `key` (else an exception, `taken`); the ETag
    def complete_multipart_sha256(self, key: str, mpu_id: str, parts: list, fresh: bool = False) -> str: ...
    def delete_if(self, key: str, etag: str) -> None: ...  # only that version of the object
    def head_sha256(self, key: str) -> Optional[tuple[int, Optional[str]]]: ...
    def read_range(self, key: str, start: int, length: int) -> Iterator[bytes]: ...
    def copy_fresh(self, src: str, dst: str) -> bool: ...  # False: `src` does not exist
    def copy_part(self, src: str, dst: str, mpu_id: str, number: int, start: int, end: int) -> str: ...


# -- web UI reads (chalicelib/ui) ---------------------------------------------
@dataclass
class UiTagRecord(TagRecord):
    """A tag as the UI lists it: with when it was pushed (None before that was recorded)."""

    pushed: Optional[int] = None


@dataclass
class RepoStats:
    """A repository as the list shows it: last (else first) push, and the bytes of its linked
    blobs (None when its counter does not cover its whole life: created before it existed)."""

    pushed: Optional[int] = None
    stored: Optional[int] = None


# A tag page reads at most this many times its size of tag items: expired tags are skipped,
# but a long run of them ends the page early (with a cursor) instead of reading on unbounded.
TAG_PAGE_READ_FACTOR = 4


class UiReads(Protocol):
    """Read-only queries the web UI needs beyond the distribution API's."""

    def tag_items(self, repo: str, n: int, last: Optional[str]) -> tuple[list[UiTagRecord], Optional[str]]:
        """Up to `n` live tags after `last` with their denormalised manifests (one Query when
        none has expired; at most TAG_PAGE_READ_FACTOR × (n + 1) items read), and the tag to go
        on from (None at the end). A page cut short by expired tags may hold fewer than `n`."""
    def last_pushes(self, repos: list[str]) -> dict[str, int]:
        """When each repository was last pushed to (one BatchGetItem; missing ones left out)."""
    def repo_stats(self, repos: list[str]) -> dict[str, RepoStats]:
        """Last push and stored bytes of each repository (one BatchGetItem; missing ones left out)."""
    def repo_visibility(self, repo: str) -> Optional[bool]:
        """None when nothing was ever pushed (nor visibility set), else whether it is public."""
