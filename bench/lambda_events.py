"""Calling the Chalice handler directly with API Gateway proxy events, as Lambda does."""
from __future__ import annotations

import time
import uuid
from typing import Any, Optional

from .util import ensure_import_path


class LambdaContext:
    """The part of Lambda's context object that Chalice and the app read."""

    def __init__(self, timeout: float = 29.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "oci-registry-bench"
        self.memory_limit_in_mb = 1024
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


class Invoker:
    """Builds events like the local server's gateway (same resource matching)."""

    def __init__(self, app: Any) -> None:
        ensure_import_path()
        from local.server import RouteTable

        self.app = app
        self.routes = RouteTable(app.routes.keys())

    def event(self, method: str, path: str, query: str = "", headers: Optional[dict] = None,
              body: bytes = b"") -> dict:
        from local.server import build_event

        matched = self.routes.match(path)
        if matched is None:
            raise ValueError(f"no route for {path}")
        resource, params = matched
        hdrs = [("Host", "127.0.0.1"), *((headers or {}).items())]
        if body:
            hdrs.append(("Content-Length", str(len(body))))
        return build_event(method, path, query, hdrs, body, resource, params)

    def __call__(self, event: dict) -> dict:
        return self.app(event, LambdaContext())
