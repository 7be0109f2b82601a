"""Request bodies into ministack's S3 with less work on its one event-loop thread.

- Bigger reads: hypercorn reads 64 KiB at a time from a StreamReader that pauses the
  socket at 128 KiB, and asyncio's transport receives 256 KiB per recv(); every piece is
  one more trip through h11 and the ASGI queue. Pieces of 1 MiB make a 10 MiB part ~10
  trips instead of ~160; a connection may buffer a few MiB (REQUEST_BUFFER), still bounded.
- The MD5 of a body (an object's or part's ETag) is computed piece by piece as the body
  arrives, while the sender is still sending, instead of over the whole body after it:
  the same digest, but off the request's critical path. It is used only for the very
  body object it was computed over (anything else is hashed as before).
"""
from __future__ import annotations

import asyncio
import asyncio.selector_events
import contextvars
import functools
import hashlib
from typing import Any, Optional

READ_BYTES = 1 << 20
REQUEST_BUFFER = 2 * READ_BYTES
_BODY_MD5: contextvars.ContextVar[Optional[tuple[bytes, str]]] = contextvars.ContextVar("body_md5", default=None)


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


def _md5_while_reading() -> None:
    from ministack import app as app_module
    from ministack.services import s3

    read_body, md5_hash = app_module._read_request_body, s3.md5_hash

    async def read_request_body(receive: Any, method: str, headers: dict) -> bytes:
        md5, fed = hashlib.md5(), [0]

        async def hashing_receive() -> dict:
            message = await receive()
            chunk = message.get("body") if message.get("type") == "http.request" else None
            if chunk:
                md5.update(chunk)
                fed[0] += len(chunk)
            return message

        _BODY_MD5.set(None)
        body = await read_body(hashing_receive, method, headers)
        if isinstance(body, bytes) and body and len(body) == fed[0]:  # as received (not aws-chunked)
            _BODY_MD5.set((body, md5.hexdigest()))
        return body

    def md5_of(data: Any) -> str:
        known = _BODY_MD5.get()
        if known is not None and known[0] is data:
            _BODY_MD5.set(None)  # used once; holds the body no longer than the handler does
            return known[1]
        return md5_hash(data)

    app_module._read_request_body = read_request_body
    s3.md5_hash = md5_of


def install() -> None:
    """Patch the worker process before it serves (after ministack_files.install())."""
    from ministack.services import s3

    if getattr(s3, "_registry_io", False):
        return
    s3._registry_io = True
    _bigger_reads()
    _md5_while_reading()
