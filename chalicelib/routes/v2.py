"""The catch-all /v2/{proxy+} route and the endpoints it dispatches to."""
from __future__ import annotations

from chalice import Blueprint, Response

from . import blobs, direct, manifests, referrers, tags, uploads  # noqa: F401  (register endpoints)
from .dispatch import dispatch

bp = Blueprint(__name__)

METHODS = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"]


@bp.route("/v2/{proxy+}", methods=METHODS, content_types=["*/*"])
def v2() -> Response:
    """Every /v2/<name>/... request (Chalice passes no argument for a greedy
    parameter, so the path comes from the event's pathParameters)."""
    request = bp.current_request
    return dispatch(request, (request.uri_params or {}).get("proxy", ""))
