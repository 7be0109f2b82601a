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
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any, Optional, Union

from ..oci.errors import RegistryError
from ..oci.names import validate_name
from ..storage import keys
from ..storage.gc_ports import BlobCollected
from ..storage.quota_ports import QuotaExceeded
from ..storage.ports import BlobStore, MetadataStore, UploadSession
from .direct_rules import (MAX_PARTS, MIN_PART, OPEN, PLAN_PARTS_MAX, b64_sha256, default_part_size, invalid,
                           open_size, parse_plan, part_count, part_length, sha256_only)
from .gc import collected_meanwhile
from .sessions import find_session

MIB = 1024 * 1024
COPY_ONE_CALL = 256 * MIB     # above this, promote by parallel part copies (resumable)
COPY_PART = 64 * MIB          # at least; raised so a copy needs at most 10,000 parts
COPY_THREADS = 4
READ_RANGE = 32 * MIB         # one ranged GET while hashing
COPY_MARGIN_S = 5.0           # start a copy only with this much of the call's budget left


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
        key = keys.upload_data_key(upload_id)
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
            s.mpu_id = self.blobs.create_multipart_sha256(keys.upload_data_key(s.upload_id))
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
            s.mpu_id = self.blobs.create_multipart_sha256(keys.upload_data_key(s.upload_id))
        if self.meta.start_direct(s):
            return s
        # Another plan (or a PATCH) got there first: answer from what it stored.
        if s.mpu_id:
            self.blobs.abort_multipart(keys.upload_data_key(s.upload_id), s.mpu_id)
        current = self._session(s.repo, s.upload_id)
        if current.direct is None:
            raise invalid("this upload already received bytes through PATCH; open a new one")
        self._check_same(current, req)
        return current

    @staticmethod
    def _check_same(s: UploadSession, req: dict) -> None:
        clash = {}
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
        key = keys.upload_data_key(upload_id)
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
        or the session (202) while verification goes on."""
        if data:
            raise invalid("a direct upload closes with an empty body; the bytes go to S3")
        sha256_only(digest)
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
            raise invalid("S3 holds no bytes for this upload yet: PUT them to the planned URL", missing=[1])
        size, checksum = head
        if size != s.direct_size:
            self._discard(s)
            raise RegistryError("SIZE_INVALID", {"declared": s.direct_size, "received": size})
        if checksum != b64_sha256(digest):
            self._discard(s)
            raise RegistryError("DIGEST_INVALID", {"expected": digest, "reason": "S3's recorded SHA-256 "
                                                   "of the uploaded bytes differs", "s3ChecksumSHA256": checksum})
        return self._commit(s, digest, time.monotonic() + self.settings.direct_verify_seconds, False)

    def _close_multipart(self, s: UploadSession, digest: str) -> Union[str, UploadSession]:
        deadline = time.monotonic() + self.settings.direct_verify_seconds
        started = s.direct_state
        was_pending = started is not None
        if s.direct_state is None:
            if not self._complete(s, digest):
                return s
        if s.direct_state == "verifying":
            result = self._hash(s, digest, deadline)
            if result is not None:
                return self._pending(s, digest, was_pending)
        if s.direct_state == "copying":
            if (started != "copying" and s.direct_size > COPY_ONE_CALL
                    and deadline - time.monotonic() < COPY_MARGIN_S):
                return self._pending(s, digest, was_pending)  # hashing used the budget: copy next call
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
            return self._completed_elsewhere(s, digest)
        if s.direct_size == OPEN:
            s.direct_size = open_size(s, held)  # saved with the state below
        count = part_count(s)
        have = {n: (size, etag, sha) for n, size, etag, sha in held}
        missing = [n for n in range(1, count + 1) if n not in have]
        if missing:
            raise invalid("parts are missing: upload them, then close again",
                           missing=missing[:PLAN_PARTS_MAX], missingCount=len(missing))
        wrong = [n for n in range(1, count + 1) if have[n][0] != part_length(s, n)]
        if wrong:
            raise invalid("parts have the wrong size: upload them again", parts=wrong[:PLAN_PARTS_MAX])
        try:
            self.blobs.complete_multipart_sha256(key, s.mpu_id or "", [(n, have[n][1], have[n][2])
                                                                        for n in range(1, count + 1)])
        except Exception:  # noqa: BLE001 - a concurrent close may have completed it first
            if self.blobs.list_parts(key, s.mpu_id or "") is not None:
                raise  # still open: a real failure
            return self._completed_elsewhere(s, digest)
        s.direct_state, s.direct_digest, s.mpu_id, s.verify_state = "verifying", digest, None, b""
        if not self.meta.save_upload(s, s.offset):
            return False
        return True

    def _completed_elsewhere(self, s: UploadSession, digest: str) -> bool:
        """The multipart upload is gone: a concurrent (or crashed) close completed it, or
        it expired. Carry on from the completed object when it is there."""
        current = self.meta.get_upload(s.upload_id)
        if current is not None and current.direct_state:
            s.__dict__.update(current.__dict__)
            return False
        head = self.blobs.head_sha256(keys.upload_data_key(s.upload_id))
        if head is not None and s.direct_size == OPEN:
            s.direct_size = head[0]  # an open upload completed by a close that died before saving
        if head is None or head[0] != s.direct_size:
            s.mpu_id = None  # nothing left to abort
            self._discard(s)
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", {"uuid": s.upload_id,
                                                        "reason": "the S3 multipart upload is gone (expired)"})
        s.direct_state, s.direct_digest, s.mpu_id, s.verify_state = "verifying", digest, None, b""
        return self.meta.save_upload(s, s.offset)

    def _hash(self, s: UploadSession, digest: str, deadline: float) -> Optional[int]:
        """Hash the staged object from `s.offset` until done or out of time; the offset
        reached when time ran out, None when the digest is proven (state "copying")."""
        start = s.offset
        h = _hasher(s.verify_state)
        pos = start
        key = keys.upload_data_key(s.upload_id)
        while pos < s.direct_size:  # bounded ranges: an S3 that buffers a range stays on budget
            before = pos
            stream = self.blobs.read_range(key, pos, min(READ_RANGE, s.direct_size - pos))
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
            if pos == before:  # the object is shorter than declared
                self._discard(s, digest)
                raise RegistryError("SIZE_INVALID", {"declared": s.direct_size, "received": pos})
            if time.monotonic() > deadline:
                break
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
        written = time.time()
        existing = self.meta.get_blob(digest)
        s3_key = existing.s3_key if existing else key
        if existing is None:
            if s.direct_size <= COPY_ONE_CALL:
                if not self.blobs.copy_fresh(src, key):
                    # The staging object is gone: a concurrent close of this session promoted it.
                    if self.meta.get_blob_link(s.repo, digest) is not None:
                        return digest
                    raise RegistryError("BLOB_UPLOAD_UNKNOWN", {
                        "uuid": s.upload_id, "reason": "the upload was closed concurrently; push again"})
            elif not self._copy_parts(s, src, key, deadline):
                return s
        try:
            self.meta.link_blob(s.repo, digest, s.direct_size, s3_key, written)
        except BlobCollected:
            self.meta.delete_upload(s.upload_id)
            raise collected_meanwhile(digest) from None
        except QuotaExceeded:   # the session goes; the staged bytes expire under uploads/
            self.meta.delete_upload(s.upload_id)
            raise
        if was_pending:
            self.meta.clear_verifying(s.repo, digest)
        self.blobs.delete(src)
        self.meta.delete_upload(s.upload_id)
        return digest

    def _copy_parts(self, s: UploadSession, src: str, key: str, deadline: float) -> bool:
        """Promote a large object by parallel part copies, resumable across calls; parts
        are started only while the budget lasts (at least one per call, so closes progress)."""
        expected = s.offset
        if not s.copy_mpu_id:
            s.copy_mpu_id = self.blobs.create_multipart(key)
        size = max(COPY_PART, math.ceil(s.direct_size / MAX_PARTS / MIB) * MIB)
        done = {int(n) for n, _ in s.copy_parts}
        todo = iter([n for n in range(1, math.ceil(s.direct_size / size) + 1) if n not in done])

        def copy(n: int) -> list:
            start = (n - 1) * size
            end = min(start + size, s.direct_size) - 1
            return [n, self.blobs.copy_part(src, key, s.copy_mpu_id or "", n, start, end)]

        # Waves sized by the time a part took so far in this call (the first wave is one
        # part), so a slow S3 gets fewer parts per call instead of a call past the budget.
        per_part: Optional[float] = None
        with ThreadPoolExecutor(COPY_THREADS) as pool:
            while True:
                if per_part is None:
                    k = 1
                else:
                    left = deadline - COPY_MARGIN_S / 2 - time.monotonic()
                    k = max(0, min(COPY_THREADS, int(left / max(per_part, 1e-3))))
                wave = list(islice(todo, k))
                if not wave:
                    break
                t0 = time.monotonic()
                s.copy_parts = [*s.copy_parts, *pool.map(copy, wave)]
                per_part = (time.monotonic() - t0) / len(wave)
        parts = {int(n): etag for n, etag in s.copy_parts}  # concurrent closes may repeat a part
        if len(parts) < math.ceil(s.direct_size / size) or (
                per_part is not None and deadline - time.monotonic() < COPY_MARGIN_S):
            self.meta.save_upload(s, expected)  # (assembling the copy gets a call of its own)
            return False
        self.blobs.complete_multipart(key, s.copy_mpu_id or "", sorted(parts.items()))
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
