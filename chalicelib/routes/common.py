"""Small rendering helpers shared by the route modules."""
from __future__ import annotations

import json
from typing import Any, Optional

from chalice import Response

from ..http.headers import API_VERSION, query
from ..oci.errors import RegistryError


def json_response(doc: Any, status: int = 200, content_type: str = "application/json",
                  headers: Optional[dict] = None) -> Response:
    """A JSON body with the API version header."""
    return Response(body=json.dumps(doc), status_code=status,
                    headers={"Content-Type": content_type, **API_VERSION, **(headers or {})})


def empty(status: int, headers: Optional[dict] = None) -> Response:
    """A response without a body."""
    return Response(body="", status_code=status,
                    headers={**API_VERSION, "Content-Length": "0", **(headers or {})})


def page_params(request: Any) -> tuple[Optional[int], Optional[str]]:
    """`n` and `last` of a paginated listing."""
    raw_n = query(request, "n")
    n: Optional[int] = None
    if raw_n not in (None, ""):
        try:
            if not (raw_n.isascii() and raw_n.isdigit()):   # int() also takes "+2", " 2", "２"
                raise ValueError
            n = int(raw_n)
        except ValueError:
            raise RegistryError("UNSUPPORTED", {"reason": "n must be a non-negative integer", "n": raw_n},
                                status=400) from None
    return n, query(request, "last") or None
