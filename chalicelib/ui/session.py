"""UI sessions and CSRF: the session is a registry token (typ "ui") in an HttpOnly cookie.

The token is signed by the registry's own signer with an audience of its own,
so it is never accepted as a Bearer token by the API; each page reloads the
account (revocation and current roles apply at once). CSRF uses a random
double-submit token: a SameSite=Strict cookie that every form echoes.
"""
from __future__ import annotations

import re
from typing import Any, Optional

from ..auth.tokens import InvalidToken, access_claims, encode

SESSION_COOKIE = "ui_session"
CSRF_COOKIE = "ui_csrf"
SESSION_TTL = 8 * 3600
CSRF_RE = re.compile(r"[A-Za-z0-9_-]{32,64}")


def audience(service: str) -> str:
    """UI tokens' audience: distinct from the API's, so the two never mix."""
    return f"{service}/ui"


def cookies(request: Any) -> dict[str, str]:
    """The request's cookies (malformed headers count as none)."""
    from http.cookies import CookieError, SimpleCookie

    raw = request.headers.get("cookie") or ""
    jar = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return {}
    return {k: m.value for k, m in jar.items()}


def cookie_header(name: str, value: str, *, secure: bool, max_age: int, http_only: bool = True) -> str:
    """A Set-Cookie value scoped to /ui with SameSite=Strict."""
    parts = [f"{name}={value}", "Path=/ui", "SameSite=Strict", f"Max-Age={max_age}"]
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def new_session_token(username: str, generation: int, settings: Any, signer: Any) -> str:
    """A signed UI session token for `username`, bound to the account's credential
    generation: a password change, rotation or revocation ends every session begun before."""
    claims = access_claims(username, [], issuer=settings.issuer, audience=audience(settings.service),
                           ttl=SESSION_TTL, kind="ui", extra={"gen": generation})
    return encode(claims, signer)


def session_subject(token: str, settings: Any, verifier: Any) -> Optional[tuple[str, int]]:
    """(username, credential generation) of a valid UI session token, else None."""
    try:
        claims = verifier.verify(token, audience=audience(settings.service), issuer=settings.issuer,
                                 leeway=settings.token_leeway)
    except InvalidToken:
        return None
    if claims.get("typ") != "ui" or not isinstance(claims.get("sub"), str) or not claims["sub"]:
        return None
    gen = claims.get("gen")
    if not isinstance(gen, int) or isinstance(gen, bool):
        return None   # a session from before sessions carried it: log in again
    return claims["sub"], gen


def new_csrf() -> str:
    import secrets

    return secrets.token_urlsafe(32)


def csrf_ok(cookie_value: Optional[str], form_value: Optional[str]) -> bool:
    """The form echoes the CSRF cookie (both well-formed, compared in constant time)."""
    if not cookie_value or not form_value:
        return False
    if not CSRF_RE.fullmatch(cookie_value) or not CSRF_RE.fullmatch(form_value):
        return False
    import hmac

    return hmac.compare_digest(cookie_value, form_value)
