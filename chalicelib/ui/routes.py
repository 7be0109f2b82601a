"""The UI's Chalice routes: parse, call the use cases through the gateway, render.

Every page decides access with the API's own policy (`allowed_actions`,
`can_administer`); a repository the caller may not read answers exactly like
a missing one (the same 404 page).
"""
from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, quote

from chalice import Blueprint, Response

from ..auth.policy import Principal, allowed_actions, can_administer
from ..auth.scopes import PULL
from ..domain.errors import RegistryError
from ..domain.names import MAX_NAME_LENGTH
from ..http.auth import base_url, source_ip
from ..http.headers import body_bytes
from . import render, session, views
from .gateway import gateway as gw

log = logging.getLogger("registry.ui")
bp = Blueprint(__name__)
ANY = ["*/*"]
TAGS_PER_PAGE = 50
REPOS_PER_PAGE = 100
CATALOG_SCAN_PAGES = 20
MAX_FORM_BYTES = 8 * 1024
CONFIG_LIMIT = 256 * 1024
CHART_LIMIT = 4 * 1024 * 1024
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPO_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
NS_RE = re.compile(_COMPONENT)
TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
REF_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}|[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,256}")
ACCOUNT_RE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\+[a-z0-9]+(?:[._-][a-z0-9]+)*)?")


class NotFound(Exception):
    """Missing, or not readable by the caller: the same answer."""


@dataclass
class Ctx:
    request: Any
    principal: Principal
    csrf: str
    secure: bool
    target: views.Target
    cookies: list[str] = field(default_factory=list)

    @property
    def user(self) -> str:
        return self.principal.name


def _context(request: Any) -> Ctx:
    jar = session.cookies(request)
    s = gw.settings()
    url = base_url(request)
    secure = url.startswith("https://")
    principal = Principal(admin=True) if s.auth_mode == "none" else Principal()
    token = jar.get(session.SESSION_COOKIE)
    if token and s.auth_mode != "none":
        name = session.session_subject(token, s, gw.verifier())
        if name:
            try:
                p = gw.principal(name)
                if p.robot_namespace is None:
                    principal = p
            except RegistryError:
                pass  # revoked or removed: anonymous from now on
    csrf = jar.get(session.CSRF_COOKIE) or ""
    new: list[str] = []
    if not session.CSRF_RE.fullmatch(csrf):
        csrf = session.new_csrf()
        new.append(session.cookie_header(session.CSRF_COOKIE, csrf, secure=secure,
                                         max_age=session.SESSION_TTL))
    return Ctx(request, principal, csrf, secure, views.Target(url), new)


def _page(ctx: Ctx, template: str, status: int = 200, **kw: Any) -> Response:
    return render.page(template, status, ctx.cookies, user=ctx.user, csrf=ctx.csrf,
                       is_admin=ctx.principal.admin, auth_on=gw.settings().auth_mode != "none", **kw)


def _ui(path: str, methods: tuple = ("GET",)) -> Callable:
    """Register a page handler `fn(ctx, **params)` with the UI's error boundary."""
    def deco(fn: Callable) -> Callable:
        def view(**params: str) -> Response:
            request = bp.current_request
            try:
                ctx = _context(request)
            except Exception:  # noqa: BLE001 - a broken session never breaks the page
                log.exception("UI context failed")
                return render.page("error.html", 500, title="Error", message="internal error")
            try:
                return fn(ctx, **params)
            except NotFound:
                return _page(ctx, "not_found.html", 404, title="Not found")
            except RegistryError as err:
                status = 404 if err.status == 404 else err.status
                return _page(ctx, "error.html", status, title="Error", message=_message(err))
            except Exception:  # noqa: BLE001 - the boundary of the request
                log.exception("UI page %s failed", path)
                return _page(ctx, "error.html", 500, title="Error", message="internal error")

        view.__name__ = f"ui_{fn.__name__}"
        bp.route(path, methods=list(methods), content_types=ANY)(view)
        return fn
    return deco


