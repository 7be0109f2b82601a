"""The close of a direct upload (docs/direct-upload.md): prove the digest, then make
the blob visible. Concurrent and retried closes of one session are the normal case
(clients repeat a close cut short), so every step tolerates another close having
done it first, and a close that finds its object moved answers from where the other
one got: 201 when the blob is linked, 202 while it is still being verified, never 5xx.
Pure over the storage ports.
"""
from __future__ import annotations

import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any, Generator, Optional, Union

from ..oci.errors import RegistryError
from ..storage import keys
from ..storage.gc_ports import BlobCollected
from ..storage.quota_ports import QuotaExceeded
from ..storage.ports import BlobStore, MetadataStore, UploadSession, missing_object, taken
from .direct_rules import (MAX_PARTS, OPEN, PLAN_PARTS_MAX, b64_sha256, composite_sha256, data_key, invalid,
                           open_size, part_count, part_length)
from .gc import collected_meanwhile
from .sha256_state import Sha256State

MIB = 1024 * 1024
COPY_ONE_CALL = 256 * MIB     # above this, promote by parallel part copies (resumable)
COPY_PART = 64 * MIB          # at least; raised so a copy needs at most 10,000 parts
COPY_THREADS = 4
READ_PIECE = 16 * MIB         # one ranged GET while hashing (bounded: an S3 that buffers a range stays on budget)
READ_AHEAD = 3                # ranged GETs in flight while hashing (with the one hashed: 64 MiB held)
COPY_MARGIN_S = 5.0           # start a copy only with this much of the call's budget left


class _Superseded(Exception):
    """A conditional save lost to a concurrent close of the same session."""


