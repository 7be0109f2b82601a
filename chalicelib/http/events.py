"""One translation between the front doors' Lambda events and the Chalice app.

Chalice routes API Gateway REST (payload 1.0) proxy events. A Lambda Function
URL and an HTTP API send payload 2.0 events instead; `handle` turns those into
the 1.0 event the app expects (choosing the resource like API Gateway: literal
beats parameter beats greedy) and turns the app's answer back into a 2.0
response. The local server builds the event of the chosen front door and goes
through `handle` too, so there is one translation, not three. Pure: no boto3.
"""
from __future__ import annotations

import base64
import re
import time
import uuid
from typing import Any, Iterable, Optional
from urllib.parse import parse_qsl, quote, unquote

# What API Gateway (REST) answers in `path`: the request path, percent-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


class RouteTable:
    """Maps a decoded path to the resource path API Gateway would pick
    (literal beats parameter beats greedy). Whole-path matches only: a
    trailing newline is part of the value, never silently dropped."""

    def __init__(self, routes: Iterable[str]) -> None:
        entries = []
        for route in routes:
            parts = [p for p in route.split("/") if p]
            rx, literal = "", 0
            for p in parts:
                if p.startswith("{") and p.endswith("+}"):
                    rx += f"/(?P<{p[1:-2]}>.+)"
                elif p.startswith("{"):
                    rx += f"/(?P<{p[1:-1]}>[^/]+)"
                else:
                    literal += 1
                    rx += "/" + re.escape(p)
            greedy = any(p.endswith("+}") for p in parts)
            pattern = re.compile(f"{rx or '/'}/?", re.DOTALL)
            entries.append(((not greedy, literal, len(parts)), pattern, route))
        entries.sort(key=lambda e: e[0], reverse=True)
        self._entries = [(rx, route) for _, rx, route in entries]

    def match(self, path: str) -> Optional[tuple[str, dict]]:
        """(resource, path parameters) for a percent-decoded path, or None."""
        for rx, route in self._entries:
            m = rx.fullmatch(path)
            if m:
                return route, dict(m.groupdict())
        return None


# RAW_BODY_NOTE: a Lambda event is JSON, so its body is text (base64 for binary). The local
# server (local/server.py) builds its events in-process and may hand the body over as bytes
# (`raw=True`): the same event otherwise, without encoding and decoding every upload piece
# twice (half of the local server's CPU on a push). Chalice takes a bytes body as is.


def rest_event(method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes,
               resource: str, params: dict, source_ip: str = "127.0.0.1",
               request_id: Optional[str] = None, stage: str = "local", raw: bool = False) -> dict:
    """An API Gateway REST proxy event (payload 1.0), as Lambda receives it.
    `path` is percent-decoded; `query` is the raw query string."""
    multi_headers: dict[str, list[str]] = {}
    for k, v in headers:
        multi_headers.setdefault(k, []).append(v)
    multi_query = parse_query(query)
    encoded = quote(path, safe=_PATH_SAFE)
    return {
        "resource": resource,
        "path": encoded,
        "httpMethod": method,
        "headers": {k: vs[-1] for k, vs in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: vs[-1] for k, vs in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource, "httpMethod": method, "path": f"/{stage}{encoded}",
            "requestId": request_id or str(uuid.uuid4()), "stage": stage,
            "identity": {"sourceIp": source_ip},
        },
        # The REST API is configured with binary media type */*: every body is base64.
        # `raw`: the bytes as they are (the local server's events; see RAW_BODY_NOTE).
        "body": (body if raw else base64.b64encode(body).decode("ascii")) if body else None,
        "isBase64Encoded": bool(body) and not raw,
    }


