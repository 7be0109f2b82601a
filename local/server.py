"""A threaded WSGI server that hands each request to the Chalice app as the
API Gateway (REST, proxy integration) event Lambda would receive.

Beyond what API Gateway does, it splits a very large PATCH/PUT upload body
into several events of `SPLIT_BYTES` so memory stays bounded; with
`REGISTRY_LAMBDA_LIMITS=1` it instead refuses events over Lambda's 6 MB
payload and answers 504 after 29 s, as the deployed registry would.
"""
from __future__ import annotations

import base64
import concurrent.futures
import json
import logging
import re
import threading
import time
import uuid
from typing import Any, Callable, Iterable, Optional
from urllib.parse import parse_qsl, unquote

from werkzeug.wsgi import get_input_stream

log = logging.getLogger("registry.local")

LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024  # bytes of invocation event (synchronous)
API_GATEWAY_TIMEOUT = 29.0
SPLIT_BYTES = 16 * 1024 * 1024
_UPLOAD_PATH = re.compile(r"^/v2/.+/blobs/uploads/[^/]+$")


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
    local = threading.local()

    def prop(name: str) -> property:
        return property(lambda self: getattr(local, name, None),
                        lambda self, value: setattr(local, name, value))

    cls = app.__class__
    app.__class__ = type(f"ThreadLocal{cls.__name__}", (cls,), {
        "current_request": prop("current_request"), "lambda_context": prop("lambda_context")})


class RouteTable:
    """Maps a path to the resource path API Gateway would pick (literal beats
    parameter beats greedy)."""

    def __init__(self, routes: Iterable[str]) -> None:
        entries = []
        for route in routes:
            parts = [p for p in route.split("/") if p]
            rx, params, literal = "", [], 0
            for p in parts:
                if p.startswith("{") and p.endswith("+}"):
                    params.append(p[1:-2])
                    rx += f"/(?P<{p[1:-2]}>.+)"
                elif p.startswith("{"):
                    params.append(p[1:-1])
                    rx += f"/(?P<{p[1:-1]}>[^/]+)"
                else:
                    literal += 1
                    rx += "/" + re.escape(p)
            greedy = any(p.endswith("+}") for p in parts)
            entries.append(((not greedy, literal, len(parts)), re.compile(f"^{rx or '/'}/?$"), route))
        entries.sort(key=lambda e: e[0], reverse=True)
        self._entries = [(rx, route) for _, rx, route in entries]

    def match(self, path: str) -> Optional[tuple[str, dict]]:
        for rx, route in self._entries:
            m = rx.match(path)
            if m:
                return route, {k: unquote(v) for k, v in m.groupdict().items()}
        return None


def build_event(method: str, path: str, query: str, headers: list[tuple[str, str]],
                body: bytes, resource: str, params: dict, source_ip: str = "127.0.0.1") -> dict:
    """An API Gateway REST proxy event, as Lambda receives it."""
    multi_headers: dict[str, list[str]] = {}
    for k, v in headers:
        multi_headers.setdefault(k, []).append(v)
    multi_query: dict[str, list[str]] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        multi_query.setdefault(k, []).append(v)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {k: vs[-1] for k, vs in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: vs[-1] for k, vs in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource, "httpMethod": method, "path": path,
            "requestId": str(uuid.uuid4()), "stage": "local",
            "identity": {"sourceIp": source_ip},
        },
        # API Gateway is configured with binary media type */*: every body is base64.
        "body": base64.b64encode(body).decode("ascii") if body else None,
        "isBase64Encoded": bool(body),
    }


class LambdaGateway:
    """A WSGI app standing in for API Gateway in front of the Chalice app."""

    def __init__(self, chalice_app: Any, lambda_limits: bool = False) -> None:
        self.app = chalice_app
        make_thread_safe(chalice_app)
        self.routes = RouteTable(chalice_app.routes.keys())
        self.lambda_limits = lambda_limits
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=64) if lambda_limits else None

    def invoke(self, event: dict) -> dict:
        """Call the Chalice handler the way Lambda would."""
        if not self.lambda_limits:
            return self.app(event, _Context(900))
        size = len(json.dumps(event))
        if size > LAMBDA_PAYLOAD_LIMIT:
            return _gateway_error(413, "SIZE_INVALID", {
                "reason": "request too large for AWS Lambda: the invocation payload (body base64 "
                          "encoded plus headers) is capped at 6 MB; send blobs in chunks of at most "
                          "4 MiB or upload them directly to S3", "payloadBytes": size})
        future = self._pool.submit(self.app, event, _Context(API_GATEWAY_TIMEOUT))
        try:
            return future.result(timeout=API_GATEWAY_TIMEOUT)
        except concurrent.futures.TimeoutError:
            return _gateway_error(504, "UNKNOWN", {"reason": "the handler ran longer than API "
                                                             "Gateway's 29 s integration timeout"})

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO") or "/"
        query = environ.get("QUERY_STRING", "")
        headers = _headers(environ)
        matched = self.routes.match(path)
        if matched is None:
            return _respond(start_response, method, _gateway_error(
                404, "UNSUPPORTED", {"reason": "no such endpoint", "path": path}))
        resource, params = matched
        # Bounded by Content-Length, or de-chunked to its end (werkzeug).
        stream = get_input_stream(environ, safe_fallback=True)
        if not self.lambda_limits and method in ("PATCH", "PUT") and _UPLOAD_PATH.match(path):
            response = self._split_upload(method, path, query, headers, stream, resource, params)
        else:
            body = _read_exact(stream, 1 << 62)
            response = self.invoke(build_event(method, path, query, headers, body, resource, params,
                                               environ.get("REMOTE_ADDR", "127.0.0.1")))
        return _respond(start_response, method, response)

    def _split_upload(self, method: str, path: str, query: str, headers: list, stream: Any,
                      resource: str, params: dict) -> dict:
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
                if start is not None and not piece:
                    h = [x for x in h if x[0] != "Content-Range"]
                return self.invoke(build_event(method, path, query, h, piece, resource, params))
            resp = self.invoke(build_event("PATCH", path, "", h, piece, resource, params))
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


def _read_exact(stream: Any, n: int) -> bytes:
    """Read `n` bytes unless the body ends first (chunked streams return short reads)."""
    parts, got = [], 0
    while got < n:
        chunk = stream.read(min(n - got, 1 << 20))
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
            416: "Range Not Satisfiable", 429: "Too Many Requests", 500: "Internal Server Error",
            503: "Service Unavailable", 504: "Gateway Timeout"}


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