class DirectClose:
    """The closing PUT of one direct session over a MetadataStore and a BlobStore."""

    def __init__(self, meta: MetadataStore, blobs: BlobStore, settings: Any) -> None:
        self.meta = meta
        self.blobs = blobs
        self.settings = settings

    def close(self, s: UploadSession, digest: str) -> Union[str, UploadSession]:
        """The digest once proven and committed, or the session (202) while verification goes on."""
        try:
            if s.direct == "put":
                return self._close_put(s, digest)
            return self._close_multipart(s, digest)
        except RegistryError as exc:
            if exc.code != "BLOB_UPLOAD_UNKNOWN":
                raise
            return self._settle(s, digest, exc)
        except Exception as exc:  # noqa: BLE001 - a missing object may mean a concurrent close won
            return self._settle(s, digest, exc)

    def _settle(self, s: UploadSession, digest: str, exc: Exception) -> Union[str, UploadSession]:
        """This close failed; if a concurrent close of the session moved the bytes on,
        answer from where it got (201 when linked, 202 while it works), else re-raise."""
        if self.meta.get_blob_link(s.repo, digest) is not None:
            return digest  # committed by the other close (its cleanup may still be going on)
        current = self.meta.get_upload(s.upload_id)
        if current is None:
            if isinstance(exc, RegistryError):
                raise exc
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", {
                "uuid": s.upload_id, "reason": "the upload was closed concurrently and refused; push again"})
        if isinstance(exc, _Superseded):
            return current  # the other close saved its progress: 202, the client closes again
        if isinstance(exc, RegistryError) or not missing_object(exc):
            raise exc  # a real failure (a 5xx the client retries), not a race
        if self.blobs.head_sha256(data_key(s)) is None:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", {
                "uuid": s.upload_id, "reason": "S3 no longer holds the uploaded bytes; push again"})
        return current  # what went missing was a concurrent close's copy: it carries on

    def _close_put(self, s: UploadSession, digest: str) -> Union[str, UploadSession]:
        key = data_key(s)
        head = self.blobs.head_sha256(key)
        if head is None:
            if self.meta.get_blob_link(s.repo, digest) is not None:
                return digest  # a concurrent close promoted the bytes and removed them
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
        key = data_key(s)
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
        chosen = [(n, have[n][1], have[n][2]) for n in range(1, count + 1)]
        try:
            etag = self.blobs.complete_multipart_sha256(key, s.mpu_id or "", chosen, fresh=bool(s.direct_key))
        except Exception as exc:  # noqa: BLE001 - a concurrent close may have completed it first
            if s.direct_key and taken(exc):
                return self._taken(s, digest, [c for _, _, c in chosen])
            if self.blobs.list_parts(key, s.mpu_id or "") is not None:
                raise  # still open: a real failure
            return self._completed_elsewhere(s, digest)
        s.direct_state, s.direct_digest, s.mpu_id, s.verify_state = "verifying", digest, None, b""
        s.direct_etag = etag if s.direct_key else None
        if not self.meta.save_upload(s, s.offset):
            return False
        return True

    def _taken(self, s: UploadSession, digest: str, checksums: list) -> bool:
        """Completing at the blob's key found an object there: another upload of the blob
        completed first, or the blob arrived by another path since the plan. It is never
        replaced. When it holds these very bytes (S3 checked each part's SHA-256, so equal
        composite checksums mean equal parts), this session carries on with it; otherwise
        the session ends and the client pushes again (the plan then stages the bytes)."""
        key = data_key(s)
        head = self.blobs.head_sha256(key)
        if head is None:
            return False  # deleted meanwhile (a refused upload): the next close completes
        self.blobs.abort_multipart(key, s.mpu_id or "")
        s.mpu_id = None
        if head != (s.direct_size, composite_sha256(checksums)):
            self.meta.delete_upload(s.upload_id)
            raise invalid("another upload put other parts at this blob's key first; push the blob again",
                          pushAgain=True)
        s.direct_state, s.direct_digest, s.verify_state, s.direct_etag = "verifying", digest, b"", None
        if self.meta.get_blob(digest) is not None:
            s.direct_state = "copying"  # proven already, and these bytes are the same: link
        return self.meta.save_upload(s, s.offset)

    def _completed_elsewhere(self, s: UploadSession, digest: str) -> bool:
        """The multipart upload is gone: a concurrent (or crashed) close completed it, or
        it expired. Carry on from the completed object when it is there."""
        current = self.meta.get_upload(s.upload_id)
        if current is None:  # ended by a concurrent close: close() answers from the blob link
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", {"uuid": s.upload_id, "reason": "the upload was closed"})
        if current.direct_state:
            s.__dict__.update(current.__dict__)
            return False
        head = self.blobs.head_sha256(data_key(s))
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
        h = Sha256State(s.verify_state)  # b"": a fresh hash
        pos = start
        key = data_key(s)
        pieces = self._read_ahead(key, pos, s.direct_size)
        try:
            for piece in pieces:
                if not piece:  # the object is shorter than declared
                    self._discard(s, digest)
                    raise RegistryError("SIZE_INVALID", {"declared": s.direct_size, "received": pos})
                for chunk in piece:
                    h.update(chunk)
                    pos += len(chunk)
                if time.monotonic() > deadline:
                    break
        finally:
            pieces.close()
        s.offset, s.verify_state = pos, h.state()
        if pos >= s.direct_size:
            actual = f"sha256:{h.hexdigest()}"
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
                raise _Superseded()
            return None
        if not self.meta.save_upload(s, start):
            raise _Superseded()  # a concurrent close advanced (or committed) it meanwhile
        return pos

    def _read_ahead(self, key: str, pos: int, end: int) -> Generator[list, None, None]:
        """The object's bytes from `pos` to `end` in pieces of READ_PIECE (lists of chunks,
        never joined: memory stays at the pieces in flight), in order, with READ_AHEAD
        bounded ranged GETs in flight (one S3 stream is slower than hashing); [] for a
        piece the object is too short for. Closing it drops what is in flight."""
        pool = ThreadPoolExecutor(READ_AHEAD)

        def fetch(at: int) -> list:
            length = min(READ_PIECE, end - at)
            chunks = list(self.blobs.read_range(key, at, length))
            return chunks if sum(map(len, chunks)) == length else []

        pending: deque = deque()
        try:
            for at in range(pos, end, READ_PIECE):
                pending.append(pool.submit(fetch, at))
                if len(pending) >= READ_AHEAD:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _commit(self, s: UploadSession, digest: str, deadline: float,
                was_pending: bool) -> Union[str, UploadSession]:
        """Copy the proven bytes to the blob's key (unless the registry has them), link."""
        src, key = data_key(s), keys.blob_key(digest)
        written = time.time()
        if s.direct_key:  # completed in place: the proven object is the blob, its bytes written
            # since the session began (earlier than the completion: a collection of the blob
            # after that refuses the link, BlobCollected, rather than link bytes it deleted)
            began = s.expires - self.settings.upload_ttl if s.expires else written
            linked = self._link(s, digest, key, min(written, began))
            return self._done(s, digest, was_pending, session_gone=linked)
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
        linked = self._link(s, digest, s3_key, written)
        self.blobs.delete(src)   # failing, it is answered by _settle: the link is there (201)
        return self._done(s, digest, was_pending, session_gone=linked)

    def _link(self, s: UploadSession, digest: str, s3_key: str, written: float) -> bool:
        """Link the blob, ending the session in the same transaction; False when the repository
        had the link already (nothing written: the session is still there)."""
        try:
            return self.meta.link_blob(s.repo, digest, s.direct_size, s3_key, written, upload_id=s.upload_id)
        except BlobCollected:
            self.meta.delete_upload(s.upload_id)
            raise collected_meanwhile(digest) from None
        except QuotaExceeded:   # the session goes; its bytes are a garbage candidate (the store's doing)
            self.meta.delete_upload(s.upload_id)
            raise

    def _done(self, s: UploadSession, digest: str, was_pending: bool, session_gone: bool = False) -> str:
        if was_pending:
            self.meta.clear_verifying(s.repo, digest)
        if not session_gone:
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
        key = data_key(s)
        if s.mpu_id:
            self.blobs.abort_multipart(key, s.mpu_id)
        if not s.direct_key:
            self.blobs.delete(key)
        elif s.direct_etag and not s.mpu_id:  # completed in place: only that object, never a blob put since
            self.blobs.delete_if(key, s.direct_etag)
        if digest:
            self.meta.clear_verifying(s.repo, digest)
        self.meta.delete_upload(s.upload_id)
