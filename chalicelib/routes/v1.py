"""Docker V1 pull protocol (read-only): /v1/_ping, repositories, images."""
from __future__ import annotations

from typing import Any, Optional

import json
import re

from chalice import Blueprint, Response

from ..http.inject import services
from ..auth.scopes import PULL
from ..domain.v1 import V1Pull
from ..http.basic import checker, require
from ..http.errors import error_boundary
from ..oci.errors import RegistryError
from ..oci.names import validate_name
from .common import empty

bp = Blueprint(__name__)
ANY = ["*/*"]
ALL_METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]
V1_HEADERS = {"X-Docker-Registry-Version": "0.6.0", "X-Docker-Registry-Standalone": "True"}


def _json(doc: Any, extra: Optional[dict] = None) -> Response:
    return Response(body=json.dumps(doc), status_code=200,
                    headers={"Content-Type": "application/json", **V1_HEADERS, **(extra or {})})


def _read_only(method: str) -> None:
    if method not in ("GET", "HEAD"):
        raise RegistryError("UNSUPPORTED", {"reason": "the V1 protocol is read-only here: push with "
                                                      "a V2 client (docker, podman, skopeo, helm, oras)"})


@bp.route("/v1/_ping", methods=["GET", "HEAD"], content_types=ANY)
def ping() -> Response:
    """The V1 version check."""
    return Response(body="true", status_code=200, headers={"Content-Type": "application/json", **V1_HEADERS})


@bp.route("/v1/repositories/{proxy+}", methods=ALL_METHODS, content_types=ANY)
def repositories() -> Response:
    """<name>/images, <name>/tags, <name>/tags/<tag>."""
    request = bp.current_request
    return _repositories(request, (request.uri_params or {}).get("proxy", ""))


@error_boundary
def _repositories(request: Any, path: str) -> Response:
    _read_only(request.method)
    m = re.fullmatch(r"(?P<name>.+)/(?:(?P<images>images)|tags(?:/(?P<tag>[^/]+))?)/?", path, re.DOTALL)
    if not m:
        raise RegistryError("UNSUPPORTED", {"reason": "no such V1 endpoint", "path": path}, status=404)
    name = m.group("name")
    validate_name(name)   # a bad name is 400 before any auth decision, as under /v2/
    require(request, name, PULL)
    v1 = V1Pull(services().registry())
    if m.group("images"):
        return _json([{"id": image_id} for image_id in dict.fromkeys(v1.tags(name).values())])
    if m.group("tag"):
        return _json(v1.tag(name, m.group("tag")))
    return _json(v1.tags(name))


@bp.route("/v1/images/{image_id}/{what}", methods=ALL_METHODS, content_types=ANY)
def images(image_id: str, what: str) -> Response:
    """json, ancestry and layer of a synthesised V1 image."""
    return _images(bp.current_request, image_id, what)


@error_boundary
def _images(request: Any, image_id: str, what: str) -> Response:
    _read_only(request.method)
    if what not in ("json", "ancestry", "layer"):
        raise RegistryError("UNSUPPORTED", {"reason": "no such V1 endpoint"}, status=404)
    repo, layer, size, v1_json, ancestry = V1Pull(services().registry()).image(image_id, checker(request, PULL))
    if what == "json":
        return Response(body=v1_json, status_code=200, headers={
            "Content-Type": "application/json", "X-Docker-Size": str(size), **V1_HEADERS})
    if what == "ancestry":
        return _json(ancestry)
    _, url = services().registry().blob_url(repo, layer)
    return empty(307, {"Location": url, **V1_HEADERS})
