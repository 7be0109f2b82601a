"""Administration API (JSON, Basic credentials of an admin): users, namespaces,
robots, grants, repository visibility, usage reports and webhooks. The CLI in
`client/` drives it."""
from __future__ import annotations

from typing import Any, Callable

from chalice import Blueprint, Response

from ..auth.policy import Principal
from ..http.inject import services
from ..domain.events import EVENT_TYPES
from ..domain.metering import as_csv, as_json
from ..http.auth import basic_credentials, source_ip
from ..http.errors import error_boundary
from ..http.headers import body_bytes
from ..http.json_schema import ACCOUNT, REPOSITORY, SECRET, USER, check, invalid, obj, parse_json
from ..oci.errors import RegistryError
from .common import empty, json_response

bp = Blueprint(__name__)
JSON = ["*/*"]

Handler = Callable[..., Response]  # an admin handler: (request, actor, body, **params)


def _actor(request: Any) -> Principal:
    creds = basic_credentials(request)
    if not creds:
        raise RegistryError("UNAUTHORIZED", {"reason": "Basic credentials required"},
                            headers={"WWW-Authenticate": 'Basic realm="registry admin"'})
    return services().accounts().login(creds[0], creds[1], source_ip(request))


def _json(request: Any, name: str, schema: dict, floats: bool = False) -> dict:
    """The body, strictly parsed (no fractions unless `floats`), checked against `schema`.
    No body reads as `{}`, except for a PUT: it replaces a whole document, so an empty one
    (a lost body, say) must not silently clear it; `{}` says so explicitly."""
    body = body_bytes(request)
    if not body.strip():
        if request.method == "PUT":
            raise invalid("body", "a PUT needs a JSON document (send {} to clear every field)")
        return check(name, schema, {})
    return check(name, schema, parse_json(body, floats))


