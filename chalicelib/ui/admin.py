"""Namespace administration pages: robots, roles, repository visibility (namespace admins only)."""
from __future__ import annotations

import functools
import re
from typing import Callable, Optional

from chalice import Response

from ..auth.policy import can_administer
from ..oci.errors import RegistryError
from ..oci.names import MAX_NAME_LENGTH
from .gateway import gateway as gw
from .web import (ACCOUNT_RE, CATALOG_SCAN_PAGES, NS_RE, REPO_RE, REPOS_PER_PAGE, Ctx, NotFound, form_of, message,
                  page, param, ui_route)

# -- namespace administration -------------------------------------------------------------
def _admin_ns(ctx: Ctx, ns: str) -> None:
    if not ctx.user or not NS_RE.fullmatch(ns) or not can_administer(ctx.principal, ns):
        raise NotFound()


def _admin_page(ctx: Ctx, ns: str, status: int = 200, message: str = "", error: str = "",
                secret: Optional[tuple[str, str]] = None) -> Response:
    repos: list[tuple[str, bool]] = []
    cursor: Optional[str] = ns + "/"
    for _ in range(CATALOG_SCAN_PAGES):
        batch, more = gw.accounts().store.list_repos_with_visibility(REPOS_PER_PAGE, cursor)
        inside = [(n, p) for n, p in batch if n.startswith(ns + "/")]
        repos.extend(inside)
        if not more or len(inside) < len(batch) or not batch:
            break
        cursor = batch[-1][0]
    roster = gw.accounts().namespace_members(ctx.principal, ns)
    return page(ctx, "admin.html", status, title=f"Administer {ns}", ns=ns, repos=repos, message=message,
                 error=error, secret=secret, roles=("read", "write", "admin"), roster=roster,
                 **_lifecycle(ctx, ns))


def _lifecycle(ctx: Ctx, ns: str) -> dict:
    """The tag policy, usage and quota sections (docs/lifecycle.md, docs/metering.md)."""
    from datetime import datetime, timedelta, timezone

    from . import lifecycle_views as lv

    docs, more = gw.tag_admin().namespace_policies(ctx.principal, ns, lv.MAX_POLICIES)
    today = datetime.now(timezone.utc).date()
    rows = gw.usage().namespace_report(ctx.principal, ns, (today - timedelta(days=lv.USAGE_DAYS - 1)).isoformat(),
                                       today.isoformat())
    quota = lv.quota_view(gw.quotas().get(ctx.principal, ns))   # one GetItem
    return {"policies": [lv.policy_row(d["repository"], d["policy"]) for d in docs], "more_policies": more,
            "usage": lv.usage_view(rows), "usage_days": lv.USAGE_DAYS, "quota": quota,
            "set_quota": ctx.principal.admin}


@ui_route("/ui/admin")
def admin(ctx: Ctx) -> Response:
    ns = param(ctx, "ns", NS_RE)
    _admin_ns(ctx, ns)
    return _admin_page(ctx, ns)


def _admin_post(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def run(ctx: Ctx) -> Response:
        form = form_of(ctx)
        ns = form.get("ns", "")
        _admin_ns(ctx, ns)
        try:
            return fn(ctx, ns, form)
        except RegistryError as err:
            return _admin_page(ctx, ns, err.status, error=message(err))
    return run


def _field(form: dict, name: str, rx: re.Pattern) -> str:
    value = form.get(name, "")
    if not rx.fullmatch(value) or len(value) > MAX_NAME_LENGTH:
        raise RegistryError("NAME_INVALID", {"reason": f"{name} is not a valid name"})
    return value


@ui_route("/ui/admin/robots", ("POST",))
@_admin_post
def robots(ctx: Ctx, ns: str, form: dict) -> Response:
    action = form.get("action", "")
    acc = gw.accounts()
    if action == "create":
        username, secret = acc.create_robot(ctx.principal, ns, _field(form, "name", NS_RE))
        return _admin_page(ctx, ns, 201, message=f"Robot {username} created.", secret=(username, secret))
    robot = f"{ns}+{_field(form, 'name', NS_RE)}"
    if action == "rotate":
        secret = acc.rotate_robot(ctx.principal, robot)
        return _admin_page(ctx, ns, message=f"Secret of {robot} rotated.", secret=(robot, secret))
    if action == "revoke":
        acc.revoke_robot(ctx.principal, robot)
        return _admin_page(ctx, ns, message=f"Robot {robot} revoked.")
    if action == "restore":
        acc.restore_robot(ctx.principal, robot)
        return _admin_page(ctx, ns, message=f"Robot {robot} restored (its secret works again).")
    raise RegistryError("UNSUPPORTED", {"reason": "action must be create, rotate, revoke or restore"}, status=400)


@ui_route("/ui/admin/grants", ("POST",))
@_admin_post
def grants(ctx: Ctx, ns: str, form: dict) -> Response:
    account = _field(form, "account", ACCOUNT_RE)
    role = form.get("role", "")
    if role not in ("read", "write", "admin", "none"):
        raise RegistryError("UNSUPPORTED", {"reason": "role must be read, write, admin or none"}, status=400)
    repo = form.get("repository", "")
    kw: dict[str, str] = {"namespace": ns}
    if repo:
        if not REPO_RE.fullmatch(repo) or not repo.startswith(ns + "/"):
            raise RegistryError("NAME_INVALID", {"reason": f"the repository must be in {ns}/"})
        kw = {"repository": repo}
    gw.accounts().set_grant(ctx.principal, account, None if role == "none" else role, **kw)
    where = kw.get("repository") or ns
    return _admin_page(ctx, ns, message=f"{account}: {role} on {where}.")


@ui_route("/ui/admin/visibility", ("POST",))
@_admin_post
def visibility(ctx: Ctx, ns: str, form: dict) -> Response:
    repo = form.get("repository", "")
    if not REPO_RE.fullmatch(repo) or not repo.startswith(ns + "/"):
        raise RegistryError("NAME_INVALID", {"reason": f"the repository must be in {ns}/"})
    public = form.get("public") == "1"
    gw.accounts().set_public(ctx.principal, repo, public)
    return _admin_page(ctx, ns, message=f"{repo} is now {'public' if public else 'private'}.")


@ui_route("/ui/admin/quota", ("POST",))
@_admin_post
def quota(ctx: Ctx, ns: str, form: dict) -> Response:
    """Global administrators set or clear the limits, through the API's use case (which refuses others)."""
    from .lifecycle_views import parse_limit

    hard, soft = parse_limit(form.get("quota", ""), "quota"), parse_limit(form.get("soft", ""), "soft")
    gw.quotas().set(ctx.principal, ns, hard, soft)
    words = lambda v: "none" if v is None else f"{v} bytes"   # noqa: E731
    return _admin_page(ctx, ns, message=f"Quota of {ns}: {words(hard)}, soft limit {words(soft)}.")
