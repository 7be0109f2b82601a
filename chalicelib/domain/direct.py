"""Direct-to-S3 uploads (docs/direct-upload.md): plan, status, and the close that
proves the digest before anything becomes visible.

The client sends the bytes to S3 through presigned URLs that carry each
payload's SHA-256 and length, so S3 refuses corrupt bytes. Everything lands at
the session's staging key under `uploads/`; only a proven blob is copied to its
content-addressed key and linked. Pure over the storage ports.
"""
from __future__ import annotations

import math
import time
from typing import Any, Optional, Union

from ..oci.errors import RegistryError
from ..oci.names import validate_name
from ..storage import keys
from ..storage.ports import BlobStore, MetadataStore, UploadSession
from .direct_close import COPY_ONE_CALL, DirectClose
from .direct_rules import (MAX_PARTS, MIN_PART, OPEN, b64_sha256, data_key, default_part_size, invalid,
                           parse_plan, part_count, part_length, sha256_only)
from .sessions import find_session


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
        return find_session(self.meta, repo, upload_id)

    # -- plan -------------------------------------------------------------------
    def plan(self, repo: str, upload_id: str, body: bytes) -> dict:
        """POST …/direct: fix the method on the first call, presign URLs (no AWS call)."""
        req = parse_plan(body)
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
            raise invalid("the upload is being closed; no more bytes can be sent", state=s.direct_state)
        key = data_key(s)
        if s.direct == "put":
            checksum = b64_sha256(s.direct_digest or "")
            url = self.blobs.presign_put_sha256(key, checksum, s.direct_size, ttl)
            return {"method": "put", "size": s.direct_size, "digest": s.direct_digest, "url": url,
                    "headers": {"x-amz-checksum-sha256": checksum, "Content-Length": str(s.direct_size)},
                    "expiresAt": now + ttl}
        count = part_count(s)
        parts = []
        for p in req.get("parts", []):
            number = p["number"]
            if number > count:
                raise invalid(f"part {number} is beyond the last part ({count})", partCount=count)
            size = part_length(s, number)
            if s.direct_size == OPEN and "size" in p and 0 < p["size"] <= size:
                size = p["size"]  # the last part of an open upload: its size is known now
            elif "size" in p and p["size"] != size:
                raise invalid(f"part {number} must be {size} bytes", part=number, size=p["size"])
            url = self.blobs.presign_part_sha256(key, s.mpu_id or "", number, p["sha256"], size, ttl)
            parts.append({"number": number, "size": size, "url": url,
                          "headers": {"x-amz-checksum-sha256": p["sha256"], "Content-Length": str(size)}})
        if s.direct_size == OPEN:
            return {"method": "multipart", "size": None, "partSize": s.part_size, "partCount": None,
                    "parts": parts, "expiresAt": now + ttl}
        return {"method": "multipart", "size": s.direct_size, "partSize": s.part_size, "partCount": count,
                "parts": parts, "expiresAt": now + ttl}

    def _start(self, s: UploadSession, req: dict) -> UploadSession:
        if s.offset or s.mpu_id or s.tail_size or s.tail_inline:
            raise invalid("this upload already received bytes through PATCH; open a new one")
        if "size" not in req and "partSize" not in req:  # an open upload names its part size
            raise invalid("the first plan gives the blob's size, or partSize for an upload of unknown size")
        size, digest = req.get("size", OPEN), req.get("digest")
        s.direct_size, s.direct_digest = size, digest
        if size == OPEN:  # the size comes from the parts at the close (at most 10,000 of partSize)
            s.direct = "multipart"
            s.part_size = req.get("partSize") or self.settings.direct_part_size
            s.direct_key = self._in_place(digest)
            s.mpu_id = self.blobs.create_multipart_sha256(data_key(s))
        elif digest and size <= min(self.settings.direct_put_max, COPY_ONE_CALL):
            s.direct = "put"
        elif size == 0:
            raise invalid("an empty blob needs its digest (single PUT)")
        else:
            s.direct = "multipart"
            s.part_size = req.get("partSize") or default_part_size(size, self.settings.direct_part_size)
            if math.ceil(size / s.part_size) > MAX_PARTS:
                raise invalid(f"partSize {s.part_size} needs more than {MAX_PARTS} parts",
                               minimum=default_part_size(size, MIN_PART))
            s.direct_key = self._in_place(digest)
            s.mpu_id = self.blobs.create_multipart_sha256(data_key(s))
        if self.meta.start_direct(s):
            return s
        # Another plan (or a PATCH) got there first: answer from what it stored.
        if s.mpu_id:
            self.blobs.abort_multipart(data_key(s), s.mpu_id)
        current = self._session(s.repo, s.upload_id)
        if current.direct is None:
            raise invalid("this upload already received bytes through PATCH; open a new one")
        self._check_same(current, req)
        return current

    def _in_place(self, digest: Optional[str]) -> Optional[str]:
        """The blob's key when the parts can go straight there: the digest is known and the
        registry does not hold the blob (the close completes the upload at that key only
        if no object is there, proves the digest, links: no copy, no staging object)."""
        if digest and self.meta.get_blob(digest) is None:
            return keys.blob_key(digest)
        return None

    @staticmethod
    def _check_same(s: UploadSession, req: dict) -> None:
        clash: dict[str, Any] = {}
        if req.get("size", OPEN) != s.direct_size:
            clash["size"] = None if s.direct_size == OPEN else s.direct_size
        if req.get("digest") and s.direct_digest and req["digest"] != s.direct_digest:
            clash["digest"] = s.direct_digest
        if req.get("partSize") and s.direct == "multipart" and req["partSize"] != s.part_size:
            clash["partSize"] = s.part_size
        if clash:
            raise invalid("this upload was planned differently", planned=clash, method=s.direct)

    # -- status -----------------------------------------------------------------
    def status(self, repo: str, upload_id: str) -> dict:
        """GET …/direct: what S3 holds, so an interrupted client can resume."""
        s = self._session(repo, upload_id)
        if s.direct is None:
            return {"method": None, "state": "new"}
        out: dict = {"method": s.direct, "size": s.direct_size, "state": s.direct_state or "uploading",
                     "verified": s.offset}
        key = data_key(s)
        if s.direct == "put":
            out["digest"] = s.direct_digest
            out["uploaded"] = s.direct_state is not None or self.blobs.head_sha256(key) is not None
            return out
        count = part_count(s)
        out.update(partSize=s.part_size, partCount=count)
        if s.direct_size == OPEN:
            out.update(size=None, partCount=None)
        if s.direct_state:  # completed in S3: every part is there
            out["parts"] = [{"number": n, "size": part_length(s, n)} for n in range(1, count + 1)]
        else:
            held = self.blobs.list_parts(key, s.mpu_id or "") or []
            out["parts"] = [{"number": n, "size": size} for n, size, _, _ in held]
        return out

    # -- close ------------------------------------------------------------------
    def close(self, s: UploadSession, digest: str, data: bytes) -> Union[str, UploadSession]:
        """The closing PUT of a direct session: the digest once proven and committed,
        or the session (202) while verification goes on (domain/direct_close.py)."""
        if data:
            raise invalid("a direct upload closes with an empty body; the bytes go to S3")
        sha256_only(digest)
        if s.direct_digest and digest != s.direct_digest:
            raise RegistryError("DIGEST_INVALID", {"reason": "the upload was planned with another digest",
                                                   "planned": s.direct_digest, "digest": digest})
        return DirectClose(self.meta, self.blobs, self.settings).close(s, digest)
