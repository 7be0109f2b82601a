"""Settings read once from the environment.

Every tunable of the deployed registry lives here so that `.chalice/config.json`
(deployed) and the local server (`make run`) set the same names.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

MIB = 1024 * 1024
# Largest chunk that fits a 6 MB Lambda payload once base64-encoded, with room for headers.
LAMBDA_CHUNK_BYTES = 4 * MIB
# The detail of the 413 a client gets when a request is over Lambda's payload cap
# (rendered by the front door, e.g. local/server.py): the cap and both ways out.
LAMBDA_BODY_LIMIT_REASON = (
    "request too large for AWS Lambda: one invocation payload (the body base64-encoded, plus "
    "headers) is capped at 6 MB, so one request carries at most about 4.4 MiB of blob. Send "
    "layers in chunks of at most 4 MiB (OCI-Chunk-Min-Length), or push through this project's "
    "client, which uploads straight to S3 (`python -m client push ...`), or point stock clients "
    "(docker, podman, skopeo, helm, oras) at its local push gateway (`python -m client gateway "
    "--registry URL`, `make gateway`); see docs/direct-upload.md")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _on_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def _bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def s3_loopback(endpoint: Optional[str]) -> bool:
    """True when the S3 client may send unsigned payloads and no automatic CRC32: the
    endpoint is this machine's loopback (the embedded S3), so nothing on the way can change
    the bytes, and hashing every byte twice more (client and server) only costs time. The
    server still checks signatures of headers and presigned URLs, and every checksum the
    registry sends explicitly (direct uploads). Never on Lambda; REGISTRY_S3_LOOPBACK=0 turns
    it off."""
    if _on_lambda() or not endpoint or not _bool("REGISTRY_S3_LOOPBACK", True):
        return False
    from ipaddress import ip_address
    from urllib.parse import urlsplit

    host = (urlsplit(endpoint).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _platform(value: str) -> tuple:
    parts = (value.strip() or "linux/amd64").split("/")
    return (parts[0], parts[1] if len(parts) > 1 else "amd64", parts[2] if len(parts) > 2 else None)


def _schema1_key() -> Optional[bytes]:
    """REGISTRY_SCHEMA1_KEY (PEM), or the file REGISTRY_SCHEMA1_KEY_FILE names when it exists
    (reading settings writes nothing: the local server creates missing keys, local/keys.py)."""
    pem = os.environ.get("REGISTRY_SCHEMA1_KEY", "")
    if pem:
        return pem.encode()
    path = os.environ.get("REGISTRY_SCHEMA1_KEY_FILE", "")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:  # unset or missing: only unsigned v1+json is offered
        return None


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
    # Running under Lambda's limits (deployed, or REGISTRY_LAMBDA_LIMITS=1 locally).
    lambda_limits: bool = False
    automatic_mount: bool = True
    page_size_max: int = 1000
    # Auth: "token" (Docker token flow, the default) or "none" (open registry,
    # for throwaway local use only).
    auth_mode: str = "token"
    service: str = "oci-registry"
    issuer: str = "oci-registry-token"
    token_ttl: int = 300
    refresh_ttl: int = 30 * 24 * 3600
    token_leeway: int = 30
    public_url: str = ""             # e.g. https://registry.example.com (else from Host)
    token_key_file: str = ""         # local: PEM private key, created when missing
    token_key_pem: str = ""          # PEM private key given directly
    token_public_key_pem: str = ""   # deployed with KMS: the key's public half (saves a call)
    kms_key_id: str = ""             # deployed: sign tokens with this KMS key (ECC_NIST_P256)
    # Conversion on read: the platform an index resolves to for clients that
    # accept no list, and the key that signs schema 1 manifests (PEM; none:
    # only unsigned v1+json is offered).
    default_platform: tuple = ("linux", "amd64", None)
    # Media types a manifest's config, layers and artifactType may use
    # (fnmatch patterns); empty: any media type (the default).
    allowed_media_types: tuple = ()
    # Manifest media types accepted beyond the built-in ones (OCI image and index,
    # Docker v2 and list, schema 1), as fnmatch patterns; their bodies must still be
    # JSON objects and their descriptors are checked like an image's. Empty: none.
    extra_manifest_types: tuple = ()
    schema1_key_pem: Optional[bytes] = None
    # Direct-to-S3 uploads (docs/direct-upload.md): offered at all; the largest blob
    # planned as one presigned PUT; the default part size; presigned URL lifetime (s);
    # the work budget of one closing call that hashes a multipart upload (s).
    direct_uploads: bool = True
    direct_put_max: int = 64 * MIB
    direct_part_size: int = 16 * MIB
    direct_url_ttl: int = 3600
    direct_verify_seconds: float = 15.0
    # Tag expiry from the image config's `quay.expires-after` label: a pushed image
    # manifest's config is read (one S3 GetObject) when the push names a tag.
    expiry_labels: bool = True
    # Garbage collection (docs/lifecycle.md): how long a link nothing references is kept (s).
    gc_grace: int = 86400
    # The scheduled run sweeps orphaned objects (a listing of blobs/) in this UTC hour; -1: never.
    gc_sweep_hour: int = 3
    # Metering (docs/metering.md): counts are flushed by a background thread when the
    # oldest is this old (s) or this many are pending.
    metering: bool = True
    usage_flush_seconds: float = 60.0
    usage_flush_events: int = 1000
    # Events (docs/events.md): the EventBridge bus (empty: none), webhook delivery attempts,
    # first backoff (s, doubled each time) and per-attempt timeout (s); how long a Lambda
    # handler waits for queued events before returning; whether webhooks may target
    # loopback/private addresses and plain http (default: only when not on Lambda).
    event_bus: str = ""
    webhook_attempts: int = 4
    webhook_backoff: float = 1.0
    webhook_timeout: float = 3.0
    events_wait: float = 0.0
    webhook_allow_private: bool = True

    @property
    def chunk_min_length(self) -> int:
        """What to advertise as OCI-Chunk-Min-Length.

        S3 parts want 5 MiB, but under Lambda a request carries at most ~4.4 MiB
        of blob (6 MB payload, base64), so there the advertised size must fit.
        """
        return LAMBDA_CHUNK_BYTES if self.lambda_limits else self.min_part_bytes

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
            lambda_limits=_bool("REGISTRY_LAMBDA_LIMITS") or bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")),
            automatic_mount=_bool("REGISTRY_AUTOMATIC_MOUNT", True),
            page_size_max=_int("REGISTRY_PAGE_SIZE_MAX", 1000),
            auth_mode=os.environ.get("REGISTRY_AUTH", "token").strip().lower() or "token",
            service=os.environ.get("REGISTRY_SERVICE", "oci-registry"),
            issuer=os.environ.get("REGISTRY_TOKEN_ISSUER", "oci-registry-token"),
            token_ttl=_int("REGISTRY_TOKEN_TTL", 300),
            refresh_ttl=_int("REGISTRY_REFRESH_TTL", 30 * 24 * 3600),
            token_leeway=_int("REGISTRY_TOKEN_LEEWAY", 30),
            public_url=os.environ.get("REGISTRY_PUBLIC_URL", "").rstrip("/"),
            token_key_file=os.environ.get("REGISTRY_TOKEN_KEY_FILE", ""),
            token_key_pem=os.environ.get("REGISTRY_TOKEN_KEY", ""),
            token_public_key_pem=os.environ.get("REGISTRY_TOKEN_PUBLIC_KEY", ""),
            kms_key_id=os.environ.get("REGISTRY_KMS_KEY_ID", ""),
            allowed_media_types=tuple(p.strip() for p in os.environ.get("REGISTRY_ALLOWED_MEDIA_TYPES", "").split(",")
                                      if p.strip()),
            extra_manifest_types=tuple(p.strip().lower() for p in os.environ.get(
                "REGISTRY_EXTRA_MANIFEST_TYPES", "").split(",") if p.strip()),
            default_platform=_platform(os.environ.get("REGISTRY_DEFAULT_PLATFORM", "linux/amd64")),
            schema1_key_pem=_schema1_key(),
            direct_uploads=_bool("REGISTRY_DIRECT_UPLOADS", True),
            direct_put_max=_int("REGISTRY_DIRECT_PUT_MAX", 64 * MIB),
            direct_part_size=_int("REGISTRY_DIRECT_PART_SIZE", 16 * MIB),
            direct_url_ttl=_int("REGISTRY_DIRECT_URL_TTL", 3600),
            direct_verify_seconds=float(os.environ.get("REGISTRY_DIRECT_VERIFY_SECONDS") or 15.0),
            expiry_labels=_bool("REGISTRY_EXPIRY_LABELS", True),
            gc_grace=_int("REGISTRY_GC_GRACE", 86400),
            gc_sweep_hour=_int("REGISTRY_GC_SWEEP_HOUR", 3),
            metering=_bool("REGISTRY_METERING", True),
            usage_flush_seconds=_float("REGISTRY_USAGE_FLUSH_SECONDS", 60.0),
            usage_flush_events=_int("REGISTRY_USAGE_FLUSH_EVENTS", 1000),
            event_bus=os.environ.get("REGISTRY_EVENT_BUS", "").strip(),
            webhook_attempts=_int("REGISTRY_WEBHOOK_ATTEMPTS", 4),
            webhook_backoff=_float("REGISTRY_WEBHOOK_BACKOFF", 1.0),
            webhook_timeout=_float("REGISTRY_WEBHOOK_TIMEOUT", 3.0),
            events_wait=_float("REGISTRY_EVENTS_WAIT", 2.0 if _on_lambda() else 0.0),
            webhook_allow_private=_bool("REGISTRY_WEBHOOK_ALLOW_PRIVATE", not _on_lambda()),
        )


# A synchronous Lambda invocation carries at most 6 MB of event and 6 MB of response.
LAMBDA_PAYLOAD_BYTES = 6 * MIB
# Bodies that are not blob uploads (tokens, manifests, admin) are capped
# as deployed, by every server: nothing needs more, and nothing is read whole.
NON_UPLOAD_BODY_BYTES = 6 * MIB


@dataclass(frozen=True)
class FrontDoor:
    """What a front door accepts before and after the Lambda (AWS quotas, 2026)."""

    name: str
    payload: str                 # event format sent to the function: "2.0" or "1.0"
    max_request_body: int        # the front door's own body cap (then Lambda's 6 MB event)
    max_response: int            # largest response the function may return
    timeout: float               # seconds before the client gets 504
    max_header_bytes: int        # request line + headers (0: no documented cap)


FRONT_DOORS: dict[str, FrontDoor] = {
    # Function URL, BUFFERED: the Lambda invoke limits (6 MB each way), the
    # function's timeout (15 min at most).
    "function-url": FrontDoor("function-url", "2.0", LAMBDA_PAYLOAD_BYTES, LAMBDA_PAYLOAD_BYTES, 900.0, 0),
    # HTTP API: 10 MB payload, 30 s integration timeout, 10240 bytes of request
    # line and headers; a Lambda integration still answers at most 6 MB.
    "http-api": FrontDoor("http-api", "2.0", 10 * 1000 * 1000, LAMBDA_PAYLOAD_BYTES, 30.0, 10240),
    # REST API: 10 MB payload, 29 s integration timeout, 10240 bytes of headers.
    "rest": FrontDoor("rest", "1.0", 10 * 1000 * 1000, LAMBDA_PAYLOAD_BYTES, 29.0, 10240),
}
DEFAULT_FRONT = "function-url"


def front_door(name: Optional[str] = None) -> FrontDoor:
    """The front door named (default: REGISTRY_FRONT, else the Function URL)."""
    key = (name or os.environ.get("REGISTRY_FRONT") or DEFAULT_FRONT).strip().lower()
    if key not in FRONT_DOORS:
        raise ValueError(f"REGISTRY_FRONT must be one of {', '.join(FRONT_DOORS)}, not {key!r}")
    return FRONT_DOORS[key]
