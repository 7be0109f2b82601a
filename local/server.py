"""A threaded WSGI server that hands each request to the registry's Lambda
handler as the event of the chosen front door (`REGISTRY_FRONT`:
`function-url` (default) or `http-api`, payload 2.0; `rest`, payload 1.0),
through the same adapter as the deployed function (chalicelib/http/events.py).

It refuses what the front door refuses before Lambda: paths that are not
UTF-8 once percent-decoded, bodies over the cap (non-upload bodies: 6 MB,
checked from Content-Length before reading and while reading chunked bodies).
Beyond API Gateway, it splits a very large PATCH/PUT upload body into several
events of `SPLIT_BYTES` so memory stays bounded; with `REGISTRY_LAMBDA_LIMITS=1`
it instead enforces the front door's limits (request and response size,
headers, timeout) as the deployed registry would.
"""
from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import json
import logging
import os
import re
import threading
import time
import uuid
from typing import Any, Callable, Optional
from urllib.parse import unquote, urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import get_input_stream

from chalicelib.config import (LAMBDA_BODY_LIMIT_REASON, LAMBDA_PAYLOAD_BYTES, NON_UPLOAD_BODY_BYTES,
                               FrontDoor, front_door)
from chalicelib.http.events import RouteTable, handle, rest_event, v2_event
from chalicelib.http.inject import serving

log = logging.getLogger("registry.local")

LAMBDA_PAYLOAD_LIMIT = LAMBDA_PAYLOAD_BYTES  # bytes of invocation event (synchronous)
API_GATEWAY_TIMEOUT = 29.0
SPLIT_BYTES = 16 * 1024 * 1024
# Unread request bodies up to this size are drained after a refusal, so the
# client finishes sending and reads the answer instead of a reset connection.
DRAIN_BYTES = 64 * 1024 * 1024
_UPLOAD_PATH = re.compile(r"/v2/.+/blobs/uploads/[^/]+", re.DOTALL)
_UPLOAD_START = re.compile(r"/v2/.+/blobs/uploads/?", re.DOTALL)
build_event = rest_event  # the REST (1.0) event, kept under its old name


def _endpoint_caps() -> dict[str, int]:
    """Endpoints with a body bound of their own, which answers in the
    endpoint's own error format: the gateway lets that bound speak."""
    from chalicelib.routes.helm import MAX_UPLOAD_BYTES

    return {"/helm/{namespace}/api/charts": MAX_UPLOAD_BYTES + 64 * 1024}  # + form overhead


