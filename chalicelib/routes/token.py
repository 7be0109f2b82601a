"""The token endpoint of the Docker token flow: GET (Basic) and POST (OAuth2 form)."""
from __future__ import annotations

import time
from typing import Any, Optional
from urllib.parse import parse_qs

from chalice import Blueprint, Response

from ..http.inject import services
from ..auth.policy import Principal
from ..auth.scopes import Scope, parse_scopes, quoted
from ..auth.tokens import InvalidToken, access_claims, encode
from ..http.auth import base_url, basic_credentials, source_ip
from ..http.errors import error_boundary
from ..http.headers import body_bytes
from ..http.json_schema import SECRET, check, invalid
from ..oci.errors import RegistryError
from .common import json_response

bp = Blueprint(__name__)
MAX_SCOPES = 64
_TEXT = {"type": "string", "maxLength": 255}
MAX_SCOPE_CHARS = 16384
_SCOPES = {"type": "string", "maxLength": MAX_SCOPE_CHARS}
# The OAuth2 form (RFC 6749 says to ignore unknown parameters, so they are allowed,
# but the ones we read are typed and bounded). Account names are checked by login().
FORM = {"type": "object", "required": ["grant_type"], "properties": {
    "grant_type": {"type": "string", "enum": ["password", "refresh_token"]},
    "username": {"type": "string", "maxLength": 129}, "password": SECRET,
    "refresh_token": {"type": "string", "maxLength": 8192}, "scope": _SCOPES,
    "access_type": {"type": "string", "enum": ["offline", "online"]},
    "service": _TEXT, "client_id": _TEXT}}


def _multi(request: Any, name: str) -> list[str]:
    params = request.query_params
    if not params or name not in params:
        return []
    return list(params.getlist(name))


def _scopes(values: list[str]) -> list[Scope]:
    if sum(len(v) for v in values) > MAX_SCOPE_CHARS:
        raise invalid("scope", "scopes too long")
    requested = parse_scopes(values)
    if len(requested) > MAX_SCOPES:
        raise invalid("scope", f"at most {MAX_SCOPES} scopes per token")
    return requested


def _issue(request: Any, principal: Principal, scope_values: list[str], offline: bool,
           refresh_exp: Optional[int] = None) -> Response:
    """An access token for the granted scopes; with `offline`, also a refresh token bound
    to the account's credential generation, expiring at `refresh_exp` when it replaces one."""
    s = services().settings
    requested = _scopes(scope_values)
    granted = services().accounts().grant(principal, requested)
    # What was asked and refused lets the registry answer 403 instead of a new challenge.
    denied = [{"type": r.type, "name": r.name, "actions": [a for a in r.actions if a not in g.actions]}
              for r, g in zip(requested, granted) if set(r.actions) - set(g.actions)]
    claims = access_claims(principal.name, [g.claim() for g in granted if g.actions],
                           issuer=s.issuer, audience=s.service, ttl=s.token_ttl,
                           extra={"denied": denied} if denied else None)
    token = encode(claims, services().token_signer())
    doc = {"token": token, "access_token": token, "expires_in": s.token_ttl,
           "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["iat"]))}
    if offline and not principal.anonymous:
        refresh = access_claims(principal.name, [], issuer=s.issuer, audience=s.service,
                                ttl=s.refresh_ttl, kind="refresh", extra={"gen": principal.generation})
        if refresh_exp is not None:
            refresh["exp"] = refresh_exp  # a refresh never extends the original login
        doc["refresh_token"] = encode(refresh, services().token_signer())
    return json_response(doc, headers={"Cache-Control": "no-store"})


def _login_failed(request: Any, err: RegistryError) -> RegistryError:
    if err.code == "UNAUTHORIZED":
        err.headers["WWW-Authenticate"] = f"Basic realm={quoted(base_url(request) + '/token')}"
    return err


@bp.route("/token", methods=["GET"], content_types=["*/*"])
def token_get() -> Response:
    """GET /token?service=&scope=… with optional Basic credentials (anonymous otherwise)."""
    return _token_get(bp.current_request)


@error_boundary
def _token_get(request: Any) -> Response:
    creds = basic_credentials(request)
    principal = Principal()
    if creds:
        try:
            principal = services().accounts().login(creds[0], creds[1], source_ip(request))
        except RegistryError as err:
            raise _login_failed(request, err)
    offline = (request.query_params or {}).get("offline_token") == "true"
    return _issue(request, principal, _multi(request, "scope"), offline)


@bp.route("/token", methods=["POST"], content_types=["*/*"])
def token_post() -> Response:
    """OAuth2 form: grant_type=password or refresh_token (containerd, Docker)."""
    return _token_post(bp.current_request)


@error_boundary
def _token_post(request: Any) -> Response:
    raw = body_bytes(request)
    try:
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8")).items()}
    except UnicodeDecodeError:
        raise invalid("body", "not an application/x-www-form-urlencoded form") from None
    check("token:form", FORM, form)
    grant = form["grant_type"]
    accounts = services().accounts()
    refresh_exp: Optional[int] = None
    if grant == "password":
        try:
            principal = accounts.login(form.get("username", ""), form.get("password", ""), source_ip(request))
        except RegistryError as err:
            raise _login_failed(request, err)
    else:
        s = services().settings
        try:
            claims = services().token_verifier().verify(form.get("refresh_token", ""), audience=s.service,
                                                       issuer=s.issuer, leeway=s.token_leeway)
        except InvalidToken as exc:
            raise RegistryError("UNAUTHORIZED", {"reason": f"invalid refresh token: {exc}"}) from None
        if claims.get("typ") != "refresh":
            raise RegistryError("UNAUTHORIZED", {"reason": "not a refresh token"})
        principal = accounts.refreshed(claims.get("sub"), claims.get("gen", 0))
        refresh_exp = int(claims["exp"])
    scopes = form.get("scope", "").split(" ") if form.get("scope") else []
    return _issue(request, principal, scopes, offline=form.get("access_type") == "offline"
                  or grant == "password", refresh_exp=refresh_exp)
