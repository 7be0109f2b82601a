"""HTML responses: Jinja2 (autoescaped) templates and the UI's security headers."""
from __future__ import annotations

import os
from typing import Any, Optional

from chalice import Response

_HERE = os.path.dirname(os.path.abspath(__file__))
_env: Optional[Any] = None

# No inline script or style anywhere: everything comes from /ui/static/.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml"}


def environment() -> Any:
    """The Jinja2 environment, built on first use (keeps cold starts light)."""
    global _env
    if _env is None:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        _env = Environment(loader=FileSystemLoader(os.path.join(_HERE, "templates")),
                           autoescape=select_autoescape(default=True, default_for_string=True),
                           trim_blocks=True, lstrip_blocks=True)
        from .views import human_size, when

        _env.filters["when"] = when
        _env.filters["size"] = human_size
    return _env


def page(template: str, status: int = 200, cookies: Optional[list[str]] = None, **ctx: Any) -> Response:
    """A rendered page with the security headers (and any cookies to set)."""
    body = environment().get_template(template).render(**ctx)
    headers: dict[str, Any] = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                               **SECURITY_HEADERS}
    if cookies:
        headers["Set-Cookie"] = cookies if len(cookies) > 1 else cookies[0]
    return Response(body=body, status_code=status, headers=headers)


def redirect(location: str, cookies: Optional[list[str]] = None) -> Response:
    """303 See Other (after a form post, or to the login page)."""
    headers: dict[str, Any] = {"Location": location, "Cache-Control": "no-store", **SECURITY_HEADERS}
    if cookies:
        headers["Set-Cookie"] = cookies if len(cookies) > 1 else cookies[0]
    return Response(body="", status_code=303, headers=headers)


def static(name: str) -> Optional[Response]:
    """A file of static/ (a fixed list of names, never a path from the request)."""
    ext = os.path.splitext(name)[1]
    allowed = {f for f in os.listdir(os.path.join(_HERE, "static"))}
    if name not in allowed or ext not in STATIC_TYPES:
        return None
    with open(os.path.join(_HERE, "static", name), "rb") as f:
        data = f.read()
    return Response(body=data, status_code=200,
                    headers={"Content-Type": STATIC_TYPES[ext], "Cache-Control": "public, max-age=3600",
                             **SECURITY_HEADERS})
