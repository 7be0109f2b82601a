"""Header helpers: API version, Link pagination, request header access."""
from __future__ import annotations

from typing import Any, Optional
from urllib.parse import quote

API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}
# On every response: a stored manifest or error may carry any bytes, so browsers
# must neither sniff a type nor run anything they render from this origin.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
# Names a PATCH body the local server stored in S3 as it arrived (local/prestage.py); the server
# drops the header from every client request, and only its own random tokens resolve.
STAGED_BODY_HEADER = "x-registry-staged-body"


def header_values(request: Any, name: str) -> list[str]:
    """Every value of a header, including repeats that Chalice's dict keeps only one of."""
    event = request.to_original_event()
    multi = event.get("multiValueHeaders") or {}
    lname = name.lower()
    values = [v for k, vs in multi.items() if k.lower() == lname for v in (vs or [])]
    if not values:
        single = request.headers.get(name)
        if single is not None:
            values = [single]
    return values


def header(request: Any, name: str) -> Optional[str]:
    """One header value (the last, as API Gateway does)."""
    return request.headers.get(name)


def body_bytes(request: Any) -> bytes:
    """The raw request body as bytes."""
    raw = request.raw_body
    if raw is None:
        return b""
    return raw if isinstance(raw, bytes) else raw.encode("utf-8")


def query(request: Any, name: str) -> Optional[str]:
    """A query parameter, or None."""
    params = request.query_params or {}
    return params.get(name)


def next_link(path: str, n: int, last: str, extra: str = "") -> str:
    """RFC 5988 Link header for the next page."""
    return f'<{path}?n={n}&last={quote(last, safe="")}{extra}>; rel="next"'
