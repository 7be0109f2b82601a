"""Direct-to-S3 uploads (docs/direct-upload.md): plan, status, and the close that
proves the digest before anything becomes visible.

The client sends the bytes to S3 through presigned URLs that carry each
payload's SHA-256 and length, so S3 refuses corrupt bytes. Everything lands at
the session's staging key under `uploads/`; only a proven blob is copied to its
content-addressed key and linked. Pure over the storage ports.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Union

from ..storage import keys
from ..storage.ports import BlobStore, MetadataStore, UploadSession
from .digest import parse_digest
from .errors import RegistryError
from .names import validate_name

MIB = 1024 * 1024
MIN_PART = 5 * MIB            # S3's smallest part (but the last)
MAX_PART = 5 * 1024 * MIB     # S3's largest part
MAX_PARTS = 10_000            # S3's most parts per upload
MAX_SIZE = 5 * 1024 * 1024 * MIB  # S3's largest object
PLAN_PARTS_MAX = 1000         # URLs per plan answer: keeps it far below Lambda's 6 MB response
COPY_ONE_CALL = 256 * MIB     # above this, promote by parallel part copies (resumable)
COPY_PART = 256 * MIB
COPY_THREADS = 8
COPY_MARGIN_S = 5.0           # start a copy only with this much of the call's budget left
_B64_SHA256 = re.compile(r"[A-Za-z0-9+/]{43}=")

_PLAN_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["size"],
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


def _invalid(reason: str, **extra: Any) -> RegistryError:
    return RegistryError("BLOB_UPLOAD_INVALID", {"reason": reason, **extra})


def _parse_plan(body: bytes) -> dict:
    """The plan request, validated by schema (fastjsonschema compiled on first use)."""
    global _validator
    import fastjsonschema

    if _validator is None:
        _validator = fastjsonschema.compile(_PLAN_SCHEMA)
    try:
        doc = json.loads(body or b"null")
    except (ValueError, RecursionError):
        raise _invalid("the plan body must be JSON") from None
    try:
        _validator(doc)
    except fastjsonschema.JsonSchemaException as exc:
        raise _invalid(f"bad plan request: {exc.message}") from None
    for part in doc.get("parts", []):
        if not _B64_SHA256.fullmatch(part["sha256"]):
            raise _invalid("sha256 must be the standard base64 of a 32-byte SHA-256", part=part["number"])
    if "digest" in doc:
        _sha256_only(doc["digest"])
    return doc


_SHA256_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")


def _sha256_only(digest: str) -> None:
    parse_digest(digest)  # its own reasons for malformed digests first
    if not _SHA256_DIGEST.fullmatch(digest):  # fullmatch: no trailing newline slips through
        raise RegistryError("DIGEST_INVALID", {"digest": digest, "reason": "direct uploads take sha256 "
                                               "digests (S3 checks SHA-256); use a chunked upload"})


def _b64(digest: str) -> str:
    """S3's form of a sha256 digest: the raw 32 bytes in base64."""
    return base64.b64encode(binascii.unhexlify(digest.split(":", 1)[1])).decode()


def default_part_size(size: int, preferred: int) -> int:
    """`preferred`, raised (to whole MiB) so the blob fits S3's 10,000 parts."""
    need = math.ceil(size / MAX_PARTS / MIB) * MIB
    return max(preferred, need, MIN_PART)


def part_count(s: UploadSession) -> int:
    return max(1, math.ceil(s.direct_size / s.part_size))


def part_length(s: UploadSession, number: int) -> int:
    return min(s.part_size, s.direct_size - (number - 1) * s.part_size)


def _hasher(state: bytes) -> Any:
    from rehashes import PySha256  # native; only closes that hash import it

    return PySha256.deserialize(state) if state else PySha256()