def v2_event(method: str, raw_path: str, query: str, headers: list[tuple[str, str]], body: bytes,
             source_ip: str, domain: str, request_id: Optional[str] = None,
             stage: str = "$default", raw: bool = False) -> dict:
    """A payload 2.0 event as a Function URL or an HTTP API sends it: header
    names lower case, repeated headers joined with commas, cookies apart,
    the raw query string kept, binary bodies base64-encoded."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for k, v in headers:
        name = k.lower()
        if name == "cookie":
            cookies.extend(c.strip() for c in v.split(";") if c.strip())
            continue
        joined[name] = f"{joined[name]},{v}" if name in joined else v
    multi_query = parse_query(query)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": "anonymous", "apiId": domain.split(".")[0], "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": source_ip, "userAgent": joined.get("user-agent", "")},
            "requestId": request_id or str(uuid.uuid4()), "routeKey": "$default", "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": bool(body) and not raw,
    }
    if cookies:
        event["cookies"] = cookies
    if multi_query:
        event["queryStringParameters"] = {k: ",".join(vs) for k, vs in multi_query.items()}
    if body:
        event["body"] = body if raw else base64.b64encode(body).decode("ascii")
    return event


def parse_query(query: str) -> dict[str, list[str]]:
    """Every value of every key, in order (2.0 joins repeats with commas; the
    raw query string keeps them apart)."""
    out: dict[str, list[str]] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        out.setdefault(k, []).append(v)
    return out


def is_v2(event: dict) -> bool:
    return event.get("version") == "2.0"


class BadRequest(Exception):
    """The event cannot be translated; carries the OCI error to answer."""

    def __init__(self, status: int, reason: str, **detail: Any) -> None:
        super().__init__(reason)
        self.status, self.detail = status, {"reason": reason, **detail}

    def response(self, binary_types: list) -> dict:
        from ..oci.errors import RegistryError
        from .errors import render

        err = RegistryError("UNSUPPORTED", self.detail, status=self.status)
        return render(err).to_dict(binary_types)


def v2_path(event: dict) -> str:
    """The percent-decoded request path of a 2.0 event, without the stage.

    A Function URL passes the path still percent-encoded; an HTTP API passes
    it decoded (so it is not decoded twice) and, on a named stage, prefixed
    with the stage."""
    ctx = event.get("requestContext") or {}
    raw = event.get("rawPath") or ctx.get("http", {}).get("path") or "/"
    stage = ctx.get("stage") or "$default"
    if stage != "$default" and (raw == f"/{stage}" or raw.startswith(f"/{stage}/")):
        raw = raw[len(stage) + 1:] or "/"
    if ".lambda-url." in (ctx.get("domainName") or ""):
        try:
            raw = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise BadRequest(400, "the request path is not valid UTF-8 once percent-decoded") from None
    return raw


def from_v2(event: dict, routes: RouteTable) -> dict:
    """The REST (1.0) event equivalent to a payload 2.0 event."""
    ctx = event.get("requestContext") or {}
    http = ctx.get("http") or {}
    method = http.get("method", "GET").upper()
    path = v2_path(event)
    matched = routes.match(path)
    if matched is None:
        raise BadRequest(404, "no such endpoint", path=path)
    resource, params = matched
    # 2.0 joined repeated headers with commas; the app reads list headers
    # (Accept) as comma lists, so one value per name loses nothing it uses.
    headers = [(k, v) for k, v in (event.get("headers") or {}).items()]
    if event.get("cookies"):
        headers.append(("cookie", "; ".join(event["cookies"])))
    body = event.get("body") or ""
    raw = isinstance(body, bytes)  # RAW_BODY_NOTE
    try:
        data = body if isinstance(body, bytes) else (
            base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode("utf-8"))
    except ValueError:
        raise BadRequest(400, "the request body is not valid base64") from None
    return rest_event(method, path, event.get("rawQueryString") or "", headers, data, resource,
                      params, http.get("sourceIp", ""), ctx.get("requestId"),
                      ctx.get("stage") or "$default", raw=raw)


def to_v2(response: dict) -> dict:
    """A 1.0 (Chalice) response as a 2.0 response: one header map, repeated
    values joined with commas, Set-Cookie values as `cookies`."""
    headers: dict[str, str] = {}
    cookies: list[str] = []

    def add(name: str, value: Any) -> None:
        if name.lower() == "set-cookie":
            cookies.append(str(value))
        elif name in headers:
            headers[name] = f"{headers[name]},{value}"
        else:
            headers[name] = str(value)

    for k, v in (response.get("headers") or {}).items():
        add(k, v)
    for k, vs in (response.get("multiValueHeaders") or {}).items():
        for v in vs:
            add(k, v)
    out: dict[str, Any] = {"statusCode": int(response.get("statusCode", 500)), "headers": headers,
                           "body": response.get("body") or "",
                           "isBase64Encoded": bool(response.get("isBase64Encoded"))}
    if cookies:
        out["cookies"] = cookies
    return out


def handle(app: Any, event: dict, context: Any) -> dict:
    """The Lambda handler body: any front door's event in, its response shape out."""
    from . import observe

    started = time.perf_counter()
    v2 = is_v2(event)
    ctx = event.get("requestContext") or {}
    observe.begin(ctx.get("requestId") or "-", getattr(context, "aws_request_id", "-"))
    rest: Optional[dict] = event
    if v2:
        table = getattr(app, "_event_routes", None)  # built once per process
        if table is None:
            table = app._event_routes = RouteTable(app.routes.keys())
        try:
            rest = from_v2(event, table)
        except BadRequest as exc:
            rest, response = None, exc.response(app.api.binary_types)
    if rest is not None:
        response = app(rest, context)
    observe.record(rest or event, response, time.perf_counter() - started)
    return to_v2(response) if v2 else response
