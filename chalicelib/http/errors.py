"""Render registry errors as OCI error bodies, in one place."""
from __future__ import annotations

import functools
import json
import logging
from typing import Any, Callable, Union

from chalice import Response

from ..oci.errors import RegistryError
from .failures import aws_failure
from .headers import API_VERSION, SECURITY_HEADERS

log = logging.getLogger("registry")


def render(err: RegistryError, method: str = "GET") -> Response:
    """An OCI error response (HEAD responses carry no body)."""
    body = "" if method == "HEAD" else json.dumps(err.body())
    # Also rendered outside the app's middleware (the event adapter's own refusals).
    headers: dict[str, Union[str, list[str]]] = {"Content-Type": "application/json", **API_VERSION,
                                                 **SECURITY_HEADERS, **err.headers}
    return Response(body=body, status_code=err.status, headers=headers)


def _request_id(request: Any) -> str:
    try:
        return request.context.get("requestId", "-")
    except AttributeError:
        return "-"


def _path(request: Any) -> str:
    """The request's path (Chalice's `path` is the route pattern, e.g. /v2/{proxy+})."""
    try:
        return str(request.to_original_event().get("path") or request.path)
    except AttributeError:
        return "?"


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
        except RecursionError:
            # Last-resort net: the parsers cap nesting themselves; input that still
            # nests too deep for Python is the client's fault, not a crash.
            path = _path(request)
            log.warning("input nested too deeply in %s %s (request %s)", method, path, _request_id(request))
            code = "MANIFEST_INVALID" if "/manifests/" in path else "UNSUPPORTED"
            return render(RegistryError(code, {"reason": "input nested too deeply"}, status=400), method)
        except Exception as exc:  # noqa: BLE001 - the boundary of the request
            status = aws_failure(exc)
            if status:
                log.warning("storage failure (%s) during %s %s (request %s): %r", status, method,
                            _path(request), _request_id(request), exc)
                code = "TOOMANYREQUESTS" if status == 429 else "UNKNOWN"
                reason = "storage is busy" if status == 429 else "storage is unavailable"
                return render(RegistryError(code, {"reason": f"{reason}, retry later",
                                                   "requestId": _request_id(request)},
                                            status=status, headers={"Retry-After": "1"}), method)
            log.exception("unhandled error in %s %s (request %s)", method, _path(request),
                          _request_id(request))
            return render(RegistryError("UNKNOWN", {"requestId": _request_id(request)}, status=500),
                          method)
    return wrapper
