"""The TagLifecycleStore port (re-exported by ports.py, where the other ports are)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol


# -- tag lifecycle: policies, expiry, retention (domain/tag_policy.py, domain/retention.py)
@dataclass
class TagEntry:
    """A tag as the lifecycle sees it (expired ones included: the caller filters)."""

    tag: str
    digest: str
    pushed: Optional[int] = None
    expires_at: Optional[int] = None


# Manifest media types whose bodies retention reads (their children stay while they do).
INDEX_MEDIA_TYPES = ("application/vnd.oci.image.index.v1+json",
                     "application/vnd.docker.distribution.manifest.list.v2+json")


@dataclass
class ManifestEntry:
    """A manifest as retention sees it. `pushed` is None for conversions made on read
    and for manifests pushed before push times were kept: retention leaves those alone.
    `body` is given for image indexes and manifest lists only (retention reads their children)."""

    digest: str
    media_type: str
    pushed: Optional[int] = None
    subject: Optional[str] = None
    body: Optional[bytes] = None
    s3_key: Optional[str] = None


@dataclass
class DueExpiry:
    """An entry of the expiry index: `tag` of `repo` expires at `expires_at` (maybe stale:
    the tag may have been re-pushed or its expiry changed since)."""

    repo: str
    tag: str
    expires_at: int
    digest: Optional[str] = None  # the manifest the tag named when the entry was written


class TagLifecycleStore(Protocol):
    """Per-repository tag policies, tag expiry and the deletes retention makes."""

    def get_policy(self, repo: str) -> tuple[Optional[dict], Optional[int]]:
        """(policy document or None, revision or None when never set)."""
    def put_policy(self, repo: str, doc: Optional[dict]) -> int:
        """Replace the policy (None clears it); returns the new revision."""
    def policy_repos(self, n: int, last: Optional[str]) -> tuple[list[str], bool]:
        """Repositories that have a policy, in name order after `last`."""
    def tag_entries(self, repo: str, n: int, last: Optional[str]) -> tuple[list[TagEntry], bool]:
        """A page of tags in lexical order after `last`, with digest, push and expiry times."""
    def manifest_entries(self, repo: str, n: int, last: Optional[str]) -> tuple[list[ManifestEntry], bool]:
        """A page of the repository's manifests in digest order after `last`."""
    def set_tag_expiry(self, repo: str, tag: str, expires_at: Optional[int]) -> Optional[TagEntry]:
        """Set (or clear, None) a tag's expiry; None when there is no such tag."""
    def due_expiries(self, now: int, n: int) -> list[DueExpiry]:
        """Up to `n` expiry index entries due at `now`, earliest first."""
    def delete_tag_if(self, repo: str, tag: str, policy_rev: Optional[int]) -> bool:
        """Delete a tag while the policy is still at `policy_rev` (else PolicyChanged);
        False when there was no such tag."""
    def remove_tag(self, repo: str, tag: str, digest: Optional[str], expires_at: Optional[int] = None) -> bool:
        """Delete a tag only while it names `digest` (when given) and still expires at
        `expires_at` (when given); drops that expiry index entry either way. False: not deleted."""
    def remove_manifest(self, repo: str, digest: str, pushed: int) -> bool:
        """Delete a manifest only while its push time is still `pushed` (not re-pushed)."""