# One schema per endpoint: JSON booleans only, names with their grammar and length,
# no unknown fields. Names are checked again (fullmatch) by the use cases.
ROLE = {"type": "string", "enum": ["read", "write", "admin"]}
NAMESPACE = {**USER, "maxLength": 255, "pattern": r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*\Z"}
EMPTY = obj()


def _admin_route(path: str, method: str, schema: dict) -> Callable[[Handler], Handler]:
    """Register an admin handler `fn(request, actor, body, **params)`; the body must
    satisfy `schema` (checked once the caller is authenticated)."""
    def deco(fn: Handler) -> Handler:
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
def create_user(request: Any, actor: Principal, body: dict) -> Response:
    services().accounts().create_user(actor, body["username"], body["password"], body.get("admin", False))
    return json_response({"username": body.get("username")}, status=201)


@_admin_route("/admin/users/{username}/password", "PUT", obj(("password",), password=SECRET))
def set_password(request: Any, actor: Principal, body: dict, username: str) -> Response:
    services().accounts().set_password(actor, username, body["password"])
    return empty(204)


@_admin_route("/admin/namespaces", "POST", obj(("name",), name=USER, owner=ACCOUNT))
def create_namespace(request: Any, actor: Principal, body: dict) -> Response:
    services().accounts().create_namespace(actor, body["name"], body.get("owner"))
    return json_response({"name": body.get("name")}, status=201)


@_admin_route("/admin/namespaces/{namespace}/robots", "POST", obj(("name",), name=USER))
def create_robot(request: Any, actor: Principal, body: dict, namespace: str) -> Response:
    username, secret = services().accounts().create_robot(actor, namespace, body["name"])
    return json_response({"username": username, "secret": secret}, status=201)


@_admin_route("/admin/robots/{robot}/rotate", "POST", EMPTY)
def rotate_robot(request: Any, actor: Principal, body: dict, robot: str) -> Response:
    return json_response({"username": robot, "secret": services().accounts().rotate_robot(actor, robot)})


@_admin_route("/admin/robots/{robot}", "DELETE", EMPTY)
def revoke_robot(request: Any, actor: Principal, body: dict, robot: str) -> Response:
    services().accounts().revoke_robot(actor, robot)
    return empty(204)


@_admin_route("/admin/robots/{robot}/restore", "POST", EMPTY)
def restore_robot(request: Any, actor: Principal, body: dict, robot: str) -> Response:
    services().accounts().restore_robot(actor, robot)
    return empty(204)


@_admin_route("/admin/namespaces/{namespace}/members", "GET", EMPTY)
def namespace_members(request: Any, actor: Principal, body: dict, namespace: str) -> Response:
    """The namespace's owner, members (role on the namespace or one repository) and robots."""
    r = services().accounts().namespace_members(actor, namespace)
    return json_response({"namespace": namespace, "owner": r.owner,
                          "members": [{"account": m.account, "role": m.role, "repository": m.repository}
                                      for m in r.members],
                          "robots": [{"username": b.name, "revoked": b.revoked, "created": b.created}
                                     for b in r.robots]}, headers={"Cache-Control": "no-store"})


@_admin_route("/admin/grants", "PUT", obj(("account", "role"), account=ACCOUNT, role=ROLE,
                                               namespace=NAMESPACE, repository=REPOSITORY))
def put_grant(request: Any, actor: Principal, body: dict) -> Response:
    services().accounts().set_grant(actor, body["account"], body["role"],
                                   namespace=body.get("namespace"), repository=body.get("repository"))
    return empty(204)


@_admin_route("/admin/grants", "DELETE", obj(("account",), account=ACCOUNT, namespace=NAMESPACE,
                                                  repository=REPOSITORY))
def delete_grant(request: Any, actor: Principal, body: dict) -> Response:
    services().accounts().set_grant(actor, body["account"], None,
                                   namespace=body.get("namespace"), repository=body.get("repository"))
    return empty(204)


@_admin_route("/admin/visibility", "PUT", obj(("repository", "public"), repository=REPOSITORY,
                                                   public={"type": "boolean"}))
def set_visibility(request: Any, actor: Principal, body: dict) -> Response:
    services().accounts().set_public(actor, body["repository"], body["public"])
    return empty(204)


# -- quotas (docs/lifecycle.md#quotas) -------------------------------------------
LIMIT = {"type": ["integer", "null"], "minimum": 0, "maximum": 2 ** 60}


@_admin_route("/admin/quotas/{namespace}", "GET", EMPTY)
def get_quota(request: Any, actor: Principal, body: dict, namespace: str) -> Response:
    return json_response(services().quotas().get(actor, namespace), headers={"Cache-Control": "no-store"})


@_admin_route("/admin/quotas/{namespace}", "PUT", obj((), quota=LIMIT, soft=LIMIT))
def set_quota(request: Any, actor: Principal, body: dict, namespace: str) -> Response:
    return json_response(services().quotas().set(actor, namespace, body.get("quota"), body.get("soft")))


# -- usage (docs/metering.md) and webhooks (docs/events.md) ----------------------
USAGE_QUERY = frozenset({"namespace", "from", "to", "day", "format"})
WEBHOOK = obj(("url",), url={"type": "string", "minLength": 1, "maxLength": 2048},
              events={"type": "array", "maxItems": len(EVENT_TYPES), "uniqueItems": True,
                      "items": {"type": "string", "enum": list(EVENT_TYPES)}})


@_admin_route("/admin/usage", "GET", EMPTY)
def get_usage(request: Any, actor: Principal, body: dict) -> Response:
    """A namespace's days (?namespace=&from=&to=) or every namespace on one day (?day=),
    as JSON or CSV (?format=csv)."""
    q = dict(request.query_params or {})
    unknown = sorted(set(q) - USAGE_QUERY)
    fmt = q.get("format", "json")
    if unknown or fmt not in ("json", "csv") or ("day" in q) == ("namespace" in q):
        raise RegistryError("UNSUPPORTED", {"reason": "query: namespace=NS [from=, to=] or day=yyyy-mm-dd, "
                                            "and format=json|csv", "unknown": unknown}, status=400)
    usage = services().usage()
    if "day" in q:
        rows, name = usage.day_report(actor, q["day"]), f"usage-{q['day']}"
    else:
        rows = usage.namespace_report(actor, q["namespace"], q.get("from"), q.get("to"))
        name = f"usage-{q['namespace']}-{rows[0].day}-{rows[-1].day}"
    if fmt == "csv":
        return Response(body=as_csv(rows), status_code=200, headers={
            "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{name}.csv"'})
    return json_response(as_json(rows), headers={"Cache-Control": "no-store"})


@_admin_route("/admin/namespaces/{namespace}/webhooks", "POST", WEBHOOK)
def add_webhook(request: Any, actor: Principal, body: dict, namespace: str) -> Response:
    rec = services().webhooks().add(actor, namespace, body["url"], body.get("events"))
    return json_response({"id": rec.webhook_id, "url": rec.url, "events": rec.events, "secret": rec.secret,
                          "created": rec.created}, status=201, headers={"Cache-Control": "no-store"})


@_admin_route("/admin/namespaces/{namespace}/webhooks", "GET", EMPTY)
def list_webhooks(request: Any, actor: Principal, body: dict, namespace: str) -> Response:
    return json_response({"webhooks": services().webhooks().list(actor, namespace)})


@_admin_route("/admin/namespaces/{namespace}/webhooks/{webhook_id}", "DELETE", EMPTY)
def delete_webhook(request: Any, actor: Principal, body: dict, namespace: str, webhook_id: str) -> Response:
    services().webhooks().delete(actor, namespace, webhook_id)
    return empty(204)