class DirectUploads:
    """The direct-upload use cases over a MetadataStore and a BlobStore."""

    def __init__(self, meta: MetadataStore, blobs: BlobStore, settings: Any) -> None:
        self.meta = meta
        self.blobs = blobs
        self.settings = settings

    def _session(self, repo: str, upload_id: str) -> UploadSession:
        validate_name(repo)
        if not self.settings.direct_uploads:
            raise RegistryError("UNSUPPORTED", {"reason": "direct uploads are turned off on this registry"})
        s = self.meta.get_upload(upload_id)
        if s is None or s.repo != repo:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", {"name": repo, "uuid": upload_id})
        return s

    # -- plan -------------------------------------------------------------------
    def plan(self, repo: str, upload_id: str, body: bytes) -> dict:
        """POST …/direct: fix the method on the first call, presign URLs (no AWS call)."""
        req = _parse_plan(body)
        s = self._session(repo, upload_id)
        if s.direct is None:
            s = self._start(s, req)
        else:
            self._check_same(s, req)
        now = int(time.time())
        ttl = min(self.settings.direct_url_ttl, s.expires - now) if s.expires else self.settings.direct_url_ttl
        if ttl <= 0:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", {"name": repo, "uuid": upload_id, "reason": "expired"})
        if s.direct_state:
            raise _invalid("the upload is being closed; no more bytes can be sent", state=s.direct_state)
        key = keys.upload_data_key(upload_id)
        if s.direct == "put":
            checksum = _b64(s.direct_digest or "")
            url = self.blobs.presign_put_sha256(key, checksum, s.direct_size, ttl)
            return {"method": "put", "size": s.direct_size, "digest": s.direct_digest, "url": url,
                    "headers": {"x-amz-checksum-sha256": checksum, "Content-Length": str(s.direct_size)},
                    "expiresAt": now + ttl}
        count = part_count(s)
        parts = []
        for p in req.get("parts", []):
            number = p["number"]
            if number > count:
                raise _invalid(f"part {number} is beyond the last part ({count})", partCount=count)
            size = part_length(s, number)
            if "size" in p and p["size"] != size:
                raise _invalid(f"part {number} must be {size} bytes", part=number, size=p["size"])
            url = self.blobs.presign_part_sha256(key, s.mpu_id or "", number, p["sha256"], size, ttl)
            parts.append({"number": number, "size": size, "url": url,
                          "headers": {"x-amz-checksum-sha256": p["sha256"], "Content-Length": str(size)}})
        return {"method": "multipart", "size": s.direct_size, "partSize": s.part_size, "partCount": count,
                "parts": parts, "expiresAt": now + ttl}

    def _start(self, s: UploadSession, req: dict) -> UploadSession:
        if s.offset or s.mpu_id or s.tail_size or s.tail_inline:
            raise _invalid("this upload already received bytes through PATCH; open a new one")
        size, digest = req["size"], req.get("digest")
        s.direct_size, s.direct_digest = size, digest
        if digest and size <= min(self.settings.direct_put_max, COPY_ONE_CALL):
            s.direct = "put"
        elif size == 0:
            raise _invalid("an empty blob needs its digest (single PUT)")
        else:
            s.direct = "multipart"
            s.part_size = req.get("partSize") or default_part_size(size, self.settings.direct_part_size)
            if math.ceil(size / s.part_size) > MAX_PARTS:
                raise _invalid(f"partSize {s.part_size} needs more than {MAX_PARTS} parts",
                               minimum=default_part_size(size, MIN_PART))
            s.mpu_id = self.blobs.create_multipart_sha256(keys.upload_data_key(s.upload_id))
        if self.meta.start_direct(s):
            return s
        # Another plan (or a PATCH) got there first: answer from what it stored.
        if s.mpu_id:
            self.blobs.abort_multipart(keys.upload_data_key(s.upload_id), s.mpu_id)
        current = self._session(s.repo, s.upload_id)
        if current.direct is None:
            raise _invalid("this upload already received bytes through PATCH; open a new one")
        self._check_same(current, req)
        return current

    @staticmethod
    def _check_same(s: UploadSession, req: dict) -> None:
        clash = {}
        if req["size"] != s.direct_size:
            clash["size"] = s.direct_size
        if req.get("digest") and s.direct_digest and req["digest"] != s.direct_digest:
            clash["digest"] = s.direct_digest
        if req.get("partSize") and s.direct == "multipart" and req["partSize"] != s.part_size:
            clash["partSize"] = s.part_size
        if clash:
            raise _invalid("this upload was planned differently", planned=clash, method=s.direct)

    # -- status -----------------------------------------------------------------
    def status(self, repo: str, upload_id: str) -> dict:
        """GET …/direct: what S3 holds, so an interrupted client can resume."""
        s = self._session(repo, upload_id)
        if s.direct is None:
            return {"method": None, "state": "new"}
        out: dict = {"method": s.direct, "size": s.direct_size, "state": s.direct_state or "uploading",
                     "verified": s.offset}
        key = keys.upload_data_key(upload_id)
        if s.direct == "put":
            out["digest"] = s.direct_digest
            out["uploaded"] = s.direct_state is not None or self.blobs.head_sha256(key) is not None
            return out
        count = part_count(s)
        out.update(partSize=s.part_size, partCount=count)
        if s.direct_state:  # completed in S3: every part is there
            out["parts"] = [{"number": n, "size": part_length(s, n)} for n in range(1, count + 1)]
        else:
            held = self.blobs.list_parts(key, s.mpu_id or "") or []
            out["parts"] = [{"number": n, "size": size} for n, size, _, _ in held]
        return out

    # -- close ------------------------------------------------------------------
    def close(self, s: UploadSession, digest: str, data: bytes) -> Union[str, UploadSession]:
        """The closing PUT of a direct session: the digest once proven and committed,
        or the session (202) while verification goes on."""
        if data:
            raise _invalid("a direct upload closes with an empty body; the bytes go to S3")
        _sha256_only(digest)
        if s.direct_digest and digest != s.direct_digest:
            raise RegistryError("DIGEST_INVALID", {"reason": "the upload was planned with another digest",
                                                   "planned": s.direct_digest, "digest": digest})
        if s.direct == "put":
            return self._close_put(s, digest)
        return self._close_multipart(s, digest)

    def _close_put(self, s: UploadSession, digest: str) -> str:
        key = keys.upload_data_key(s.upload_id)
        head = self.blobs.head_sha256(key)
        if head is None:
            raise _invalid("S3 holds no bytes for this upload yet: PUT them to the planned URL", missing=[1])
        size, checksum = head
        if size != s.direct_size:
            self._discard(s)
            raise RegistryError("SIZE_INVALID", {"declared": s.direct_size, "received": size})
        if checksum != _b64(digest):
            self._discard(s)
            raise RegistryError("DIGEST_INVALID", {"expected": digest, "reason": "S3's recorded SHA-256 "
                                                   "of the uploaded bytes differs", "s3ChecksumSHA256": checksum})
        return self._commit(s, digest, time.monotonic() + self.settings.direct_verify_seconds, False)

    def _close_multipart(self, s: UploadSession, digest: str) -> Union[str, UploadSession]:
        deadline = time.monotonic() + self.settings.direct_verify_seconds
        was_pending = s.direct_state is not None
        if s.direct_state is None:
            if not self._complete(s, digest):
                return s
        if s.direct_state == "verifying":
            result = self._hash(s, digest, deadline)
            if result is not None:
                return self._pending(s, digest, was_pending)
        if s.direct_state == "copying":
            if deadline - time.monotonic() < COPY_MARGIN_S and s.direct_size > COPY_ONE_CALL:
                return self._pending(s, digest, was_pending)
            out = self._commit(s, digest, deadline, was_pending)
            if isinstance(out, UploadSession):
                return self._pending(s, digest, was_pending)
            return out
        return self._pending(s, digest, was_pending)

    def _pending(self, s: UploadSession, digest: str, was_pending: bool) -> UploadSession:
        if not was_pending:  # the first 202: let manifest PUTs say why the blob is missing
            self.meta.mark_verifying(s.repo, digest, s.upload_id, s.expires)
        return s

    def _complete(self, s: UploadSession, digest: str) -> bool:
        """Assemble the parts S3 holds at the staging key; False when a concurrent close did."""
        key = keys.upload_data_key(s.upload_id)
        held = self.blobs.list_parts(key, s.mpu_id or "")
        if held is None:
            current = self.meta.get_upload(s.upload_id)
            if current is not None and current.direct_state:
                s.__dict__.update(current.__dict__)
                return False
            self.meta.delete_upload(s.upload_id)
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", {"uuid": s.upload_id,
                                                        "reason": "the S3 multipart upload is gone (expired)"})
        count = part_count(s)
        have = {n: (size, etag, sha) for n, size, etag, sha in held}
        missing = [n for n in range(1, count + 1) if n not in have]
        if missing:
            raise _invalid("parts are missing: upload them, then close again",
                           missing=missing[:PLAN_PARTS_MAX], missingCount=len(missing))
        wrong = [n for n in range(1, count + 1) if have[n][0] != part_length(s, n)]
        if wrong:
            raise _invalid("parts have the wrong size: upload them again", parts=wrong[:PLAN_PARTS_MAX])
        self.blobs.complete_multipart_sha256(key, s.mpu_id or "", [(n, have[n][1], have[n][2])
                                                                    for n in range(1, count + 1)])
        s.direct_state, s.direct_digest, s.mpu_id, s.verify_state = "verifying", digest, None, b""
        if not self.meta.save_upload(s, s.offset):
            return False
        return True

    def _hash(self, s: UploadSession, digest: str, deadline: float) -> Optional[int]:
        """Hash the staged object from `s.offset` until done or out of time; the offset
        reached when time ran out, None when the digest is proven (state "copying")."""
        start = s.offset
        h = _hasher(s.verify_state)
        pos = start
        if pos < s.direct_size:
            stream = self.blobs.read_from(keys.upload_data_key(s.upload_id), pos)
            try:
                for chunk in stream:
                    h.update(chunk)
                    pos += len(chunk)
                    if time.monotonic() > deadline:
                        break
            finally:
                close = getattr(stream, "close", None)
                if close:
                    close()
        s.offset, s.verify_state = pos, bytes(h.serialize())
        if pos >= s.direct_size:
            actual = f"sha256:{_hasher(s.verify_state).finalize()}"
            if pos != s.direct_size:
                self._discard(s, digest)
                raise RegistryError("SIZE_INVALID", {"declared": s.direct_size, "received": pos})
            if actual != digest:
                self._discard(s, digest)
                raise RegistryError("DIGEST_INVALID", {"expected": digest, "actual": actual,
                                                       "size": s.direct_size})
            s.direct_state = "copying"
            # Small: commit in this call (a retry hashes again from `start`). Large: the copy
            # may span calls, so keep the proof.
            if s.direct_size > COPY_ONE_CALL and not self.meta.save_upload(s, start):
                return pos
            return None
        if not self.meta.save_upload(s, start):
            return pos  # a concurrent close advanced it meanwhile: its state stands
        return pos

    def _commit(self, s: UploadSession, digest: str, deadline: float,
                was_pending: bool) -> Union[str, UploadSession]:
        """Copy the proven bytes to the blob's key (unless the registry has them), link."""
        src, key = keys.upload_data_key(s.upload_id), keys.blob_key(digest)
        existing = self.meta.get_blob(digest)
        s3_key = existing.s3_key if existing else key
        if existing is None:
            if s.direct_size <= COPY_ONE_CALL:
                self.blobs.copy_fresh(src, key)
            elif not self._copy_parts(s, src, key, deadline):
                return s
        self.meta.link_blob(s.repo, digest, s.direct_size, s3_key)
        if was_pending:
            self.meta.clear_verifying(s.repo, digest)
        self.blobs.delete(src)
        self.meta.delete_upload(s.upload_id)
        return digest

    def _copy_parts(self, s: UploadSession, src: str, key: str, deadline: float) -> bool:
        """Promote a large object by parallel part copies, resumable across calls."""
        expected = s.offset
        if not s.copy_mpu_id:
            s.copy_mpu_id = self.blobs.create_multipart(key)
        done = {int(n) for n, _ in s.copy_parts}
        count = math.ceil(s.direct_size / COPY_PART)
        todo = [n for n in range(1, count + 1) if n not in done]

        def copy(n: int) -> list:
            start = (n - 1) * COPY_PART
            end = min(start + COPY_PART, s.direct_size) - 1
            return [n, self.blobs.copy_part(src, key, s.copy_mpu_id or "", n, start, end)]

        with ThreadPoolExecutor(COPY_THREADS) as pool:
            while todo and time.monotonic() < deadline - COPY_MARGIN_S / 2:
                wave, todo = todo[:COPY_THREADS], todo[COPY_THREADS:]
                s.copy_parts = [*s.copy_parts, *pool.map(copy, wave)]
        if todo:
            self.meta.save_upload(s, expected)
            return False
        self.blobs.complete_multipart(key, s.copy_mpu_id or "", sorted(s.copy_parts))
        return True

    def _discard(self, s: UploadSession, digest: Optional[str] = None) -> None:
        """Drop everything of a session whose bytes were refused: nothing stays visible."""
        key = keys.upload_data_key(s.upload_id)
        if s.mpu_id:
            self.blobs.abort_multipart(key, s.mpu_id)
        self.blobs.delete(key)
        if digest:
            self.meta.clear_verifying(s.repo, digest)
        self.meta.delete_upload(s.upload_id)
