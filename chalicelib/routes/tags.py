"""GET /v2/<name>/tags/list."""
from __future__ import annotations

from chalice import Response

from .. import bootstrap
from ..http.headers import next_link
from .common import json_response, page_params
from .dispatch import endpoint


@endpoint(r"(?P<name>.+)/tags/list", "GET")
def list_tags(request, name: str) -> Response:
    """Tags in lexical order, paginated with n/last and a Link header."""
    n, last = page_params(request)
    page = bootstrap.registry().list_tags(name, n, last)
    headers = {}
    if page.more and page.items:
        headers["Link"] = next_link(f"/v2/{name}/tags/list", len(page.items), page.items[-1])
    return json_response({"name": name, "tags": page.items}, headers=headers)
