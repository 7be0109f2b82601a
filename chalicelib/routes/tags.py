"""GET /v2/<name>/tags/list."""
from __future__ import annotations

from typing import Any

from chalice import Response

from ..http.inject import inject
from ..domain.registry import Registry
from ..domain.tag_policy import rfc3339
from ..http.headers import next_link
from .common import json_response, page_params
from .dispatch import endpoint


@endpoint(r"(?P<name>.+)/tags/list", "GET")
@inject("registry")
def list_tags(request: Any, name: str, registry: Registry) -> Response:
    """Tags in lexical order, paginated with n/last and a Link header."""
    n, last = page_params(request)
    page = registry.list_tags(name, n, last)
    headers = {}
    if page.more and page.items:
        headers["Link"] = next_link(f"/v2/{name}/tags/list", len(page.items), page.items[-1])
    doc: dict[str, Any] = {"name": name, "tags": page.items}
    if page.expires:  # extension field (docs/api.md): when tags on this page expire, RFC 3339 UTC
        doc["expires"] = {tag: rfc3339(when) for tag, when in page.expires.items()}
    return json_response(doc, headers=headers)
