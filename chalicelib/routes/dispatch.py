"""Path dispatch under /v2/{proxy+}.

API Gateway and Chalice cannot route repository names that contain slashes,
so one greedy route receives every /v2/<name>/... path and this table matches
it from the right (the last segments are fixed, the name is everything before).
"""
from __future__ import annotations

import re
from typing import Any, Callable, Optional

from chalice import Response

from ..domain.errors import RegistryError
from ..http.errors import error_boundary, render

Handler = Callable[..., Response]
_TABLE: list[tuple[re.Pattern, dict[str, Handler]]] = []


def endpoint(pattern: str, *methods: str) -> Callable[[Handler], Handler]:
    """Register `handler(request, **groups)` for a path regex under /v2/ and methods."""
    regex = re.compile(f"^{pattern}$")

    def deco(fn: Handler) -> Handler:
        wrapped = error_boundary(fn)
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
