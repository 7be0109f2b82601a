"""Settings read once from the environment.

Every tunable of the deployed registry lives here so that `.chalice/config.json`
(deployed) and the local server (`make run`) set the same names.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

MIB = 1024 * 1024


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Immutable registry settings; build with `Settings.from_env()`."""

    table_name: str = "registry"
    bucket_name: str = "registry-blobs"
    region: str = "us-east-1"
    # Presigned blob URLs live this long (seconds).
    presign_ttl: int = 300
    # Manifests above this size are refused with 413.
    max_manifest_bytes: int = 4 * MIB
    # Manifests above this size are kept in S3 instead of inline in DynamoDB
    # (a DynamoDB item holds at most 400 KB, and a tag item repeats the bytes).
    inline_manifest_bytes: int = 256 * 1024
    # S3 multipart parts must be at least 5 MiB (except the last one).
    min_part_bytes: int = 5 * MIB
    # Upload sessions expire (DynamoDB TTL) after this many seconds.
    upload_ttl: int = 24 * 3600
    # Largest request body the deployment accepts (API Gateway/Lambda cap
    # when deployed); 0 means unlimited (local server without Lambda limits).
    max_request_bytes: int = 0
    # Mount a blob that exists anywhere when `mount=` comes without `from=`.
    automatic_mount: bool = True
    page_size_max: int = 1000
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "Settings":
        """Read the settings from `REGISTRY_*` environment variables."""
        return cls(
            table_name=os.environ.get("REGISTRY_TABLE", "registry"),
            bucket_name=os.environ.get("REGISTRY_BUCKET", "registry-blobs"),
            region=os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            presign_ttl=_int("REGISTRY_PRESIGN_TTL", 300),
            max_manifest_bytes=_int("REGISTRY_MAX_MANIFEST_BYTES", 4 * MIB),
            inline_manifest_bytes=_int("REGISTRY_INLINE_MANIFEST_BYTES", 256 * 1024),
            min_part_bytes=_int("REGISTRY_MIN_PART_BYTES", 5 * MIB),
            upload_ttl=_int("REGISTRY_UPLOAD_TTL", 24 * 3600),
            max_request_bytes=_int("REGISTRY_MAX_REQUEST_BYTES", 0),
            automatic_mount=_bool("REGISTRY_AUTOMATIC_MOUNT", True),
            page_size_max=_int("REGISTRY_PAGE_SIZE_MAX", 1000),
        )
