"""Path dispatch under /v2/{proxy+}.

API Gateway and Chalice cannot route repository names that contain slashes,
so one greedy route receives every /v2/<name>/... path and this table matches
it from the right (the last segments are fixed, the name is everything before).
"""
from __future__ import annotations

import re
from typing import Any, Callable, Optional

from chalice import Response

from ..auth.scopes import DELETE, PULL, PUSH
from ..domain.errors import RegistryError
from ..domain.names import validate_name
from ..http.auth import authorize
from ..http.errors import error_boundary, render

Handler = Callable[..., Response]
_TABLE: list[tuple[re.Pattern, dict[str, Handler]]] = []
_ACTION_BY_METHOD = {"GET": PULL, "HEAD": PULL, "PUT": PUSH, "POST": PUSH, "PATCH": PUSH, "DELETE": DELETE}


def endpoint(pattern: str, *methods: str, action: Optional[str] = None) -> Callable[[Handler], Handler]:
    """Register `handler(request, **groups)` for a path regex under /v2/ and methods.

    Before the handler runs, the caller must hold `action` (by default: pull
    for reads, push for writes, delete for DELETE) on the repository `name`;
    the resulting Access is passed as `request.access`.
    """
    regex = re.compile(f"^{pattern}$")

    def deco(fn: Handler) -> Handler:
        def guarded(request: Any, **groups: str) -> Response:
            validate_name(groups["name"])  # a bad name is 400 before any auth decision
            request.access = authorize(request, groups["name"], action or _ACTION_BY_METHOD[request.method])
            return fn(request, **groups)

        wrapped = error_boundary(guarded)
        for rx, handlers in _TABLE:
            if rx.pattern == regex.pattern:
                handlers.update({m: wrapped for m in methods})
                break
        else:
            _TABLE.append((regex, {m: wrapped for m in methods}))
        return fn
    return deco


def dispatch(request: Any, proxy: str) -> Response:
    """Find the endpoint for `/v2/<proxy>` and call it."""
    path = proxy.rstrip("/") if not proxy.endswith("/blobs/uploads/") else proxy
    for regex, handlers in _TABLE:
        m = regex.match(path)
        if not m:
            continue
        handler: Optional[Handler] = handlers.get(request.method)
        if handler is None:
            return render(RegistryError("UNSUPPORTED", {"method": request.method, "path": f"/v2/{proxy}"},
                                        headers={"Allow": ", ".join(sorted(handlers))}),
                          request.method)
        return handler(request, **m.groupdict())
    return render(RegistryError("UNSUPPORTED", {"reason": "no such endpoint", "path": f"/v2/{proxy}"},
                                status=404), request.method)
