"""AWS SDK calls to the in-memory AWS served by this very process, without a socket.

`REGISTRY_EMBEDDED=memory` runs moto's WSGI app in this process; going through HTTP
to reach it cost every DynamoDB or S3 call a request encoding, a loopback round trip
and a server thread (3.3 ms of CPU per GetItem here, most of the test suite's time).
`route(url, app)` makes botocore hand requests for `url` straight to `app` and build
its response from what the app returns: same bytes, same parsing, same retries and
events (call counting, signing); only the transport is skipped. Anything else —
a presigned URL fetched by a real client, another endpoint — goes over HTTP as before.
"""
from __future__ import annotations

import io
import sys
import threading
from typing import Any, Callable, Iterator
from urllib.parse import unquote, urlsplit

_routes: dict[str, Callable] = {}   # "http://127.0.0.1:port" -> WSGI app
_lock = threading.Lock()
_installed = False


class _Raw:
    """The bits of a urllib3 response that botocore reads (whole body in memory)."""

    def __init__(self, body: bytes) -> None:
        self._body = io.BytesIO(body)

    def stream(self, amt: int = 2 ** 16, decode_content: Any = None) -> Iterator[bytes]:
        while True:
            chunk = self._body.read(amt)
            if not chunk:
                return
            yield chunk

    def read(self, amt: Any = None, decode_content: Any = None) -> bytes:
        return self._body.read(amt) if amt is not None else self._body.read()

    def close(self) -> None:
        self._body.close()

    def release_conn(self) -> None:
        pass


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        return body.read()
    return b"".join(body)


def _call(app: Callable, request: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    parts = urlsplit(request.url)
    body = _body_bytes(request.body)
    environ = {
        "REQUEST_METHOD": request.method, "SCRIPT_NAME": "", "PATH_INFO": unquote(parts.path, "latin-1"),
        "RAW_URI": parts.path + (f"?{parts.query}" if parts.query else ""),
        "QUERY_STRING": parts.query, "SERVER_NAME": parts.hostname or "127.0.0.1",
        "SERVER_PORT": str(parts.port or 80), "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0), "wsgi.url_scheme": parts.scheme, "wsgi.multithread": True,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    for name, value in request.headers.items():
        name = name.decode("latin-1") if isinstance(name, bytes) else name
        value = value.decode("latin-1") if isinstance(value, bytes) else value
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if key == "CONTENT_TYPE":
                environ[key] = value
            continue
        environ["HTTP_" + key] = value
    environ.setdefault("HTTP_HOST", parts.netloc)
    started: list = []

    def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
        started[:] = [status, headers]
        return lambda data: None

    result = app(environ, start_response)
    try:
        payload = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close:
            close()
    status, headers = started
    if request.method == "HEAD":
        payload = b""
    response = AWSResponse(request.url, int(status.split(" ", 1)[0]), dict(headers), _Raw(payload))
    if not request.stream_output:
        response.content  # noqa: B018 - read now, as botocore's own transport does
    return response


def _install() -> None:
    global _installed
    from botocore.endpoint import Endpoint

    original = Endpoint._send

    def _send(self: Any, request: Any) -> Any:
        for base, app in _routes.items():
            if request.url.startswith(base + "/") or request.url == base:
                return _call(app, request)
        return original(self, request)

    Endpoint._send = _send   # type: ignore[method-assign]
    _installed = True


def route(base_url: str, app: Callable) -> None:
    """Serve SDK requests for `base_url` (scheme://host:port) with `app` in this process."""
    with _lock:
        if not _installed:
            _install()
        _routes[base_url.rstrip("/")] = app


def unroute(base_url: str) -> None:
    with _lock:
        _routes.pop(base_url.rstrip("/"), None)
