"""Structured JSON logs and per-operation metrics, through AWS Lambda Powertools.

Every request that goes through `events.handle` leaves one CloudWatch Embedded
Metric Format line (namespace `OciRegistry`, dimension `operation`: count,
latency, 5xx count, bytes redirected to S3) and binds its request id to the
`registry` logger, whose records are JSON. Powertools is imported on the
first request, not at `import app`, so that importing the package stays cheap.
Logs and metric lines go to stderr (Lambda sends both streams to CloudWatch).
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from typing import Any, Callable, Mapping, Optional

SERVICE = "oci-registry"
NAMESPACE = "OciRegistry"
LOGGER_NAME = "registry"  # the std logger every module of ours logs under

_lock = threading.Lock()
_state = threading.local()   # per request (the local server is threaded)
_logger: Any = None
# Called with (REST event, response, operation, bytes redirected) after each request
# (usage metering, see http/metering.py); installed by the entry point.
_hooks: list[Callable[[dict, dict, str, int], None]] = []

_V2_KINDS = (
    (re.compile(r".+/manifests/[^/]+", re.DOTALL), "manifest"),
    (re.compile(r".+/blobs/uploads/?", re.DOTALL), "upload start"),
    (re.compile(r".+/blobs/uploads/[^/]+", re.DOTALL), "upload"),
    (re.compile(r".+/blobs/[^/]+", re.DOTALL), "blob"),
    (re.compile(r".+/tags/list", re.DOTALL), "tags"),
    (re.compile(r".+/referrers/[^/]+", re.DOTALL), "referrers"),
)


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test capture, local server)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def logger() -> Any:
    """The powertools Logger behind `logging.getLogger("registry")` (JSON records)."""
    global _logger
    if _logger is None:
        with _lock:
            if _logger is None:
                from aws_lambda_powertools.logging.logger import Logger

                _logger = Logger(service=LOGGER_NAME, level=os.environ.get("LOG_LEVEL", "INFO"),
                                 logger_handler=_Stderr())
    return _logger


def operation(event: dict) -> str:
    """A low-cardinality name for what a REST event asks: `<area> <METHOD>`."""
    ctx = event.get("requestContext") or {}
    method = ctx.get("httpMethod") or (ctx.get("http") or {}).get("method") or "?"
    resource = event.get("resource") or ctx.get("resourcePath") or ""
    if resource == "/v2/{proxy+}":
        proxy = (event.get("pathParameters") or {}).get("proxy", "")
        kind = next((k for rx, k in _V2_KINDS if rx.fullmatch(proxy)), "other")
    elif resource.startswith("/v2"):
        kind = "catalog" if resource.endswith("_catalog") else "base"
    elif resource.startswith("/helm/"):
        kind = "helm " + resource.rsplit("/", 1)[-1].replace("{filename}", "chart")
    else:
        kind = resource.strip("/").split("/")[0] or "unrouted"
    return f"{kind} {method}"


def begin(request_id: str, lambda_request_id: str = "-") -> None:
    """Start a request: bind its ids to every log record of this thread."""
    _state.redirected = 0
    try:
        logger().thread_safe_append_keys(request_id=request_id, lambda_request_id=lambda_request_id)
    except Exception:  # noqa: BLE001 - observability never fails a request
        pass


def add_hook(fn: Callable[[dict, dict, str, int], None]) -> None:
    """Run `fn(event, response, operation, redirected)` after every request (once per fn)."""
    if fn not in _hooks:
        _hooks.append(fn)


def _run_hooks(event: dict, response: dict, op: str) -> None:
    for hook in list(_hooks):
        try:
            hook(event, response, op, getattr(_state, "redirected", 0))
        except Exception:  # noqa: BLE001 - a hook never fails a request
            logging.getLogger(LOGGER_NAME).exception("request hook failed")


def redirected(size: int) -> None:
    """Count bytes the current request sends to S3 by redirect (blob pulls)."""
    _state.redirected = getattr(_state, "redirected", 0) + max(0, int(size))


def record(event: dict, response: dict, seconds: float) -> Optional[Mapping[str, Any]]:
    """Emit the request's EMF line; returns it (tests read it back)."""
    status = int(response.get("statusCode") or 0)
    request_id = (event.get("requestContext") or {}).get("requestId", "-")
    op = operation(event)
    _run_hooks(event, response, op)
    try:
        from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
        from aws_lambda_powertools.metrics.functions import is_metrics_disabled

        m = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        m.add_dimension("operation", op)
        m.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        m.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=round(seconds * 1000, 3))
        m.add_metric(name="Errors5xx", unit=MetricUnit.Count, value=1 if status >= 500 else 0)
        m.add_metric(name="BytesRedirected", unit=MetricUnit.Bytes,
                     value=getattr(_state, "redirected", 0))
        m.add_metadata(key="request_id", value=request_id)
        m.add_metadata(key="status", value=status)
        line = m.serialize_metric_set()
        if status >= 500:
            logger().error("request failed", extra={"operation": op, "status": status})
        if not is_metrics_disabled():  # POWERTOOLS_METRICS_DISABLED / POWERTOOLS_DEV
            _emit(json.dumps(line, separators=(",", ":")))
        return line
    except Exception:  # noqa: BLE001 - observability never fails a request
        logging.getLogger(LOGGER_NAME).exception("could not record metrics")
        return None
    finally:
        _state.redirected = 0
        try:
            logger().thread_safe_clear_keys()
        except Exception:  # noqa: BLE001
            pass


def _emit(line: str) -> None:
    with _lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
