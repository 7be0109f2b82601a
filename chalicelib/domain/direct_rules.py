"""Direct uploads: the plan request's schema and S3's numbers (parts, sizes, checksums)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from typing import Any

from ..oci import json_input
from ..oci.digest import parse_digest
from ..oci.errors import RegistryError
from ..storage import keys
from ..storage.ports import UploadSession

MIB = 1024 * 1024
MIN_PART = 5 * MIB            # S3's smallest part (but the last)
MAX_PART = 5 * 1024 * MIB     # S3's largest part
MAX_PARTS = 10_000            # S3's most parts per upload
MAX_SIZE = 5 * 1024 * 1024 * MIB  # S3's largest object
OPEN = -1                     # direct_size of a plan without a size: fixed from ListParts at the close
PLAN_PARTS_MAX = 1000         # URLs per plan answer: keeps it far below Lambda's 6 MB response
_B64_SHA256 = re.compile(r"[A-Za-z0-9+/]{43}=")

_PLAN_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "size": {"type": "integer", "minimum": 0, "maximum": MAX_SIZE},
        "digest": {"type": "string", "maxLength": 200},
        "partSize": {"type": "integer", "minimum": MIN_PART, "maximum": MAX_PART},
        "parts": {"type": "array", "maxItems": PLAN_PARTS_MAX, "items": {
            "type": "object", "additionalProperties": False, "required": ["number", "sha256"],
            "properties": {"number": {"type": "integer", "minimum": 1, "maximum": MAX_PARTS},
                           "size": {"type": "integer", "minimum": 0, "maximum": MAX_PART},
                           "sha256": {"type": "string", "maxLength": 64}}}},
    },
}
_validator: Any = None


def invalid(reason: str, **extra: Any) -> RegistryError:
    return RegistryError("BLOB_UPLOAD_INVALID", {"reason": reason, **extra})


def parse_plan(body: bytes) -> dict:
    """The plan request, validated by schema (fastjsonschema compiled on first use)."""
    global _validator
    import fastjsonschema

    if _validator is None:
        _validator = fastjsonschema.compile(_PLAN_SCHEMA)
    try:
        doc = json_input.loads(body or b"null", floats=False)  # sizes and part numbers are integers
    except ValueError as exc:
        raise invalid(f"the plan body must be strict JSON: {exc}") from None
    try:
        _validator(doc)
    except fastjsonschema.JsonSchemaException as exc:
        raise invalid(f"bad plan request: {exc}") from None
    for part in doc.get("parts", []):
        if not _B64_SHA256.fullmatch(part["sha256"]):
            raise invalid("sha256 must be the standard base64 of a 32-byte SHA-256", part=part["number"])
    if "digest" in doc:
        sha256_only(doc["digest"])
    return doc


_SHA256_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")


def sha256_only(digest: str) -> None:
    parse_digest(digest)  # its own reasons for malformed digests first
    if not _SHA256_DIGEST.fullmatch(digest):  # fullmatch: no trailing newline slips through
        raise RegistryError("DIGEST_INVALID", {"digest": digest, "reason": "direct uploads take sha256 "
                                               "digests (S3 checks SHA-256); use a chunked upload"})


def b64_sha256(digest: str) -> str:
    """S3's form of a sha256 digest: the raw 32 bytes in base64."""
    return base64.b64encode(binascii.unhexlify(digest.split(":", 1)[1])).decode()


def composite_sha256(checksums: list) -> str:
    """S3's checksum of a multipart object from its parts' SHA-256s (base64): the SHA-256
    of their concatenated digests, "-" and the part count."""
    joined = b"".join(base64.b64decode(c) for c in checksums)
    return f"{base64.b64encode(hashlib.sha256(joined).digest()).decode()}-{len(checksums)}"


def data_key(s: UploadSession) -> str:
    """Where the session's bytes go: the blob's own key (a multipart plan made with the
    digest, completed there only if no object is) or the staging key under uploads/."""
    return s.direct_key or keys.upload_data_key(s.upload_id)


def default_part_size(size: int, preferred: int) -> int:
    """`preferred`, raised (to whole MiB) so the blob fits S3's 10,000 parts."""
    need = math.ceil(size / MAX_PARTS / MIB) * MIB
    return max(preferred, need, MIN_PART)


def part_count(s: UploadSession) -> int:
    if s.direct_size == OPEN:
        return MAX_PARTS
    return max(1, math.ceil(s.direct_size / s.part_size))


def part_length(s: UploadSession, number: int) -> int:
    if s.direct_size == OPEN:
        return s.part_size
    return min(s.part_size, s.direct_size - (number - 1) * s.part_size)


def open_size(s: UploadSession, held: list) -> int:
    """The size of an open upload from the parts S3 holds: 1…n without gaps, each of
    partSize but the last (1 … partSize bytes). Raises with what is wrong."""
    numbers = [n for n, _, _, _ in held]
    if not numbers:
        raise invalid("no parts were uploaded", missing=[1])
    last = max(numbers)
    missing = sorted(set(range(1, last + 1)) - set(numbers))
    if missing:
        raise invalid("parts are missing: upload them, then close again",
                      missing=missing[:PLAN_PARTS_MAX], missingCount=len(missing))
    sizes = {n: size for n, size, _, _ in held}
    wrong = [n for n in range(1, last) if sizes[n] != s.part_size]
    if wrong or not 0 < sizes[last] <= s.part_size:
        raise invalid("every part but the last must be partSize bytes: upload them again",
                      parts=(wrong or [last])[:PLAN_PARTS_MAX], partSize=s.part_size)
    return (last - 1) * s.part_size + sizes[last]
