"""Render registry errors as OCI error bodies, in one place."""
from __future__ import annotations

import functools
import json
import logging
from typing import Any, Callable

from chalice import Response

from ..domain.errors import RegistryError
from ..storage.errors import aws_failure
from .headers import API_VERSION

log = logging.getLogger("registry")


def render(err: RegistryError, method: str = "GET") -> Response:
    """An OCI error response (HEAD responses carry no body)."""
    body = "" if method == "HEAD" else json.dumps(err.body())
    headers = {"Content-Type": "application/json", **API_VERSION, **err.headers}
    return Response(body=body, status_code=err.status, headers=headers)


def _request_id(request: Any) -> str:
    try:
        return request.context.get("requestId", "-")
    except AttributeError:
        return "-"


def error_boundary(fn: Callable[..., Response]) -> Callable[..., Response]:
    """Turn RegistryError, AWS throttling and crashes into OCI error responses.

    Chalice renders exceptions itself before middleware sees them, so each
    route is wrapped with this decorator instead.
    """
    @functools.wraps(fn)
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> Response:
        method = getattr(request, "method", "GET")
        try:
            return fn(request, *args, **kwargs)
        except RegistryError as err:
            return render(err, method)
        except Exception as exc:  # noqa: BLE001 - the boundary of the request
            status = aws_failure(exc)
            if status:
                log.warning("AWS %s during %s %s (request %s): %r", status, method,
                            getattr(request, "path", "?"), _request_id(request), exc)
                code = "TOOMANYREQUESTS" if status == 429 else "UNKNOWN"
                return render(RegistryError(code, {"reason": "storage is busy, retry later"},
                                            status=status, headers={"Retry-After": "1"}), method)
            log.exception("unhandled error in %s %s (request %s)", method,
                          getattr(request, "path", "?"), _request_id(request))
            return render(RegistryError("UNKNOWN", {"requestId": _request_id(request)}, status=500),
                          method)
    return wrapper
