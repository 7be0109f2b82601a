"""Browsing pages: log in and out, repositories, tags, manifests, charts, static assets."""
from __future__ import annotations

from urllib.parse import quote

from chalice import Response

from ..auth.policy import allowed_actions, can_administer
from ..auth.scopes import PULL
from ..http.auth import source_ip
from ..oci.errors import RegistryError
from . import render, session
from .gateway import gateway as gw
from .web import (ANY, CATALOG_SCAN_PAGES, CHART_LIMIT, CONFIG_LIMIT, REF_RE, REPO_RE, REPOS_PER_PAGE, TAG_RE,
                  TAGS_PER_PAGE, Ctx, NotFound, bp, form_of, need_readable, page, param, ui_route)

# -- static assets, login, logout -------------------------------------------------------
@bp.route("/ui/static/{name}", methods=["GET"], content_types=ANY)
def ui_static(name: str) -> Response:
    resp = render.static(name)
    return resp or render.page("not_found.html", 404, title="Not found", user="", csrf="")


@ui_route("/ui/login")
def login_form(ctx: Ctx) -> Response:
    return page(ctx, "login.html", title="Log in", error="")


@ui_route("/ui/login", ("POST",))
def login(ctx: Ctx) -> Response:
    form = form_of(ctx)
    username, password = form.get("username", ""), form.get("password", "")
    if "+" in username:
        return page(ctx, "login.html", 403, title="Log in",
                     error="Robot accounts cannot log in to the UI; use them with registry clients.")
    try:
        p = gw.login(username, password, source_ip(ctx.request))
    except RegistryError as err:
        if err.code == "TOOMANYREQUESTS":
            return page(ctx, "login.html", 429, title="Log in", error="Too many failed logins; retry later.")
        return page(ctx, "login.html", 401, title="Log in", error="Invalid username or password.")
    if p.robot_namespace is not None:
        return page(ctx, "login.html", 403, title="Log in",
                     error="Robot accounts cannot log in to the UI; use them with registry clients.")
    s = gw.settings()
    token = session.new_session_token(p.name, p.generation, s, gw.signer())
    # A fresh CSRF token with the new session (no token fixed before login survives it).
    cookies = [session.cookie_header(session.SESSION_COOKIE, token, secure=ctx.secure,
                                     max_age=session.SESSION_TTL),
               session.cookie_header(session.CSRF_COOKIE, session.new_csrf(), secure=ctx.secure,
                                     max_age=session.SESSION_TTL)]
    return render.redirect("/ui/", cookies)


@ui_route("/ui/logout", ("POST",))
def logout(ctx: Ctx) -> Response:
    form_of(ctx)
    return render.redirect("/ui/", [session.cookie_header(session.SESSION_COOKIE, "", secure=ctx.secure,
                                                          max_age=0)])


# -- browsing -------------------------------------------------------------------------
@ui_route("/ui")
def home(ctx: Ctx) -> Response:
    from . import views  # on first use: the API's cold start does not pay for the UI

    q = (ctx.request.query_params or {}).get("q", "")[:100]
    last = param(ctx, "last", REPO_RE, required=False) or None
    rows: list[views.RepoRow] = []
    cursor, more, next_last = last, True, ""
    for _ in range(CATALOG_SCAN_PAGES):
        batch, more = gw.accounts().store.list_repos_with_visibility(REPOS_PER_PAGE, cursor)
        for name, public in batch:
            if PULL in allowed_actions(ctx.principal, name, public):
                rows.extend(views.repo_rows([(name, public)], q))
        if len(rows) > REPOS_PER_PAGE:
            next_last = rows[REPOS_PER_PAGE - 1].name
            break
        if not more or not batch:
            break
        cursor = batch[-1][0]
    else:
        next_last = cursor or ""  # scan budget spent: go on from where it stopped
    if not next_last and more and len(rows) == REPOS_PER_PAGE:
        next_last = rows[-1].name
    rows = rows[:REPOS_PER_PAGE]
    rows = views.with_stats(rows, gw.reads().repo_stats([r.name for r in rows]))
    namespaces = sorted({r.namespace for r in rows})
    admin_of = [ns for ns in namespaces if ctx.user and can_administer(ctx.principal, ns)]
    if ctx.user and ctx.principal.robot_namespace is None and ctx.user not in admin_of:
        admin_of.append(ctx.user)
    return page(ctx, "home.html", title="Repositories", rows=rows, q=q, namespaces=namespaces,
                 admin_of=sorted(admin_of), next_last=next_last, quote=quote)


@ui_route("/ui/repo")
def repository(ctx: Ctx) -> Response:
    from . import views  # on first use: the API's cold start does not pay for the UI

    repo = param(ctx, "name", REPO_RE)
    last = param(ctx, "last", TAG_RE, required=False) or None
    public = need_readable(ctx, repo)
    items, next_last = gw.reads().tag_items(repo, TAGS_PER_PAGE, last)
    rows = [views.tag_row(ctx.target, repo, t.tag, t.digest, t.media_type, t.size, t.body, t.pushed,
                          t.expires_at) for t in items]
    ns = repo.split("/", 1)[0]
    return page(ctx, "repo.html", title=repo, repo=repo, rows=rows, quote=quote, public=public,
                 next_last=next_last or "",
                 can_admin=bool(ctx.user) and can_administer(ctx.principal, ns), namespace=ns)


def _readable_manifest(ctx: Ctx, repo: str, ref: str) -> tuple:
    """(registry, manifest, parsed body) of a manifest the caller may read, else 404."""
    from . import views

    need_readable(ctx, repo)
    reg = gw.registry()
    try:
        res = reg.get_manifest(repo, ref)
    except RegistryError as err:
        if err.status in (400, 404):
            raise NotFound() from None
        raise
    return reg, res, views.parse_json(res.body) or {}


@ui_route("/ui/manifest")
def manifest(ctx: Ctx) -> Response:
    from . import views  # on first use: the API's cold start does not pay for the UI

    repo = param(ctx, "name", REPO_RE)
    ref = param(ctx, "ref", REF_RE)
    reg, res, doc = _readable_manifest(ctx, repo, ref)
    config_doc = None
    config = doc.get("config") if isinstance(doc.get("config"), dict) else None
    if config and config.get("mediaType") in views.IMAGE_CONFIGS and isinstance(config.get("digest"), str):
        config_doc = views.parse_json(gw.blob_bytes(repo, config["digest"], CONFIG_LIMIT))
    index, _ = reg.referrers(repo, res.digest, None, 100)
    view = views.manifest_view(repo, ref, res.digest, res.media_type, res.body or b"", config_doc, index,
                               gw.settings().schema1_key_pem is not None)
    return page(ctx, "manifest.html", title=f"{repo}@{res.digest[:19]}", m=view, quote=quote,
                 commands=views.commands(ctx.target, repo, ref, view.kind) if not ref.count(":") else [])


@ui_route("/ui/chart")
def chart(ctx: Ctx) -> Response:
    from . import views  # on first use: the API's cold start does not pay for the UI

    repo = param(ctx, "name", REPO_RE)
    ref = param(ctx, "ref", TAG_RE)
    reg, res, doc = _readable_manifest(ctx, repo, ref)
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
    return page(ctx, "chart.html", title=f"{repo} {ref}", c=view, quote=quote,
                 commands=views.commands(ctx.target, repo, ref, "Helm chart"))
