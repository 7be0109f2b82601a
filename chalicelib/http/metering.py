"""Counts each distribution-API request against its namespace (rules: domain/metering.py).

Called once per request after the answer is made (observe.record's hooks),
from the event and response alone: no read, no write on the request path.
"""
from __future__ import annotations

import re
from typing import Optional

from ..domain.metering import UsageMeter, request_counts

# The repository name of a /v2/<name>/... path, matched from the right as the dispatcher does.
_NAMED = tuple(re.compile(p, re.DOTALL) for p in (
    r"(?P<name>.+)/manifests/[^/]+",
    r"(?P<name>.+)/blobs/uploads/[^/]+/direct",
    r"(?P<name>.+)/blobs/uploads(?:/[^/]*)?",
    r"(?P<name>.+)/blobs/[^/]+",
    r"(?P<name>.+)/tags/list",
    r"(?P<name>.+)/referrers/[^/]+",
))
_NAMESPACE = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")


def namespace_of_event(event: dict) -> Optional[str]:
    """The namespace a REST event addresses, or None (token, admin, catalog, bad names)."""
    if event.get("resource") != "/v2/{proxy+}":
        return None
    proxy = (event.get("pathParameters") or {}).get("proxy") or ""
    for rx in _NAMED:
        m = rx.fullmatch(proxy)
        if m:
            ns = m.group("name").split("/", 1)[0]
            return ns if len(ns) <= 255 and _NAMESPACE.fullmatch(ns) else None
    return None


def _header(response: dict, name: str) -> str:
    for k, v in (response.get("headers") or {}).items():
        if k.lower() == name:
            return str(v)
    for k, vs in (response.get("multiValueHeaders") or {}).items():
        if k.lower() == name and vs:
            return str(vs[0])
    return ""


def note(meter: UsageMeter, event: dict, response: dict, operation: str, redirected: int) -> None:
    """Record one request's counts (see domain.metering.request_counts)."""
    ns = namespace_of_event(event)
    if ns is None:
        return
    kind, _, method = operation.rpartition(" ")
    status = int(response.get("statusCode") or 0)
    meter.record(ns, request_counts(kind, method, status, _header(response, "content-type"), redirected),
                 proven=200 <= status < 400)  # content served or written: the namespace is real