def _message(err: RegistryError) -> str:
    reason = err.detail.get("reason") if isinstance(err.detail, dict) else None
    return f"{err.message}: {reason}" if reason else err.message


def _param(ctx: Ctx, name: str, rx: Optional[re.Pattern] = None, required: bool = True) -> str:
    value = (ctx.request.query_params or {}).get(name) or ""
    if not value and not required:
        return ""
    if not value or len(value) > MAX_NAME_LENGTH + 140 or (rx is not None and not rx.fullmatch(value)):
        raise NotFound()
    return value


def _form(ctx: Ctx) -> dict[str, str]:
    """The urlencoded form of a POST, after the CSRF check (403 on failure)."""
    raw = body_bytes(ctx.request)
    if len(raw) > MAX_FORM_BYTES:
        raise RegistryError("DENIED", {"reason": "form too large"}, status=413)
    try:
        parsed = parse_qs(raw.decode("utf-8"), max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise RegistryError("DENIED", {"reason": "malformed form"}, status=400) from None
    form = {k: v[-1] for k, v in parsed.items()}
    if not session.csrf_ok(session.cookies(ctx.request).get(session.CSRF_COOKIE), form.get("csrf")):
        raise RegistryError("DENIED", {"reason": "CSRF check failed: reload the page and try again"})
    return form


def _readable(ctx: Ctx, repo: str) -> bool:
    """Whether the caller may pull `repo` (False for missing ones too)."""
    public = gw.reads().repo_visibility(repo)
    if public is None:
        return False
    return PULL in allowed_actions(ctx.principal, repo, public)


def _need_readable(ctx: Ctx, repo: str) -> None:
    if not _readable(ctx, repo):
        raise NotFound()


# -- static assets, login, logout -------------------------------------------------------
@bp.route("/ui/static/{name}", methods=["GET"], content_types=ANY)
def ui_static(name: str) -> Response:
    resp = render.static(name)
    return resp or render.page("not_found.html", 404, title="Not found", user="", csrf="")


@_ui("/ui/login")
def login_form(ctx: Ctx) -> Response:
    return _page(ctx, "login.html", title="Log in", error="")


@_ui("/ui/login", ("POST",))
def login(ctx: Ctx) -> Response:
    form = _form(ctx)
    username, password = form.get("username", ""), form.get("password", "")
    if "+" in username:
        return _page(ctx, "login.html", 403, title="Log in",
                     error="Robot accounts cannot log in to the UI; use them with registry clients.")
    try:
        p = gw.login(username, password, source_ip(ctx.request))
    except RegistryError as err:
        if err.code == "TOOMANYREQUESTS":
            return _page(ctx, "login.html", 429, title="Log in", error="Too many failed logins; retry later.")
        return _page(ctx, "login.html", 401, title="Log in", error="Invalid username or password.")
    if p.robot_namespace is not None:
        return _page(ctx, "login.html", 403, title="Log in",
                     error="Robot accounts cannot log in to the UI; use them with registry clients.")
    s = gw.settings()
    token = session.new_session_token(p.name, s, gw.signer())
    # A fresh CSRF token with the new session (no token fixed before login survives it).
    cookies = [session.cookie_header(session.SESSION_COOKIE, token, secure=ctx.secure,
                                     max_age=session.SESSION_TTL),
               session.cookie_header(session.CSRF_COOKIE, session.new_csrf(), secure=ctx.secure,
                                     max_age=session.SESSION_TTL)]
    return render.redirect("/ui/", cookies)


@_ui("/ui/logout", ("POST",))
def logout(ctx: Ctx) -> Response:
    _form(ctx)
    return render.redirect("/ui/", [session.cookie_header(session.SESSION_COOKIE, "", secure=ctx.secure,
                                                          max_age=0)])


# -- browsing -------------------------------------------------------------------------
@_ui("/ui")
def home(ctx: Ctx) -> Response:
    q = (ctx.request.query_params or {}).get("q", "")[:100]
    last = _param(ctx, "last", REPO_RE, required=False) or None
    rows: list[views.RepoRow] = []
    cursor, more, next_last = last, True, ""
    for _ in range(CATALOG_SCAN_PAGES):
        page, more = gw.accounts().store.list_repos_with_visibility(REPOS_PER_PAGE, cursor)
        for name, public in page:
            if PULL in allowed_actions(ctx.principal, name, public):
                rows.extend(views.repo_rows([(name, public)], q))
        if len(rows) > REPOS_PER_PAGE:
            next_last = rows[REPOS_PER_PAGE - 1].name
            break
        if not more or not page:
            break
        cursor = page[-1][0]
    else:
        next_last = cursor or ""  # scan budget spent: go on from where it stopped
    if not next_last and more and len(rows) == REPOS_PER_PAGE:
        next_last = rows[-1].name
    rows = rows[:REPOS_PER_PAGE]
    rows = views.with_last_push(rows, gw.reads().last_pushes([r.name for r in rows]))
    namespaces = sorted({r.namespace for r in rows})
    admin_of = [ns for ns in namespaces if ctx.user and can_administer(ctx.principal, ns)]
    if ctx.user and ctx.principal.robot_namespace is None and ctx.user not in admin_of:
        admin_of.append(ctx.user)
    return _page(ctx, "home.html", title="Repositories", rows=rows, q=q, namespaces=namespaces,
                 admin_of=sorted(admin_of), next_last=next_last, quote=quote)


@_ui("/ui/repo")
def repository(ctx: Ctx) -> Response:
    repo = _param(ctx, "name", REPO_RE)
    last = _param(ctx, "last", TAG_RE, required=False) or None
    _need_readable(ctx, repo)
    items, more = gw.reads().tag_items(repo, TAGS_PER_PAGE, last)
    rows = [views.tag_row(ctx.target, repo, t.tag, t.digest, t.media_type, t.size, t.body, t.pushed)
            for t in items]
    ns = repo.split("/", 1)[0]
    return _page(ctx, "repo.html", title=repo, repo=repo, rows=rows, quote=quote,
                 next_last=rows[-1].tag if more and rows else "",
                 can_admin=bool(ctx.user) and can_administer(ctx.principal, ns), namespace=ns)


@_ui("/ui/manifest")
def manifest(ctx: Ctx) -> Response:
    repo = _param(ctx, "name", REPO_RE)
    ref = _param(ctx, "ref", REF_RE)
    _need_readable(ctx, repo)
    reg = gw.registry()
    try:
        res = reg.get_manifest(repo, ref)
    except RegistryError as err:
        if err.status in (400, 404):
            raise NotFound() from None
        raise
    doc = views.parse_json(res.body) or {}
    config_doc = None
    config = doc.get("config") if isinstance(doc.get("config"), dict) else None
    if config and config.get("mediaType") in views.IMAGE_CONFIGS and isinstance(config.get("digest"), str):
        config_doc = views.parse_json(gw.blob_bytes(repo, config["digest"], CONFIG_LIMIT))
    index, _ = reg.referrers(repo, res.digest, None, 100)
    view = views.manifest_view(repo, ref, res.digest, res.media_type, res.body or b"", config_doc, index,
                               gw.settings().schema1_key_pem is not None)
    return _page(ctx, "manifest.html", title=f"{repo}@{res.digest[:19]}", m=view, quote=quote,
                 commands=views.commands(ctx.target, repo, ref, view.kind) if not ref.count(":") else [])


@_ui("/ui/chart")
def chart(ctx: Ctx) -> Response:
    repo = _param(ctx, "name", REPO_RE)
    ref = _param(ctx, "ref", TAG_RE)
    _need_readable(ctx, repo)
    reg = gw.registry()
    try:
        res = reg.get_manifest(repo, ref)
    except RegistryError as err:
        if err.status in (400, 404):
            raise NotFound() from None
        raise
    doc = views.parse_json(res.body) or {}
    config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    if config.get("mediaType") != views.HELM_CONFIG:
        raise NotFound()
    meta = views.parse_json(gw.blob_bytes(repo, str(config.get("digest")), CONFIG_LIMIT))
    chart_desc, prov_desc = views.chart_layers(doc)
    archive = gw.blob_bytes(repo, str(chart_desc.get("digest")), CHART_LIMIT) if chart_desc else None
    prov = gw.blob_bytes(repo, str(prov_desc.get("digest")), CONFIG_LIMIT) if prov_desc else None
    items, _ = gw.reads().tag_items(repo, TAGS_PER_PAGE, None)
    versions = [t.tag for t in items if views.kind_of(t.media_type, views.parse_json(t.body))[0] == "Helm chart"]
    view = views.chart_view(repo, ref, res.digest, meta, archive, prov, versions)
    return _page(ctx, "chart.html", title=f"{repo} {ref}", c=view, quote=quote,
                 commands=views.commands(ctx.target, repo, ref, "Helm chart"))


# -- namespace administration -------------------------------------------------------------
def _admin_ns(ctx: Ctx, ns: str) -> None:
    if not ctx.user or not NS_RE.fullmatch(ns) or not can_administer(ctx.principal, ns):
        raise NotFound()


def _admin_page(ctx: Ctx, ns: str, status: int = 200, message: str = "", error: str = "",
                secret: Optional[tuple[str, str]] = None) -> Response:
    repos: list[tuple[str, bool]] = []
    cursor: Optional[str] = ns + "/"
    for _ in range(CATALOG_SCAN_PAGES):
        page, more = gw.accounts().store.list_repos_with_visibility(REPOS_PER_PAGE, cursor)
        inside = [(n, p) for n, p in page if n.startswith(ns + "/")]
        repos.extend(inside)
        if not more or len(inside) < len(page) or not page:
            break
        cursor = page[-1][0]
    return _page(ctx, "admin.html", status, title=f"Administer {ns}", ns=ns, repos=repos, message=message,
                 error=error, secret=secret, roles=("read", "write", "admin"))


@_ui("/ui/admin")
def admin(ctx: Ctx) -> Response:
    ns = _param(ctx, "ns", NS_RE)
    _admin_ns(ctx, ns)
    return _admin_page(ctx, ns)


def _admin_post(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def run(ctx: Ctx) -> Response:
        form = _form(ctx)
        ns = form.get("ns", "")
        _admin_ns(ctx, ns)
        try:
            return fn(ctx, ns, form)
        except RegistryError as err:
            return _admin_page(ctx, ns, err.status, error=_message(err))
    return run


def _field(form: dict, name: str, rx: re.Pattern) -> str:
    value = form.get(name, "")
    if not rx.fullmatch(value) or len(value) > MAX_NAME_LENGTH:
        raise RegistryError("NAME_INVALID", {"reason": f"{name} is not a valid name"})
    return value


@_ui("/ui/admin/robots", ("POST",))
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
    raise RegistryError("UNSUPPORTED", {"reason": "action must be create, rotate or revoke"}, status=400)


@_ui("/ui/admin/grants", ("POST",))
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


@_ui("/ui/admin/visibility", ("POST",))
@_admin_post
def visibility(ctx: Ctx, ns: str, form: dict) -> Response:
    repo = form.get("repository", "")
    if not REPO_RE.fullmatch(repo) or not repo.startswith(ns + "/"):
        raise RegistryError("NAME_INVALID", {"reason": f"the repository must be in {ns}/"})
    public = form.get("public") == "1"
    gw.accounts().set_public(ctx.principal, repo, public)
    return _admin_page(ctx, ns, message=f"{repo} is now {'public' if public else 'private'}.")
