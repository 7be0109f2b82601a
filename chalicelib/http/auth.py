"""Bearer-token checks on every protected request, and the challenge that starts the dance.

A token's signature and expiry are checked with the public key alone; only an
anonymous pull (no token) reads the repository's visibility.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from .inject import services
from ..auth.scopes import PULL, PUSH, Scope, challenge
from ..auth.tokens import InvalidToken
from ..domain.accounts import is_repository_name
from ..oci.errors import RegistryError
from .headers import API_VERSION


@dataclass
class Access:
    """What the caller's token (or anonymity) allows, per repository."""

    subject: str = ""
    repositories: dict = field(default_factory=dict)   # repo -> set(actions)
    denied: dict = field(default_factory=dict)         # repo -> set(actions asked, refused)
    catalog: bool = False
    everything: bool = False                            # auth disabled

    def can(self, repo: str, action: str) -> bool:
        return self.everything or action in self.repositories.get(repo, ())

    def readable_repos(self) -> list[str]:
        return [r for r, acts in self.repositories.items() if PULL in acts]


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# host[:port]: a DNS name, an IPv4 address or a bracketed IPv6 literal (fullmatch only)
_HOST_RE = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]{{2,45}}\])(?::[0-9]{{1,5}})?")


def base_url(request: Any) -> str:
    """The registry's public base URL (configured, else from the request).

    The Host header is echoed into challenges (`realm`), so it must be a host[:port]
    and nothing else; otherwise `localhost` stands in.
    """
    configured = services().settings.public_url
    if configured:
        return configured
    host = request.headers.get("host") or ""
    if len(host) > 261 or not _HOST_RE.fullmatch(host):
        host = "localhost"
    proto = request.headers.get("x-forwarded-proto") or ""
    if proto not in ("http", "https"):
        proto = "https" if request.headers.get("x-forwarded-port") == "443" else "http"
    return f"{proto}://{host}"


def _challenge_error(request: Any, scope: "Optional[Scope] | list[Scope]", reason: str,
                     error: Optional[str] = None) -> RegistryError:
    s = services().settings
    header = challenge(f"{base_url(request)}/token", s.service, scope, error)
    return RegistryError("UNAUTHORIZED", {"reason": reason}, headers={"WWW-Authenticate": header, **API_VERSION})


CATALOG_SCOPE = Scope("registry", "catalog", ("*",))


def catalog_challenge(request: Any) -> RegistryError:
    """401 asking for the catalog scope."""
    return _challenge_error(request, CATALOG_SCOPE, "catalog access required", "insufficient_scope")


def _claims(request: Any, scope: "Optional[Scope] | list[Scope]" = None) -> Optional[dict]:
    """The verified claims of the Bearer token, None without one.

    A bad or expired token gets a challenge naming `scope` (as distribution
    does), so clients that take the scope from the challenge can renew.
    """
    value = request.headers.get("authorization") or ""
    if not value.lower().startswith("bearer "):
        return None
    s = services().settings
    try:
        claims = services().token_verifier().verify(value[7:].strip(), audience=s.service, issuer=s.issuer,
                                                   leeway=s.token_leeway)
    except InvalidToken as exc:
        raise _challenge_error(request, scope, f"invalid token: {exc}", "invalid_token") from None
    if claims.get("typ", "access") != "access":
        # only access tokens are bearer tokens: refresh tokens only buy access tokens at /token,
        # and any other kind signed by the same key (UI sessions) is not one either
        raise _challenge_error(request, scope, f"invalid token: a {str(claims.get('typ'))[:16]} token is not "
                               "an access token", "invalid_token")
    return claims


def access_of(claims: dict) -> Access:
    """The Access a verified token carries."""
    acc = Access(subject=claims.get("sub", ""))
    for entry in claims.get("access") or []:
        if entry.get("type") == "repository":
            acc.repositories.setdefault(entry.get("name"), set()).update(entry.get("actions") or [])
        elif entry.get("type") == "registry" and entry.get("name") == "catalog":
            acc.catalog = True
    for entry in claims.get("denied") or []:
        if entry.get("type") == "repository":
            acc.denied.setdefault(entry.get("name"), set()).update(entry.get("actions") or [])
    return acc


