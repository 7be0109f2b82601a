"""Bigger reads for ministack's server (hypercorn on asyncio), so a 10 MiB part arrives in
about ten pieces instead of ~160.

hypercorn reads 64 KiB at a time from a StreamReader that pauses the socket at 128 KiB,
and asyncio's transport receives 256 KiB per recv(); every piece is one more trip through
h11 and the ASGI queue on the one thread that also checks signatures and hashes bodies.
The memory a connection may buffer grows to a few MiB (REQUEST_BUFFER), still bounded.
"""
from __future__ import annotations

import asyncio
import asyncio.selector_events
import functools
from typing import Any

READ_BYTES = 1 << 20
REQUEST_BUFFER = 2 * READ_BYTES


def install() -> None:
    """Raise the read sizes (in the worker process, before it serves)."""
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
