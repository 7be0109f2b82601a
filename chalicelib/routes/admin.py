"""Administration API (JSON, Basic credentials of an admin): users, namespaces,
robots, grants, repository visibility. The CLI in `client/` drives it."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from .. import bootstrap
from ..domain.errors import RegistryError
from ..http.auth import basic_credentials, source_ip
from ..http.errors import error_boundary
from ..http.headers import body_bytes
from ..http.json_schema import ACCOUNT, REPOSITORY, SECRET, USER, check, obj, parse_json
from .common import empty, json_response

bp = Blueprint(__name__)
JSON = ["*/*"]


def _actor(request: Any):
    creds = basic_credentials(request)
    if not creds:
        raise RegistryError("UNAUTHORIZED", {"reason": "Basic credentials required"},
                            headers={"WWW-Authenticate": 'Basic realm="registry admin"'})
    return bootstrap.accounts().login(creds[0], creds[1], source_ip(request))


def _json(request: Any, name: str, schema: dict) -> dict:
    body = body_bytes(request)
    doc = parse_json(body) if body.strip() else {}
    return check(name, schema, doc)


# One schema per endpoint: JSON booleans only, names with their grammar and length,
# no unknown fields. Names are checked again (fullmatch) by the use cases.
ROLE = {"type": "string", "enum": ["read", "write", "admin"]}
NAMESPACE = {**USER, "maxLength": 255, "pattern": r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*\Z"}
EMPTY = obj()


def _admin_route(path: str, method: str, schema: dict):
    """Register an admin handler `fn(request, actor, body, **params)`; the body must
    satisfy `schema` (checked once the caller is authenticated)."""
    def deco(fn):
        @error_boundary
        def run(request: Any, **params: str) -> Response:
            actor = _actor(request)
            return fn(request, actor, _json(request, f"admin:{method}:{path}", schema), **params)

        def view(**params: str) -> Response:
            return run(bp.current_request, **params)

        view.__name__ = fn.__name__
        bp.route(path, methods=[method], content_types=JSON)(view)
        return fn
    return deco


@_admin_route("/admin/users", "POST", obj(("username", "password"), username=USER, password=SECRET,
                                                admin={"type": "boolean"}))
def create_user(request, actor, body) -> Response:
    bootstrap.accounts().create_user(actor, body["username"], body["password"], body.get("admin", False))
    return json_response({"username": body.get("username")}, status=201)


@_admin_route("/admin/users/{username}/password", "PUT", obj(("password",), password=SECRET))
def set_password(request, actor, body, username: str) -> Response:
    bootstrap.accounts().set_password(actor, username, body["password"])
    return empty(204)


@_admin_route("/admin/namespaces", "POST", obj(("name",), name=USER, owner=ACCOUNT))
def create_namespace(request, actor, body) -> Response:
    bootstrap.accounts().create_namespace(actor, body["name"], body.get("owner"))
    return json_response({"name": body.get("name")}, status=201)


@_admin_route("/admin/namespaces/{namespace}/robots", "POST", obj(("name",), name=USER))
def create_robot(request, actor, body, namespace: str) -> Response:
    username, secret = bootstrap.accounts().create_robot(actor, namespace, body["name"])
    return json_response({"username": username, "secret": secret}, status=201)


@_admin_route("/admin/robots/{robot}/rotate", "POST", EMPTY)
def rotate_robot(request, actor, body, robot: str) -> Response:
    return json_response({"username": robot, "secret": bootstrap.accounts().rotate_robot(actor, robot)})


@_admin_route("/admin/robots/{robot}", "DELETE", EMPTY)
def revoke_robot(request, actor, body, robot: str) -> Response:
    bootstrap.accounts().revoke_robot(actor, robot)
    return empty(204)


@_admin_route("/admin/grants", "PUT", obj(("account", "role"), account=ACCOUNT, role=ROLE,
                                               namespace=NAMESPACE, repository=REPOSITORY))
def put_grant(request, actor, body) -> Response:
    bootstrap.accounts().set_grant(actor, body["account"], body["role"],
                                   namespace=body.get("namespace"), repository=body.get("repository"))
    return empty(204)


@_admin_route("/admin/grants", "DELETE", obj(("account",), account=ACCOUNT, namespace=NAMESPACE,
                                                  repository=REPOSITORY))
def delete_grant(request, actor, body) -> Response:
    bootstrap.accounts().set_grant(actor, body["account"], None,
                                   namespace=body.get("namespace"), repository=body.get("repository"))
    return empty(204)


@_admin_route("/admin/visibility", "PUT", obj(("repository", "public"), repository=REPOSITORY,
                                                   public={"type": "boolean"}))
def set_visibility(request, actor, body) -> Response:
    bootstrap.accounts().set_public(actor, body["repository"], body["public"])
    return empty(204)