def _function_timeout(ceiling: float) -> float:
    """The deployed function's timeout (`lambda_timeout` in .chalice/config.json)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".chalice", "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            return min(ceiling, float(json.load(f).get("lambda_timeout") or ceiling))
    except (OSError, ValueError, TypeError, AttributeError):
        return ceiling


class _Context:
    """The subset of the Lambda context object Chalice and our code read."""

    def __init__(self, timeout: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "oci-registry-local"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def make_thread_safe(app: Any) -> None:
    """Chalice keeps `current_request` on the app object; one Lambda process
    serves one request at a time, but this server is threaded, so make those
    attributes thread-local for this process only."""
    if getattr(app.__class__, "_thread_local_request", False):
        return
    local = threading.local()

    def prop(name: str) -> property:
        return property(lambda self: getattr(local, name, None),
                        lambda self, value: setattr(local, name, value))

    cls = app.__class__
    app.__class__ = type(f"ThreadLocal{cls.__name__}", (cls,), {
        "current_request": prop("current_request"), "lambda_context": prop("lambda_context"),
        "_thread_local_request": True})


class _Refused(Exception):
    """The front door refuses the request before the function sees it."""

    def __init__(self, status: int, code: str, detail: dict) -> None:
        super().__init__(detail.get("reason", code))
        self.response = _gateway_error(status, code, detail)


class LambdaGateway:
    """A WSGI app standing in for the front door in front of the Lambda handler."""

    def __init__(self, chalice_app: Any, lambda_limits: bool = False, front: Optional[str] = None,
                 services: Any = None) -> None:
        self.app = chalice_app
        # The container this gateway's requests are served with (chalicelib/container.py);
        # None: the one app.py installed for the process.
        self.services = services
        make_thread_safe(chalice_app)
        self.front: FrontDoor = front_door(front)
        if self.front.name == "function-url":  # no gateway timeout: the function's own
            self.front = dataclasses.replace(self.front, timeout=_function_timeout(self.front.timeout))
        self.routes = RouteTable(chalice_app.routes.keys())
        self.lambda_limits = lambda_limits
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=64) if lambda_limits else None

    def invoke(self, event: dict) -> dict:
        """Call the Lambda handler the way Lambda would (1.0 response shape)."""
        if not self.lambda_limits:
            return self._from_response(self._handle(event, _Context(900)))
        size = len(json.dumps(event))
        if size > LAMBDA_PAYLOAD_LIMIT:
            return _gateway_error(413, "SIZE_INVALID", {"reason": LAMBDA_BODY_LIMIT_REASON,
                                                        "payloadBytes": size})
        timeout = self.front.timeout
        future = self._pool.submit(self._handle, event, _Context(timeout))
        try:
            response = future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            return _gateway_error(504, "UNKNOWN", {"reason": f"the handler ran longer than the "
                                                             f"{self.front.name} timeout ({timeout:g} s)"})
        size = len(json.dumps(response))
        if size > self.front.max_response:
            return _gateway_error(502, "UNKNOWN", {
                "reason": "response too large for AWS Lambda: a function returns at most 6 MB",
                "responseBytes": size})
        return self._from_response(response)

    def _handle(self, event: dict, context: Any) -> dict:
        if self.services is None:
            return handle(self.app, event, context)
        with serving(self.services):
            return handle(self.app, event, context)

    def _from_response(self, response: dict) -> dict:
        """A 2.0 response read back as the 1.0 shape `_respond` writes."""
        if self.front.payload == "1.0":
            return response
        multi = {"Set-Cookie": list(response["cookies"])} if response.get("cookies") else {}
        return {**response, "multiValueHeaders": multi}

    def event(self, method: str, raw_path: str, path: str, query: str, headers: list[tuple[str, str]],
              body: bytes, source_ip: str) -> dict:
        """The event this front door sends for one request (`path`: decoded)."""
        # Bytes bodies, not base64 (RAW_BODY_NOTE in chalicelib/http/events.py), unless the
        # Lambda limits are on: then the event's JSON size is what the front door would send.
        raw = not self.lambda_limits
        if self.front.payload == "1.0":
            resource, params = self.routes.match(path) or (None, {})
            if resource is None:
                raise _Refused(404, "UNSUPPORTED", {"reason": "no such endpoint", "path": path})
            return rest_event(method, path, query, headers, body, resource, params, source_ip, raw=raw)
        if self.front.name == "http-api":
            # HTTP API hands the function the path already percent-decoded.
            return v2_event(method, path, query, headers, body, source_ip, "local.execute-api.localhost", raw=raw)
        return v2_event(method, raw_path, query, headers, body, source_ip,
                        "local.lambda-url.localhost.on.aws", raw=raw)

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        try:
            return self._serve(environ, start_response, method)
        except _Refused as refused:
            # Answer at once, then drop what is left of the body (the client may
            # still be sending it), then close the connection.
            refused.response["headers"]["Connection"] = "close"
            return _ThenDrain(_respond(start_response, method, refused.response), environ)

    def _serve(self, environ: dict, start_response: Callable, method: str) -> list[bytes]:
        raw_path, path = _request_path(environ)
        query = environ.get("QUERY_STRING", "")
        headers = _headers(environ)
        source_ip = environ.get("REMOTE_ADDR", "127.0.0.1")
        if self.lambda_limits and self.front.max_header_bytes:
            size = len(f"{method} {environ.get('RAW_URI', raw_path)} HTTP/1.1") + \
                sum(len(k) + len(v) + 4 for k, v in headers)
            if size > self.front.max_header_bytes:
                raise _Refused(431, "UNSUPPORTED", {
                    "reason": f"request line and headers over the {self.front.name} limit "
                              f"({self.front.max_header_bytes} bytes)", "bytes": size})
        # Bounded by Content-Length, or de-chunked to its end (werkzeug).
        stream = environ["registry.body"] = get_input_stream(environ, safe_fallback=True)
        if not self.lambda_limits and method in ("PATCH", "PUT") and _UPLOAD_PATH.fullmatch(path):
            response = self._split_upload(method, raw_path, path, query, headers, stream, source_ip)
        else:
            upload = bool(_UPLOAD_PATH.fullmatch(path) or _UPLOAD_START.fullmatch(path))
            # A blob too big for Lambda: the answer names the cap and the ways round it.
            reason = LAMBDA_BODY_LIMIT_REASON if self.lambda_limits and upload else None
            body = _read_body(environ, stream, self._body_cap(method, path), reason)
            response = self.invoke(self.event(method, raw_path, path, query, headers, body, source_ip))
        return _respond(start_response, method, response)

    def _body_cap(self, method: str, path: str) -> int:
        """The largest body this request may carry, known before reading it."""
        upload = bool(_UPLOAD_PATH.fullmatch(path) or _UPLOAD_START.fullmatch(path))
        resource = (self.routes.match(path) or ("",))[0]
        cap = SPLIT_BYTES if upload else _endpoint_caps().get(resource, NON_UPLOAD_BODY_BYTES)
        if self.lambda_limits:  # the front door's cap; the 6 MB event cap follows in invoke()
            return min(cap, self.front.max_request_body) if not upload else self.front.max_request_body
        return cap

    def _split_upload(self, method: str, raw_path: str, path: str, query: str, headers: list,
                      stream: Any, source_ip: str) -> dict:
        """Feed a large upload body to the app as successive PATCH events."""
        start = _range_start(headers)
        plain = [(k, v) for k, v in headers if k.lower() not in ("content-range", "content-length")]
        piece = _read_exact(stream, SPLIT_BYTES)
        offset = 0
        while True:
            nxt = _read_exact(stream, SPLIT_BYTES) if len(piece) == SPLIT_BYTES else b""
            last = not nxt
            h = list(plain if start is None else plain + [
                ("Content-Range", f"{start + offset}-{start + offset + max(len(piece), 1) - 1}")])
            h.append(("Content-Length", str(len(piece))))
            if last:
                if offset == 0:
                    # Nothing was split: the registry judges the client's own headers, as deployed.
                    h = [x for x in headers if x[0].lower() != "content-length"]
                    h.append(("Content-Length", str(len(piece))))
                elif start is not None and not piece:
                    h = [x for x in h if x[0] != "Content-Range"]
                return self.invoke(self.event(method, raw_path, path, query, h, piece, source_ip))
            resp = self.invoke(self.event("PATCH", raw_path, path, "", h, piece, source_ip))
            if resp.get("statusCode", 500) >= 300:
                return resp
            offset += len(piece)
            piece = nxt


# What _range_start answers for a Content-Range the registry would refuse: the
# pieces then carry a range starting at -1, which the registry answers with 416
# and the upload's real Range, as it would have answered the client's own value.
RANGE_REFUSED = -1


def _range_start(headers: list[tuple[str, str]]) -> Optional[int]:
    """Start of the client's Content-Range (None: none), parsed by the registry's own
    strict parser and checked against Content-Length, since the split pieces carry
    ranges rebuilt from this start alone."""
    from chalicelib.domain.ranges import RangeInvalid, parse_content_range

    values = [v for k, v in headers if k.lower() == "content-range"]
    if not values:
        return None
    lengths = [v.strip() for k, v in headers if k.lower() == "content-length"]
    length = int(lengths[-1]) if lengths and lengths[-1].isascii() and lengths[-1].isdigit() else None
    try:
        return parse_content_range(values[-1], length).start
    except RangeInvalid:
        return RANGE_REFUSED


def _request_path(environ: dict) -> tuple[str, str]:
    """(raw path as sent, percent-decoded path); refuses what is not UTF-8."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is None:  # not werkzeug's server: rebuild from PATH_INFO (already decoded)
        from urllib.parse import quote

        raw = quote(environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace"))
    if any(ord(c) <= 0x20 or ord(c) >= 0x7f for c in raw):
        raise _Refused(400, "UNSUPPORTED", {"reason": "the request target must be printable ASCII "
                                                      "(percent-encode everything else)"})
    raw = urlsplit(raw).path or "/"
    if not raw.startswith("/"):
        raw = "/" + raw
    try:
        path = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise _Refused(400, "UNSUPPORTED", {"reason": "the request path is not valid UTF-8 once "
                                                      "percent-decoded"}) from None
    return raw, path


def _headers(environ: dict) -> list[tuple[str, str]]:
    out = []
    for key, value in environ.items():
        if key.startswith("HTTP_X_FORWARDED_"):
            continue  # API Gateway sets these itself; a client's own are not believed
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
            if name == "Accept":
                # WSGI joins repeated headers with ", "; keep each value, as API Gateway does.
                out.extend((name, v.strip()) for v in value.split(",") if v.strip())
                continue
            out.append((name, value))
    if environ.get("CONTENT_TYPE"):
        out.append(("Content-Type", environ["CONTENT_TYPE"]))
    if environ.get("CONTENT_LENGTH"):
        out.append(("Content-Length", environ["CONTENT_LENGTH"]))
    out.append(("X-Forwarded-Proto", environ.get("wsgi.url_scheme", "http")))
    out.append(("X-Forwarded-For", environ.get("REMOTE_ADDR", "127.0.0.1")))
    return out


def _too_large(cap: int, got: Optional[int] = None, reason: Optional[str] = None) -> _Refused:
    detail: dict = {"reason": reason or f"request body over the {cap} byte cap of this endpoint (as "
                                        f"deployed); blobs go through the upload endpoints", "limitBytes": cap}
    if got is not None:
        detail["contentLength"] = got
    return _Refused(413, "SIZE_INVALID", detail)


def _read_body(environ: dict, stream: Any, cap: int, reason: Optional[str] = None) -> bytes:
    """The whole body, refused (413) beyond `cap`: from Content-Length before
    reading anything, and while reading a chunked body."""
    raw = environ.get("CONTENT_LENGTH") or ""
    if raw:
        if not raw.isdigit():
            raise _Refused(400, "SIZE_INVALID", {"reason": "Content-Length is not a number"})
        if int(raw) > cap:
            raise _too_large(cap, int(raw), reason)
    body = _read_exact(stream, cap + 1)
    if len(body) > cap:
        raise _too_large(cap, reason=reason)
    return body


class _ThenDrain(list):
    """A response body whose close() (called once it is sent) drains the request."""

    def __init__(self, chunks: list[bytes], environ: dict) -> None:
        super().__init__(chunks)
        self.environ = environ

    def close(self) -> None:
        _drain(self.environ)


def _drain(environ: dict) -> None:
    """Read and drop what is left of a refused body (bounded in size and time),
    so that a client still sending gets to read the refusal."""
    try:
        raw = environ.get("CONTENT_LENGTH") or ""
        if raw.isdigit() and int(raw) > DRAIN_BYTES:
            return  # not worth it; the connection is closed after the answer
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            sock.settimeout(5)
        stream = environ.get("registry.body") or get_input_stream(environ, safe_fallback=True)
        left = DRAIN_BYTES
        while left > 0:
            chunk = stream.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
    except Exception:  # noqa: BLE001 - best effort on a request already refused
        pass


def _read_exact(stream: Any, n: int) -> bytes:
    """Read `n` bytes unless the body ends first (chunked streams return short reads).
    A malformed chunked body or one cut short is the client's fault: 400."""
    parts, got = [], 0
    while got < n:
        try:
            chunk = stream.read(min(n - got, 1 << 20))
        except (OSError, ValueError, HTTPException) as exc:
            raise _Refused(400, "SIZE_INVALID", {"reason": f"the request body could not be read: "
                                                           f"{exc.__class__.__name__}"}) from None
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _gateway_error(status: int, code: str, detail: dict) -> dict:
    """An OCI error the gateway answers itself, with the headers every app response carries."""
    from chalicelib.http.headers import API_VERSION, SECURITY_HEADERS

    body = json.dumps({"errors": [{"code": code, "message": detail.get("reason", code), "detail": detail}]})
    headers = {"Content-Type": "application/json", **API_VERSION, **SECURITY_HEADERS}
    return {"statusCode": status, "headers": headers, "body": body}


_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
            307: "Temporary Redirect", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large", 415: "Unsupported Media Type",
            416: "Range Not Satisfiable", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}


def _respond(start_response: Callable, method: str, resp: dict) -> list[bytes]:
    status = int(resp.get("statusCode", 500))
    body = resp.get("body") or ""
    data = base64.b64decode(body) if resp.get("isBase64Encoded") else body.encode("utf-8")
    headers: list[tuple[str, str]] = []
    for k, v in (resp.get("headers") or {}).items():
        headers.append((k, str(v)))
    for k, vs in (resp.get("multiValueHeaders") or {}).items():
        headers.extend((k, str(v)) for v in vs)
    names = {k.lower() for k, _ in headers}
    if "content-length" not in names:
        headers.append(("Content-Length", str(len(data))))
    elif method != "HEAD":
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(data))))
    start_response(f"{status} {_REASONS.get(status, 'Status')}", headers)
    return [] if method == "HEAD" or status in (204, 304) else [data]
