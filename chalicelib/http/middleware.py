"""Request-level fixes Chalice needs for a registry."""
from __future__ import annotations

from typing import Any

from chalice.app import CaseInsensitiveMapping


def install(app: Any) -> None:
    """Register the middleware on `app`."""

    @app.middleware("http")
    def accept_anything(event: Any, get_response: Any) -> Any:
        # With `*/*` as binary type, Chalice refuses a response unless the
        # request's Accept matches; content negotiation reads the original
        # multi-value headers, so Chalice's single copy can be widened safely.
        if event.headers.get("accept") is None:
            headers = dict(event.headers)
            headers["accept"] = "*/*"
            event.headers = CaseInsensitiveMapping(headers)
        return get_response(event)
