"""Administration API (JSON, Basic credentials of an admin): users, namespaces,
robots, grants, repository visibility. The CLI in `client/` drives it."""
from __future__ import annotations

import json
from typing import Any

from chalice import Blueprint, Response

from .. import bootstrap
from ..domain.errors import RegistryError
from ..http.auth import basic_credentials, source_ip
from ..http.errors import error_boundary
from ..http.headers import body_bytes
from .common import empty, json_response

bp = Blueprint(__name__)
JSON = ["*/*"]


def _actor(request: Any):
    creds = basic_credentials(request)
    if not creds:
        raise RegistryError("UNAUTHORIZED", {"reason": "Basic credentials required"},
                            headers={"WWW-Authenticate": 'Basic realm="registry admin"'})
    return bootstrap.accounts().login(creds[0], creds[1], source_ip(request))


def _json(request: Any) -> dict:
    try:
        doc = json.loads(body_bytes(request) or b"{}")
    except ValueError:
        raise RegistryError("UNSUPPORTED", {"reason": "body must be a JSON object"}, status=400) from None
    if not isinstance(doc, dict):
        raise RegistryError("UNSUPPORTED", {"reason": "body must be a JSON object"}, status=400)
    return doc


def _admin_route(path: str, method: str):
    """Register an admin handler `fn(request, actor, body, **params)`."""
    def deco(fn):
        @error_boundary
        def run(request: Any, **params: str) -> Response:
            return fn(request, _actor(request), _json(request), **params)

        def view(**params: str) -> Response:
            return run(bp.current_request, **params)

        view.__name__ = fn.__name__
        bp.route(path, methods=[method], content_types=JSON)(view)
        return fn
    return deco


@_admin_route("/admin/users", "POST")
def create_user(request, actor, body) -> Response:
    bootstrap.accounts().create_user(actor, body.get("username", ""), body.get("password", ""),
                                     bool(body.get("admin")))
    return json_response({"username": body.get("username")}, status=201)


@_admin_route("/admin/users/{username}/password", "PUT")
def set_password(request, actor, body, username: str) -> Response:
    bootstrap.accounts().set_password(actor, username, body.get("password", ""))
    return empty(204)


@_admin_route("/admin/namespaces", "POST")
def create_namespace(request, actor, body) -> Response:
    bootstrap.accounts().create_namespace(actor, body.get("name", ""), body.get("owner"))
    return json_response({"name": body.get("name")}, status=201)


@_admin_route("/admin/namespaces/{namespace}/robots", "POST")
def create_robot(request, actor, body, namespace: str) -> Response:
    username, secret = bootstrap.accounts().create_robot(actor, namespace, body.get("name", ""))
    return json_response({"username": username, "secret": secret}, status=201)


@_admin_route("/admin/robots/{robot}/rotate", "POST")
def rotate_robot(request, actor, body, robot: str) -> Response:
    return json_response({"username": robot, "secret": bootstrap.accounts().rotate_robot(actor, robot)})


@_admin_route("/admin/robots/{robot}", "DELETE")
def revoke_robot(request, actor, body, robot: str) -> Response:
    bootstrap.accounts().revoke_robot(actor, robot)
    return empty(204)


@_admin_route("/admin/grants", "PUT")
def put_grant(request, actor, body) -> Response:
    bootstrap.accounts().set_grant(actor, body.get("account", ""), body.get("role") or "",
                                   namespace=body.get("namespace"), repository=body.get("repository"))
    return empty(204)


@_admin_route("/admin/grants", "DELETE")
def delete_grant(request, actor, body) -> Response:
    bootstrap.accounts().set_grant(actor, body.get("account", ""), None,
                                   namespace=body.get("namespace"), repository=body.get("repository"))
    return empty(204)


@_admin_route("/admin/visibility", "PUT")
def set_visibility(request, actor, body) -> Response:
    bootstrap.accounts().set_public(actor, body.get("repository", ""), bool(body.get("public")))
    return empty(204)
