"""Path dispatch under /v2/{proxy+}.

API Gateway and Chalice cannot route repository names that contain slashes,
so one greedy route receives every /v2/<name>/... path and this table matches
it from the right (the last segments are fixed, the name is everything before).

The endpoint patterns are disjoint (blob paths must be digest-shaped, so
`…/blobs/uploads` is never read as a blob), and the table does not depend on
the order modules register in: routes are kept most specific first, and a
path answers 405 only when no matching route has the method.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from chalice import Response

from ..auth.scopes import DELETE, PULL, PUSH
from ..http.auth import authorize
from ..http.errors import error_boundary, render
from ..oci.errors import RegistryError
from ..oci.names import validate_name

Handler = Callable[..., Response]
_ACTION_BY_METHOD = {"GET": PULL, "HEAD": PULL, "PUT": PUSH, "POST": PUSH, "PATCH": PUSH, "DELETE": DELETE}
# Path shapes shared by the endpoint modules.
DIGEST = r"[^/:]+:[^/]*"   # anything with a colon; parse_digest says what is wrong with it
SEGMENT = r"[^/]+"


def specificity(pattern: str) -> tuple[int, str]:
    """How specific a pattern is: its literal characters outside groups (more first)."""
    depth, literal, escaped, in_class = 0, 0, False, False
    for ch in pattern:
        if escaped:
            escaped = False
            literal += depth == 0
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and ch not in "?*+.^$|{}":
            literal += 1
    return (-literal, pattern)


@dataclass
class Route:
    """One path pattern and its handlers by method."""

    regex: re.Pattern
    handlers: dict[str, Handler] = field(default_factory=dict)


class Router:
    """Path patterns (matched whole) to handlers, most specific first."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, pattern: str, methods: tuple[str, ...], handler: Handler) -> None:
        for route in self.routes:
            if route.regex.pattern == pattern:
                route.handlers.update({m: handler for m in methods})
                return
        # DOTALL: `.+` spans a %0a in a name too, so the name check answers 400, not a 404
        self.routes.append(Route(re.compile(pattern, re.DOTALL), {m: handler for m in methods}))
        self.routes.sort(key=lambda r: specificity(r.regex.pattern))

    def resolve(self, path: str, method: str) -> Union[tuple[Handler, dict], set[str], None]:
        """(handler, groups); else the methods the path allows (405); else None (404)."""
        allowed: set[str] = set()
        for route in self.routes:
            m = route.regex.fullmatch(path)
            if not m:
                continue
            handler = route.handlers.get(method)
            if handler is not None:
                return handler, m.groupdict()
            allowed |= set(route.handlers)
        return allowed or None


ROUTER = Router()


def endpoint(pattern: str, *methods: str, action: Optional[str] = None) -> Callable[[Handler], Handler]:
    """Register `handler(request, **groups)` for a path regex under /v2/ and methods.

    Before the handler runs, the caller must hold `action` (by default: pull
    for reads, push for writes, delete for DELETE) on the repository `name`;
    the resulting Access is passed as `request.access`.
    """
    def deco(fn: Handler) -> Handler:
        def guarded(request: Any, **groups: str) -> Response:
            validate_name(groups["name"])  # a bad name is 400 before any auth decision
            request.access = authorize(request, groups["name"], action or _ACTION_BY_METHOD[request.method])
            return fn(request, **groups)

        ROUTER.add(pattern, methods, error_boundary(guarded))
        return fn
    return deco


def dispatch(request: Any, proxy: str) -> Response:
    """Find the endpoint for `/v2/<proxy>` and call it."""
    found = ROUTER.resolve(proxy.rstrip("/"), request.method)
    if isinstance(found, tuple):
        handler, groups = found
        return handler(request, **groups)
    if found:
        return render(RegistryError("UNSUPPORTED", {"method": request.method, "path": f"/v2/{proxy}"},
                                    headers={"Allow": ", ".join(sorted(found))}), request.method)
    return render(RegistryError("UNSUPPORTED", {"reason": "no such endpoint", "path": f"/v2/{proxy}"},
                                status=404), request.method)