def authenticate(request: Any, scope: Optional[Scope] = None) -> Access:
    """Any valid token (even anonymous) passes; no token gets the challenge,
    naming `scope` when the endpoint needs one (so clients ask for it)."""
    if services().settings.auth_mode == "none":
        return Access(everything=True, catalog=True)
    claims = _claims(request, scope)
    if claims is None:
        raise _challenge_error(request, scope, "authentication required")
    return access_of(claims)


def authorize(request: Any, repo: str, action: str) -> Access:
    """Allow `action` on `repo`, or raise 401 (no/unsuited token) or 403 (not permitted).

    A missing and a private repository look the same: the decision never reads
    whether the repository exists.
    """
    if services().settings.auth_mode == "none":
        return Access(everything=True, catalog=True)
    wanted: list[Scope] = [Scope("repository", repo, (action,) if action == PULL else (PULL, action))]
    source = mount_source(request)
    if source and source != repo:
        wanted.append(Scope("repository", source, (PULL,)))  # ask for what the mount reads too
    claims = _claims(request, wanted)
    if claims is None:
        if action == PULL and repo in services().accounts().store.public_repos([repo]):
            return Access(repositories={repo: {PULL}})
        raise _challenge_error(request, wanted, "authentication required")
    acc = access_of(claims)
    if acc.can(repo, action):
        return acc
    if not acc.subject:
        # Anonymous: logging in may help.
        raise _challenge_error(request, wanted, "authentication required")
    detail = {"reason": f"{action} on {repo} is not permitted for {acc.subject}"}
    if action in acc.denied.get(repo, ()):
        # The token endpoint already refused exactly this: asking again will not help.
        raise RegistryError("DENIED", detail)
    # Valid credentials, but the token was issued for other scopes: 403 with a
    # challenge, so clients that re-authenticate on it (oras) get a fitting token.
    err = _challenge_error(request, wanted, "token does not cover this request", "insufficient_scope")
    raise RegistryError("DENIED", {**detail, "reason": "token does not cover this request"},
                        headers=err.headers)


_UPLOAD_START = re.compile(r".+/blobs/uploads/?")


def mount_source(request: Any) -> Optional[str]:
    """The well-formed `from` of a `POST …/blobs/uploads/?mount=&from=`, else None."""
    if getattr(request, "method", "") != "POST":
        return None
    q = request.query_params or {}
    source = q.get("from")
    proxy = (request.uri_params or {}).get("proxy") or ""
    if not q.get("mount") or not is_repository_name(source) or not _UPLOAD_START.fullmatch(proxy):
        return None
    return source


def require_mount_source(request: Any, access: Access, repo: str, source: str) -> bool:
    """May a mount into `repo` read from `source`? A token that neither allows nor was
    refused pull on `source` gets a challenge naming both scopes (as distribution does),
    so clients that follow challenges come back able to mount; a refused one: no mount."""
    if access.everything or access.can(source, PULL):
        return True
    if not is_repository_name(source) or PULL in access.denied.get(source, ()):
        return False
    wanted = [Scope("repository", repo, (PULL, PUSH)), Scope("repository", source, (PULL,))]
    err = _challenge_error(request, wanted, "a mount needs pull on its source", "insufficient_scope")
    if not access.subject:
        raise err
    raise RegistryError("DENIED", {"reason": "token does not cover the mount source"}, headers=err.headers)


def basic_credentials(request: Any) -> Optional[tuple[str, str]]:
    """(username, password) from a Basic Authorization header."""
    value = request.headers.get("authorization") or ""
    if not value.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(value[6:].strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        raise RegistryError("UNAUTHORIZED", {"reason": "malformed Basic credentials"}) from None
    return user, password


def source_ip(request: Any) -> str:
    """The caller's address as API Gateway saw it."""
    try:
        return request.context.get("identity", {}).get("sourceIp") or "unknown"
    except AttributeError:
        return "unknown"
