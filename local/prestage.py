"""PATCH bodies sent on to S3 while they arrive (the local server only).

Most clients send a layer as one PATCH of the whole blob. Read whole and then stored by the
handler, its bytes cross the machine twice, one trip after the other (client to server,
then server to S3). Here the server passes them on to S3 as they come, hashing them on the
way, and hands the handler a StagedBody (chalicelib/domain/registry_base.py) instead of
the bytes. The session takes it as its first body (registry_uploads._adopt), exactly as
_store_body would have stored it, so the close does not change.

It applies to a PATCH of a session whose Content-Length is between the part size and
`max_bytes` (longer bodies are split into several events, shorter ones are cheap inline)
and that carries no Content-Range or one that starts at 0. It never applies under Lambda
limits: the deployed function never receives a body like that. A body the handler does
not take (unknown or closed session, a refused token, a lost race, a later chunk) is
deleted right after the answer. REGISTRY_LOCAL_PRESTAGE=0 turns this off.
"""
from __future__ import annotations

import io
import logging
import re
import secrets
import threading
import uuid
from typing import Any, Callable, Optional

from chalicelib.domain.registry_base import StagedBody
from chalicelib.domain.resumable_hash import ResumableHash
from chalicelib.http.headers import STAGED_BODY_HEADER
from chalicelib.oci.names import UPLOAD_ID_RE
from chalicelib.storage import keys

from .wsgi_io import BODY_READ_ERRORS, Refused

log = logging.getLogger("registry.local")
BLOCK = 1 << 20
_SESSION = re.compile(rf"/v2/.+/blobs/uploads/({UPLOAD_ID_RE.pattern})", re.DOTALL)


class BodyCut(Exception):
    """The client's body ended early or could not be read."""


class _Reader:
    """Exactly `size` bytes of a request body for botocore to send, hashed as they go."""

    def __init__(self, stream: Any, size: int, h: ResumableHash) -> None:
        self._stream, self._h = stream, h
        self.size = self.left = size
        self.cut: Optional[str] = None   # why the body could not be read whole (botocore may
        # wrap BodyCut in its own errors: a retry it attempts cannot rewind this stream)

    def read(self, amt: Optional[int] = -1) -> bytes:
        """Everything left without `amt` (moto reads so); else up to BLOCK whatever `amt`
        asks: urllib3 asks 16 KiB at a time and sends what it gets, and 640 trips per
        10 MiB through here would cost more than the hashing."""
        if amt is None or amt < 0:
            return b"".join(iter(lambda: self.read(BLOCK), b""))
        if self.left <= 0 or amt == 0:
            return b""
        try:
            chunk = self._stream.read(min(self.left, max(amt, BLOCK)))
        except BODY_READ_ERRORS as exc:
            self.cut = f"the request body could not be read: {exc.__class__.__name__}"
            raise BodyCut(self.cut) from None
        if not chunk:
            self.cut = f"the request body ended after {self.size - self.left} of {self.size} bytes"
            raise BodyCut(self.cut)
        self._h.update(chunk)
        self.left -= len(chunk)
        return chunk

    def tell(self) -> int:
        return self.size - self.left

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET and offset == self.tell():
            return offset
        raise io.UnsupportedOperation("a request body is read once")   # no retry can replay it


class Prestager:
    """Stages qualifying PATCH bodies and lends them to the handler by a one-request token."""

    def __init__(self, services: Any, max_bytes: int) -> None:
        self._services = services
        self._max = max_bytes
        self._bodies: dict[str, StagedBody] = {}
        self._lock = threading.Lock()
        self.counts = {"staged": 0, "adopted": 0, "deleted": 0}   # bodies, since start
        services.offer_staged_bodies(self._lookup)

    def _lookup(self, token: str) -> Optional[StagedBody]:
        with self._lock:
            return self._bodies.get(token)

    def applies(self, method: str, path: str, length: Optional[int],
                range_start: Optional[int]) -> Optional[tuple[str, int]]:
        """(upload id, body length) when this request's body is staged, else None. `length`:
        the client's Content-Length (None for a chunked body); `range_start`: where its
        Content-Range starts (None without one)."""
        match = _SESSION.fullmatch(path) if method == "PATCH" else None
        if match is None or length is None or range_start not in (None, 0):
            return None
        if not self._services.settings.min_part_bytes <= length <= self._max:
            return None
        return match.group(1), length

    def serve(self, upload_id: str, size: int, stream: Any, headers: list[tuple[str, str]],
              invoke: Callable[[list[tuple[str, str]], bytes], dict]) -> dict:
        """Stage the body, then `invoke` the handler with the token instead of the bytes."""
        blobs = self._services.blobs()
        key = keys.upload_tail_key(upload_id, uuid.uuid4().hex[:12])
        h = ResumableHash()
        h.drop_sha512()   # as registry_uploads._append does for a first body this large
        reader = _Reader(stream, size, h)
        try:
            blobs.put_stream(key, reader, size)
        except Exception as exc:   # noqa: BLE001 - botocore's errors, imported lazily
            if reader.cut:   # the client's fault; S3 stored nothing of a request cut short
                raise Refused(400, "SIZE_INVALID", {"reason": reader.cut}) from None
            # The S3 write failed (the embedded S3 down or timing out on a stalled client):
            # the body is spent, so the client sends it again, as after any 503.
            log.warning("staging a PATCH body failed: %r", exc)
            refused = Refused(503, "UNKNOWN", {"reason": "storage unavailable, retry later"})
            refused.response["headers"]["Retry-After"] = "1"
            raise refused from None
        if reader.left:   # the S3 client stopped short: never lend a body it did not store whole
            blobs.delete(key)
            raise RuntimeError(f"the S3 client read {size - reader.left} of the body's {size} bytes")
        body = StagedBody(upload_id=upload_id, key=key, size=size, hash_state=h.state())
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._bodies[token] = body
        try:
            plain = [(k, v) for k, v in headers if k.lower() != "content-length"]
            return invoke([*plain, ("Content-Length", "0"), (STAGED_BODY_HEADER, token)], b"")
        finally:
            with self._lock:
                self._bodies.pop(token, None)
                self.counts["staged"] += 1
                self.counts["adopted" if body.adopted else "deleted"] += 1
            if not body.adopted:
                try:
                    blobs.delete(key)
                except Exception as exc:  # noqa: BLE001 - under uploads/: the lifecycle rule ends it
                    log.warning("deleting the unused staged body %s failed: %r", key, exc)
