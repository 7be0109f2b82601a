"""The local server's WSGI side: a request's path, headers and body read as the front
door reads them (refusals it answers itself), and an event response written back."""
from __future__ import annotations

import base64
import json
from typing import Any, Callable, Optional
from urllib.parse import unquote, urlsplit

from werkzeug.exceptions import HTTPException


# What reading a request body raises when the client's framing or connection fails.
BODY_READ_ERRORS = (OSError, ValueError, HTTPException)


class Refused(Exception):
    """The front door refuses the request before the function sees it."""

    def __init__(self, status: int, code: str, detail: dict) -> None:
        super().__init__(detail.get("reason", code))
        self.response = gateway_error(status, code, detail)


def request_path(environ: dict) -> tuple[str, str]:
    """(raw path as sent, percent-decoded path); refuses what is not UTF-8."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is None:  # not werkzeug's server: rebuild from PATH_INFO (already decoded)
        from urllib.parse import quote

        raw = quote(environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace"))
    if any(ord(c) <= 0x20 or ord(c) >= 0x7f for c in raw):
        raise Refused(400, "UNSUPPORTED", {"reason": "the request target must be printable ASCII "
                                                      "(percent-encode everything else)"})
    raw = urlsplit(raw).path or "/"
    if not raw.startswith("/"):
        raw = "/" + raw
    try:
        path = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise Refused(400, "UNSUPPORTED", {"reason": "the request path is not valid UTF-8 once "
                                                      "percent-decoded"}) from None
    return raw, path


def request_headers(environ: dict) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
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


def too_large(cap: int, got: Optional[int] = None, reason: Optional[str] = None) -> Refused:
    detail: dict = {"reason": reason or f"request body over the {cap} byte cap of this endpoint (as "
                                        f"deployed); blobs go through the upload endpoints", "limitBytes": cap}
    if got is not None:
        detail["contentLength"] = got
    return Refused(413, "SIZE_INVALID", detail)


def read_body(environ: dict, stream: Any, cap: int, reason: Optional[str] = None) -> bytes:
    """The whole body, refused (413) beyond `cap`: from Content-Length before
    reading anything, and while reading a chunked body."""
    raw = environ.get("CONTENT_LENGTH") or ""
    if raw:
        if not raw.isdigit():
            raise Refused(400, "SIZE_INVALID", {"reason": "Content-Length is not a number"})
        if int(raw) > cap:
            raise too_large(cap, int(raw), reason)
    body = read_exact(stream, cap + 1)
    if len(body) > cap:
        raise too_large(cap, reason=reason)
    return body


def read_exact(stream: Any, n: int) -> bytes:
    """Read `n` bytes unless the body ends first (chunked streams return short reads).
    A malformed chunked body or one cut short is the client's fault: 400."""
    parts, got = [], 0
    while got < n:
        try:
            chunk = stream.read(min(n - got, 1 << 20))
        except BODY_READ_ERRORS as exc:
            raise Refused(400, "SIZE_INVALID", {"reason": f"the request body could not be read: "
                                                           f"{exc.__class__.__name__}"}) from None
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def gateway_error(status: int, code: str, detail: dict) -> dict:
    """An OCI error the gateway answers itself, with the headers every app response carries."""
    from chalicelib.http.headers import API_VERSION, SECURITY_HEADERS

    body = json.dumps({"errors": [{"code": code, "message": detail.get("reason", code), "detail": detail}]})
    headers = {"Content-Type": "application/json", **API_VERSION, **SECURITY_HEADERS}
    return {"statusCode": status, "headers": headers, "body": body}


REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
            307: "Temporary Redirect", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large", 415: "Unsupported Media Type",
            416: "Range Not Satisfiable", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}


def respond(start_response: Callable, method: str, resp: dict) -> list[bytes]:
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
    start_response(f"{status} {REASONS.get(status, 'Status')}", headers)
    return [] if method == "HEAD" or status in (204, 304) else [data]
