"""GET /v2/ (API version check) and GET /v2/_catalog."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from ..http.inject import services
from ..domain.registry import Page
from ..http.auth import CATALOG_SCOPE, authenticate, catalog_challenge
from ..http.errors import error_boundary
from ..http.headers import API_VERSION, next_link
from .common import json_response, page_params

bp = Blueprint(__name__)


@bp.route("/v2", methods=["GET", "HEAD"], content_types=["*/*"])
def base() -> Response:
    """The API version check every client starts with."""
    return _base(bp.current_request)


@error_boundary
def _base(request: Any) -> Response:
    authenticate(request)
    return Response(body="" if request.method == "HEAD" else "{}", status_code=200,
                    headers={"Content-Type": "application/json", **API_VERSION})


@bp.route("/v2/_catalog", methods=["GET"], content_types=["*/*"])
def catalog() -> Response:
    """Repository names in order, paginated with n/last and Link."""
    return _catalog(bp.current_request)


@error_boundary
def _catalog(request: Any) -> Response:
    access = authenticate(request, CATALOG_SCOPE)
    if not access.catalog:
        raise catalog_challenge(request)
    n, last = page_params(request)
    if access.everything:
        page = services().registry().catalog(n, last)
    else:
        size = services().registry().page_size(n)
        principal = services().accounts().principal(access.subject)
        page = Page(*services().accounts().catalog(principal, size, last)) if size else Page([], False)
    headers = {}
    if page.more and page.items:
        headers["Link"] = next_link("/v2/_catalog", len(page.items), page.items[-1])
    return json_response({"repositories": page.items}, headers=headers)
