"""Request bodies into ministack's S3 with less work on its one event-loop thread.

- Bigger reads: hypercorn reads 64 KiB at a time from a StreamReader that pauses the
  socket at 128 KiB, and asyncio's transport receives 256 KiB per recv(); every piece is
  one more trip through h11 and the ASGI queue. Pieces of 1 MiB make a 10 MiB part ~10
  trips instead of ~160; a connection may buffer a few MiB (REQUEST_BUFFER), still bounded.
- ETags are the first 128 bits of the body's SHA-256, not its MD5: S3 documents an ETag as
  opaque (MD5 only for some objects), nothing here or in a client reads it as an MD5, and
  SHA-256 runs at twice MD5's speed here (SHA extensions: 1.47 GB/s against 0.69). The
  SHA-256 of a body is computed piece by piece as it arrives, while the sender is still
  sending, and serves both its ETag and the check of its `x-amz-checksum-sha256`: one pass
  over a part instead of three (MD5 while reading, then SHA-256 twice). Only the very body
  object it was computed over uses it; anything else is hashed as before. A Content-MD5
  header is still checked with a real MD5 (ministack does that itself).
"""
from __future__ import annotations

import asyncio
import asyncio.selector_events
import base64
import contextvars
import functools
import hashlib
from typing import Any, Optional

READ_BYTES = 1 << 20
REQUEST_BUFFER = 2 * READ_BYTES
_BODY_SHA256: contextvars.ContextVar[Optional[tuple[bytes, bytes]]] = contextvars.ContextVar("body_sha256", default=None)


def _bigger_reads() -> None:
    import hypercorn.asyncio.tcp_server as tcp_server

    tcp_server.MAX_RECV = READ_BYTES
    asyncio.selector_events._SelectorSocketTransport.max_size = READ_BYTES
    start_server = asyncio.start_server
    if getattr(start_server, "_registry_limit", False):
        return

    @functools.wraps(start_server)
    async def with_limit(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("limit", REQUEST_BUFFER)
        return await start_server(*args, **kwargs)

    with_limit._registry_limit = True  # type: ignore[attr-defined]
    asyncio.start_server = with_limit


def _sha256_while_reading() -> None:
    from ministack import app as app_module
    from ministack.services import s3

    read_body, checksum = app_module._read_request_body, s3._compute_s3_checksum

    async def read_request_body(receive: Any, method: str, headers: dict) -> bytes:
        sha, fed = hashlib.sha256(), [0]

        async def hashing_receive() -> dict:
            message = await receive()
            chunk = message.get("body") if message.get("type") == "http.request" else None
            if chunk:
                sha.update(chunk)
                fed[0] += len(chunk)
            return message

        _BODY_SHA256.set(None)
        body = await read_body(hashing_receive, method, headers)
        if isinstance(body, bytes) and body and len(body) == fed[0]:  # as received (not aws-chunked)
            _BODY_SHA256.set((body, sha.digest()))
        return body

    def known(data: Any) -> Optional[bytes]:
        seen = _BODY_SHA256.get()
        return seen[1] if seen is not None and seen[0] is data else None

    def md5_hash(data: Any) -> str:  # ministack's name for "the ETag of these bytes"
        """The first 128 bits of the SHA-256, in hex (opaque to clients, as S3 says; a
        multipart ETag is built from these as S3 builds it). Other bodies than the one
        hashed while it arrived (file-backed objects too) go through the checksum function."""
        digest = known(data)
        if digest is None:
            return base64.b64decode(checksum("SHA256", data.encode() if isinstance(data, str) else data)).hex()[:32]
        _BODY_SHA256.set(None)  # the ETag comes last: hold the body no longer than the handler
        return digest.hex()[:32]

    def compute_s3_checksum(algorithm: str, body: Any) -> Optional[str]:
        digest = known(body) if (algorithm or "").upper().replace("_", "") == "SHA256" else None
        return base64.b64encode(digest).decode() if digest is not None else checksum(algorithm, body)

    app_module._read_request_body = read_request_body
    s3.md5_hash = md5_hash
    s3._compute_s3_checksum = compute_s3_checksum


def install() -> None:
    """Patch the worker process before it serves (after ministack_files.install())."""
    from ministack.services import s3

    if getattr(s3, "_registry_io", False):
        return
    s3._registry_io = True
    _bigger_reads()
    _sha256_while_reading()
