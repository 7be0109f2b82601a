"""The UI blueprint and what every page shares: request context, error boundary, access checks.

Every page decides access with the API's own policy (`allowed_actions`,
`can_administer`); a repository the caller may not read answers exactly like
a missing one (the same 404 page).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import parse_qs

from chalice import Blueprint, Response

from ..auth.policy import Principal, allowed_actions
from ..auth.scopes import PULL
from ..http.auth import base_url
from ..http.headers import body_bytes
from ..oci.errors import RegistryError
from ..oci.names import MAX_NAME_LENGTH
from . import render, session
from .gateway import gateway as gw

if TYPE_CHECKING:  # views is imported on the first UI request, not at cold start
    from .views import Target

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
    target: Target
    cookies: list[str] = field(default_factory=list)

    @property
    def user(self) -> str:
        return self.principal.name


def context(request: Any) -> Ctx:
    jar = session.cookies(request)
    s = gw.settings()
    url = base_url(request)
    secure = url.startswith("https://")
    principal = Principal(admin=True) if s.auth_mode == "none" else Principal()
    token = jar.get(session.SESSION_COOKIE)
    if token and s.auth_mode != "none":
        subject = session.session_subject(token, s, gw.verifier())
        if subject:
            try:
                p = gw.session_principal(*subject)
                if p.robot_namespace is None:
                    principal = p
            except RegistryError:
                pass  # revoked, removed or credentials changed since the login: anonymous from now on
    csrf = jar.get(session.CSRF_COOKIE) or ""
    new: list[str] = []
    if not session.CSRF_RE.fullmatch(csrf):
        csrf = session.new_csrf()
        new.append(session.cookie_header(session.CSRF_COOKIE, csrf, secure=secure,
                                         max_age=session.SESSION_TTL))
    from .views import Target

    return Ctx(request, principal, csrf, secure, Target(url), new)


def page(ctx: Ctx, template: str, status: int = 200, **kw: Any) -> Response:
    return render.page(template, status, ctx.cookies, user=ctx.user, csrf=ctx.csrf,
                       is_admin=ctx.principal.admin, auth_on=gw.settings().auth_mode != "none", **kw)


def ui_route(path: str, methods: tuple = ("GET",)) -> Callable:
    """Register a page handler `fn(ctx, **params)` with the UI's error boundary."""
    def deco(fn: Callable) -> Callable:
        def view(**params: str) -> Response:
            request = bp.current_request
            try:
                ctx = context(request)
            except Exception:  # noqa: BLE001 - a broken session never breaks the page
                log.exception("UI context failed")
                return render.page("error.html", 500, title="Error", message="internal error")
            try:
                return fn(ctx, **params)
            except NotFound:
                return page(ctx, "not_found.html", 404, title="Not found")
            except RegistryError as err:
                status = 404 if err.status == 404 else err.status
                return page(ctx, "error.html", status, title="Error", message=message(err))
            except Exception:  # noqa: BLE001 - the boundary of the request
                log.exception("UI page %s failed", path)
                return page(ctx, "error.html", 500, title="Error", message="internal error")

        view.__name__ = f"ui_{fn.__name__}"
        bp.route(path, methods=list(methods), content_types=ANY)(view)
        return fn
    return deco


def message(err: RegistryError) -> str:
    reason = err.detail.get("reason") if isinstance(err.detail, dict) else None
    return f"{err.message}: {reason}" if reason else err.message


def param(ctx: Ctx, name: str, rx: Optional[re.Pattern] = None, required: bool = True) -> str:
    value = (ctx.request.query_params or {}).get(name) or ""
    if not value and not required:
        return ""
    if not value or len(value) > MAX_NAME_LENGTH + 140 or (rx is not None and not rx.fullmatch(value)):
        raise NotFound()
    return value


def form_of(ctx: Ctx) -> dict[str, str]:
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


def need_readable(ctx: Ctx, repo: str) -> bool:
    """The repository's visibility (True: public) when the caller may pull it; else
    NotFound, exactly as for a missing repository."""
    public = gw.reads().repo_visibility(repo)
    if public is None or PULL not in allowed_actions(ctx.principal, repo, public):
        raise NotFound()
    return public
