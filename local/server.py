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

from werkzeug.wsgi import get_input_stream

from chalicelib.config import (LAMBDA_BODY_LIMIT_REASON, LAMBDA_PAYLOAD_BYTES, NON_UPLOAD_BODY_BYTES,
                               FrontDoor, front_door)
from chalicelib.http.events import RouteTable, handle, rest_event, v2_event
from chalicelib.http.headers import STAGED_BODY_HEADER
from chalicelib.http.inject import serving

from . import switched_off
from .prestage import Prestager
from .wsgi_io import (Refused, gateway_error, read_body, read_exact, request_headers, request_path,
                      respond)

log = logging.getLogger("registry.local")

LAMBDA_PAYLOAD_LIMIT = LAMBDA_PAYLOAD_BYTES  # bytes of invocation event (synchronous)
API_GATEWAY_TIMEOUT = 29.0
SPLIT_BYTES = 16 * 1024 * 1024
MAX_OBJECT_BYTES = 5 * 1024**4   # S3's largest object: no blob can be larger
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
        # PATCH bodies on to S3 as they arrive (local/prestage.py): never under Lambda limits
        self.prestager = Prestager(services, SPLIT_BYTES) if (
            services is not None and not lambda_limits and not switched_off("REGISTRY_LOCAL_PRESTAGE")) else None

    def invoke(self, event: dict) -> dict:
        """Call the Lambda handler the way Lambda would (1.0 response shape)."""
        if not self.lambda_limits:
            return self._from_response(self._handle(event, _Context(900)))
        size = len(json.dumps(event))
        if size > LAMBDA_PAYLOAD_LIMIT:
            return gateway_error(413, "SIZE_INVALID", {"reason": LAMBDA_BODY_LIMIT_REASON,
                                                        "payloadBytes": size})
        timeout = self.front.timeout
        assert self._pool is not None  # made with lambda_limits
        future = self._pool.submit(self._handle, event, _Context(timeout))
        try:
            response = future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            return gateway_error(504, "UNKNOWN", {"reason": f"the handler ran longer than the "
                                                             f"{self.front.name} timeout ({timeout:g} s)"})
        size = len(json.dumps(response))
        if size > self.front.max_response:
            return gateway_error(502, "UNKNOWN", {
                "reason": "response too large for AWS Lambda: a function returns at most 6 MB",
                "responseBytes": size})
        return self._from_response(response)

    def _handle(self, event: dict, context: Any) -> dict:
        if self.services is None:
            return handle(self.app, event, context)
        with serving(self.services):
            return handle(self.app, event, context)

    def _from_response(self, response: dict) -> dict:
        """A 2.0 response read back as the 1.0 shape `respond` writes."""
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
                raise Refused(404, "UNSUPPORTED", {"reason": "no such endpoint", "path": path})
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
        except Refused as refused:
            # Answer at once and close; the server (local/keepalive.py) drops what is left of
            # the body first, so a client still sending it reads the refusal.
            refused.response["headers"]["Connection"] = "close"
            return respond(start_response, method, refused.response)

    def _serve(self, environ: dict, start_response: Callable, method: str) -> list[bytes]:
        raw_path, path = request_path(environ)
        query = environ.get("QUERY_STRING", "")
        # Only the server's own tokens name a staged body (local/prestage.py): never a client's.
        headers = [(k, v) for k, v in request_headers(environ) if k.lower() != STAGED_BODY_HEADER]
        source_ip = environ.get("REMOTE_ADDR", "127.0.0.1")
        if self.lambda_limits and self.front.max_header_bytes:
            size = len(f"{method} {environ.get('RAW_URI', raw_path)} HTTP/1.1") + \
                sum(len(k) + len(v) + 4 for k, v in headers)
            if size > self.front.max_header_bytes:
                raise Refused(431, "UNSUPPORTED", {
                    "reason": f"request line and headers over the {self.front.name} limit "
                              f"({self.front.max_header_bytes} bytes)", "bytes": size})
        # keepalive.py passes a Content-Length only when the client sent one, valid and alone
        raw_length = environ.get("CONTENT_LENGTH") or ""
        length = int(raw_length) if raw_length.isdigit() else None
        if length is not None and length > MAX_OBJECT_BYTES:   # no S3 object can hold it: say so now
            raise Refused(413, "SIZE_INVALID", {"reason": f"a body of {length} bytes is over S3's "
                                                          f"object limit ({MAX_OBJECT_BYTES} bytes)"})
        # Bounded by Content-Length, or de-chunked to its end (werkzeug).
        stream = get_input_stream(environ, safe_fallback=True)
        prestager = self.prestager
        staged = prestager.applies(method, path, length, _range_start(headers)) if (
            prestager and method == "PATCH") else None
        if prestager and staged:
            def invoke(h: list[tuple[str, str]], body: bytes) -> dict:
                return self.invoke(self.event(method, raw_path, path, query, h, body, source_ip))
            response = prestager.serve(*staged, stream, headers, invoke)
        elif not self.lambda_limits and method in ("PATCH", "PUT") and _UPLOAD_PATH.fullmatch(path):
            response = self._split_upload(method, raw_path, path, query, headers, stream, source_ip)
        else:
            upload = bool(_UPLOAD_PATH.fullmatch(path) or _UPLOAD_START.fullmatch(path))
            # A blob too big for Lambda: the answer names the cap and the ways round it.
            reason = LAMBDA_BODY_LIMIT_REASON if self.lambda_limits and upload else None
            body = read_body(environ, stream, self._body_cap(method, path), reason)
            response = self.invoke(self.event(method, raw_path, path, query, headers, body, source_ip))
        return respond(start_response, method, response)

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
        piece = read_exact(stream, SPLIT_BYTES)
        offset = 0
        while True:
            nxt = read_exact(stream, SPLIT_BYTES) if len(piece) == SPLIT_BYTES else b""
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
