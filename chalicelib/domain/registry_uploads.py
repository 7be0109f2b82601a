"""The upload state machine: start (or mount / monolithic), PATCH chunks, closing PUT, cancel.

A session advances with conditional writes; bytes go to S3 as multipart parts once a
part's worth has arrived, shorter tails ride in the session item (or a tail object).
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Union

from ..oci.digest import compute, parse_digest
from ..oci.errors import RegistryError
from ..oci.names import validate_name
from ..storage import keys
from ..storage.gc_ports import BlobCollected
from ..storage.quota_ports import QuotaExceeded
from ..storage.ports import UploadSession
from .gc import collected_meanwhile
from .ranges import RangeInvalid, parse_content_range
from .registry_base import StagedBody, UploadResult
from .registry_blobs import BlobsMixin
from .resumable_hash import ResumableHash
from .sessions import find_session

log = logging.getLogger("registry")
# Upload tails up to this size are kept in the DynamoDB session item, not in S3
# (the item also holds the hash state and the part list; items hold 400 KB).
INLINE_TAIL_BYTES = 128 * 1024


def _uploads_range(offset: int) -> str:
    # The spec's Range for an upload is inclusive; an empty upload reports 0-0.
    return f"0-{max(offset - 1, 0)}"


# Bodies at least this large are hashed on a thread while their bytes go to S3 (OpenSSL's
# SHA-256 runs without the GIL): the PATCH then lasts the longer of the two, not their sum.
HASH_ALONGSIDE_BYTES = 1024 * 1024


@contextmanager
def _hashing(h: ResumableHash, data: bytes) -> Iterator[None]:
    """Feed `data` to `h` during the block (alongside it when large); `h` is complete after."""
    if len(data) < HASH_ALONGSIDE_BYTES:
        h.update(data)
        yield
        return
    worker = threading.Thread(target=h.update, args=(data,), name="upload-hash", daemon=True)
    worker.start()
    try:
        yield
    finally:
        worker.join()


class UploadsMixin(BlobsMixin):
    """Upload sessions (start_upload falls back to BlobsMixin's mount and monolithic put)."""

    def start_upload(self, repo: str, *, digest: Optional[str] = None, body: bytes = b"",
                     mount: Optional[str] = None, mount_from: Optional[str] = None,
                     mount_candidates: Optional[list[str]] = None) -> UploadResult:
        """POST /blobs/uploads/: mount, monolithic upload, or a new session.

        Without `from`, a mount looks in `mount_candidates` (the repositories the
        caller may read) or, when None (no auth), anywhere in the registry.
        """
        validate_name(repo)
        if mount and self._try_mount(repo, mount, mount_from, mount_candidates):
            return UploadResult(digest=mount)
        if digest is not None:
            return UploadResult(digest=self._put_whole(repo, digest, body))
        session = UploadSession(upload_id=str(uuid.uuid4()), repo=repo,
                                expires=int(time.time()) + self.settings.upload_ttl)
        session.hash_state = ResumableHash().state()
        self.meta.create_upload(session)
        return UploadResult(upload_id=session.upload_id, offset=0)

    def _session(self, repo: str, upload_id: str) -> UploadSession:
        return find_session(self.meta, repo, upload_id)

    def upload_status(self, repo: str, upload_id: str) -> UploadResult:
        """GET on an upload: how many bytes the registry has."""
        s = self._session(repo, upload_id)
        return UploadResult(upload_id=upload_id, offset=s.offset)

    def _check_range(self, s: UploadSession, content_range: Optional[str], length: Optional[int]) -> None:
        if content_range is None:
            return
        try:
            chunk = parse_content_range(content_range, length)
        except RangeInvalid as exc:
            raise self._range_error(s, str(exc)) from None
        if chunk.start != s.offset:
            raise self._range_error(s, f"chunk starts at {chunk.start}, upload is at {s.offset}")

    @staticmethod
    def _range_error(s: UploadSession, reason: str) -> RegistryError:
        return RegistryError("BLOB_UPLOAD_INVALID", {"reason": reason, "offset": s.offset}, status=416,
                             headers={"Range": _uploads_range(s.offset),
                                      "Location": f"/v2/{s.repo}/blobs/uploads/{s.upload_id}",
                                      "Docker-Upload-UUID": s.upload_id})

    def patch_upload(self, repo: str, upload_id: str, data: Union[bytes, StagedBody],
                     content_range: Optional[str] = None) -> UploadResult:
        """Append a chunk: hash it, send full parts to S3, keep the short tail. A body the
        local server already stored (StagedBody) is taken as it lies when it is the first."""
        s = self._session(repo, upload_id)
        if s.direct:
            raise RegistryError("BLOB_UPLOAD_INVALID", {"reason": "this upload sends its bytes "
                                                        "directly to S3 (docs/direct-upload.md)"})
        if isinstance(data, StagedBody):
            self._check_range(s, content_range, data.size)
            if self._adopt(s, data):
                return UploadResult(upload_id=upload_id, offset=s.offset)
            data = self.blobs.get(data.key)   # not a first body: as if it had come inline
        self._check_range(s, content_range, len(data))
        if data:
            self._append(s, data)
        return UploadResult(upload_id=upload_id, offset=s.offset)

    def _adopt(self, s: UploadSession, body: StagedBody) -> bool:
        """Make `body` the first body of session `s`, as _store_body would have stored it (a
        tail object of a part or more, hashed without SHA-512): no byte passes through here.
        False when `s` already has bytes (or the body is not of this session, or too short)."""
        if (body.upload_id != s.upload_id or s.offset or s.tail_key or s.tail_inline is not None
                or s.mpu_id or body.size < self.settings.min_part_bytes):
            return False
        s.tail_key, s.tail_inline, s.tail_size = body.key, None, body.size
        s.offset, s.hash_state = body.size, body.hash_state
        if not self.meta.save_upload(s, 0):
            raise self._lost_race(s)
        body.adopted = True
        return True

    def _lost_race(self, s: UploadSession) -> RegistryError:
        """416 for a PATCH whose conditional save lost to another: the Range is the session's
        as the winner left it (re-read), not the one this request meant to write."""
        try:
            s = self._session(s.repo, s.upload_id)
        except RegistryError as gone:   # the winner closed or cancelled it: 404
            return gone
        return self._range_error(s, "another request advanced this upload concurrently")

    def _append(self, s: UploadSession, data: bytes) -> None:
        """Advance session `s` by `data`, saving it with a conditional write."""
        expected = s.offset
        h = ResumableHash(s.hash_state)
        if expected == 0 and len(data) >= self.settings.min_part_bytes:
            # One body of a part or more: it cannot reach the deployed function (6 MB events),
            # so it came through the local server, whose S3 is next door. SHA-512, which
            # clients hardly ever name, is then computed from the stored bytes when named
            # (_verify_stored) instead of over every byte of every push.
            h.drop_sha512()
        with _hashing(h, data):
            old_tail = self._store_body(s, data, expected)
        s.offset += len(data)
        s.hash_state = h.state()
        if not self.meta.save_upload(s, expected):
            raise self._lost_race(s)
        if old_tail:
            self._cleanup(self.blobs.delete, old_tail)

    def _store_body(self, s: UploadSession, data: bytes, expected: int) -> Optional[str]:
        """Put `data` where session `s` keeps its bytes (a part, the inline tail or a tail
        object); the tail object it replaced, to delete once the session is saved."""
        old_tail = s.tail_key
        data_key = keys.upload_data_key(s.upload_id)
        staged = self._staged(s)
        if staged:  # the first body becomes part 1 by a server-side copy, not a read
            s.mpu_id = self.blobs.create_multipart(data_key)
            s.parts = [[1, self.blobs.copy_part(staged, data_key, s.mpu_id, 1, 0, s.tail_size - 1)]]
            buf = data
        else:
            buf = self._tail(s) + data
        s.tail_key, s.tail_inline, s.tail_size = None, None, 0
        if len(buf) >= self.settings.min_part_bytes and expected > 0:
            if not s.mpu_id:
                s.mpu_id = self.blobs.create_multipart(data_key)
            number = len(s.parts) + 1
            etag = self.blobs.upload_part(data_key, s.mpu_id, number, buf)
            s.parts = [*s.parts, [number, etag]]
        elif len(buf) <= INLINE_TAIL_BYTES:
            # Small tails (config blobs, short chunks) ride in the session item: no S3 calls.
            s.tail_inline, s.tail_size = buf, len(buf)
        else:
            # A tail object. A first body of a part or more is one too (_staged): most clients
            # send a layer as one body, and one PutObject now and a copy at the close cost
            # two S3 calls fewer than a multipart upload of one part. Its key is new for
            # every write, so a concurrent PATCH that loses the session's save never
            # overwrites the bytes the session names.
            s.tail_key = keys.upload_tail_key(s.upload_id, uuid.uuid4().hex[:12])
            s.tail_size = len(buf)
            self.blobs.put(s.tail_key, buf)
        return old_tail

    def _staged(self, s: UploadSession) -> Optional[str]:
        """The key of a tail object of a part or more (only a first body that large leaves
        one), else None."""
        return s.tail_key if s.tail_key and s.tail_size >= self.settings.min_part_bytes else None

    def _tail(self, s: UploadSession) -> bytes:
        """Bytes received but not yet sent as a part."""
        if s.tail_inline is not None:
            return s.tail_inline
        return self.blobs.get(s.tail_key) if s.tail_key and s.tail_size else b""

    def finish_upload(self, repo: str, upload_id: str, digest: Optional[str], data: bytes = b"",
                      content_range: Optional[str] = None) -> Union[str, UploadResult]:
        """Closing PUT: append the last bytes, verify the digest, commit and link (the
        digest); a direct upload still being verified answers its session (202)."""
        if not digest:
            raise RegistryError("DIGEST_INVALID", {"reason": "the digest query parameter is required"})
        want = parse_digest(digest)
        s = self._session(repo, upload_id)
        if s.direct:  # bytes went straight to S3: prove them (domain/direct.py)
            from .direct import DirectUploads

            out = DirectUploads(self.meta, self.blobs, self.settings).close(s, digest, data)
            if isinstance(out, str):
                self.notify.uploaded(repo, s.direct_size or 0)
            return out if isinstance(out, str) else UploadResult(upload_id=upload_id, offset=out.offset)
        self._check_range(s, content_range, len(data) or None)   # a close without bytes: only where it starts
        h = ResumableHash(s.hash_state)
        h.update(data)
        size = s.offset + len(data)
        actual = h.digest(want.algorithm) if h.tracks(want.algorithm) else None  # None: from S3
        if actual is not None and actual != digest:
            self._discard(s, cleanup_only=True)
            raise RegistryError("DIGEST_INVALID", {"expected": digest, "actual": actual, "size": size})
        key = keys.blob_key(digest)
        written = time.time()
        verify = None if actual else digest
        try:
            self._store_final(s, data, key, size, verify)
        except RegistryError:
            raise
        except Exception:
            self._recover_final(s, key, size, verify)
        try:  # the commit point; the session goes in the same write unless the link was there
            if not self.meta.link_blob(repo, digest, size, key, written, upload_id=upload_id):
                self._cleanup(self.meta.delete_upload, upload_id)
        except BlobCollected:
            self._discard(s, cleanup_only=True)
            raise collected_meanwhile(digest) from None
        except QuotaExceeded:
            # Nothing stays: the session goes, the bytes are a garbage candidate (the store's doing).
            self._discard(s, cleanup_only=True)
            raise
        self.notify.uploaded(repo, size)
        return digest

    def _recover_final(self, s: UploadSession, key: str, size: int, verify: Optional[str] = None) -> None:
        """After a failed final step (re-raised unless recoverable): the session is left as
        it was, so the client retries the PUT. An earlier attempt may have completed the
        parts (then they are gone, but the assembled object or the blob is in place)."""
        if self.blobs.size(key) == size:
            return
        data_key = keys.upload_data_key(s.upload_id)
        if (s.mpu_id or self._staged(s)) and self.blobs.size(data_key) == size:  # assembled there
            if verify:
                self._verify_stored(s, data_key, size, verify)
            try:
                self.blobs.copy(data_key, key, size)
            except Exception:  # noqa: BLE001 - a concurrent close may have copied and removed it
                if self.blobs.size(key) != size:
                    raise
                return
            self._cleanup(self.blobs.delete, data_key)
            return
        if self.blobs.size(key) == size:  # a concurrent close copied it (and removed the parts) meanwhile
            return
        raise  # noqa: PLE0704 - called from an except block: re-raise the original failure

    def _store_final(self, s: UploadSession, data: bytes, key: str, size: int,
                     verify: Optional[str] = None) -> None:
        """Write the blob's bytes to their final key (nothing is saved to the session); with
        `verify`, the digest is checked on the assembled bytes before they get there."""
        data_key = keys.upload_data_key(s.upload_id)
        staged = self._staged(s)
        if staged and not data:  # one body, staged whole: copied to the blob's key
            if verify:
                self._verify_stored(s, staged, size, verify)
            self.blobs.copy(staged, key, size)
            self._cleanup(self.blobs.delete, staged)
            return
        mpu_id, parts = s.mpu_id, s.parts
        if staged:  # and a last body: both as parts (the copy is server-side)
            mpu_id = self.blobs.create_multipart(data_key)
            parts = [[1, self.blobs.copy_part(staged, data_key, mpu_id, 1, 0, s.tail_size - 1)]]
            last = data
        else:
            last = self._tail(s) + data
        if mpu_id:
            if last:  # the last part may be short; a retry overwrites the same part number
                parts = [*parts, [len(parts) + 1, self.blobs.upload_part(data_key, mpu_id, len(parts) + 1, last)]]
            self.blobs.complete_multipart(data_key, mpu_id, parts)  # refuses parts overwritten meanwhile
            if verify:
                self._verify_stored(s, data_key, size, verify)
            self.blobs.copy(data_key, key, size)
            self._cleanup(self.blobs.delete, data_key)
        else:
            if verify and compute(last, parse_digest(verify).algorithm) != verify:
                self._discard(s, cleanup_only=True)
                raise RegistryError("DIGEST_INVALID", {"expected": verify, "size": size})
            self.blobs.put(key, last)
        if s.tail_key:
            self._cleanup(self.blobs.delete, s.tail_key)

    def _verify_stored(self, s: UploadSession, stored: str, size: int, digest: str) -> None:
        """Hash the assembled upload as stored at `stored` (a digest the session did not
        track); when it differs, drop the bytes and the session as a wrong digest always does."""
        want = parse_digest(digest)
        h = hashlib.new(want.algorithm)
        for chunk in self.blobs.read_range(stored, 0, size):
            h.update(chunk)
        actual = f"{want.algorithm}:{h.hexdigest()}"
        if actual != digest:
            self._cleanup(self.blobs.delete, stored)
            self._discard(s, cleanup_only=True)
            raise RegistryError("DIGEST_INVALID", {"expected": digest, "actual": actual, "size": size})

    @staticmethod
    def _cleanup(action: Callable[..., object], *args: Any) -> None:
        """A step after the commit point (or of an abandoned upload): failing it must not
        fail the request. Leftovers expire anyway (S3 lifecycle on uploads/, DynamoDB TTL)."""
        try:
            action(*args)
        except Exception as exc:  # noqa: BLE001 - logged; the answer does not depend on it
            log.warning("cleanup %s%r failed: %r", getattr(action, "__name__", action), args, exc)

    def _discard(self, s: UploadSession, cleanup_only: bool = False) -> None:
        """Drop an upload's parts (best effort) and its session (must succeed unless `cleanup_only`)."""
        data_key = s.direct_key or keys.upload_data_key(s.upload_id)  # a direct plan may target the blob's key
        if s.mpu_id:
            self._cleanup(self.blobs.abort_multipart, data_key, s.mpu_id)
        elif s.direct_key and s.direct_etag:  # completed there, not proven: only that object goes
            self._cleanup(self.blobs.delete_if, data_key, s.direct_etag)
        if s.tail_key:
            self._cleanup(self.blobs.delete, s.tail_key)
        if cleanup_only:
            self._cleanup(self.meta.delete_upload, s.upload_id)
        else:
            self.meta.delete_upload(s.upload_id)

    def cancel_upload(self, repo: str, upload_id: str) -> None:
        """DELETE on an upload: drop its parts and the session."""
        self._discard(self._session(repo, upload_id))
