"""The classic Helm chart repository of a namespace, over the charts pushed with OCI.

GET  /helm/<ns>/index.yaml                    every readable chart version of <ns>
GET  /helm/<ns>/charts/<name>-<version>.tgz   307 to the chart layer (presigned S3)
GET  /helm/<ns>/charts/<name>-<version>.tgz.prov
POST /helm/<ns>/api/charts                    ChartMuseum-style upload (multipart `chart`
                                              [+ `prov`], or the raw .tgz); ?force=true replaces

Helm's classic repository client sends Basic credentials and no token dance,
so these endpoints take Basic credentials (anonymous: public charts only).
"""
from __future__ import annotations

import functools
import json
import re
from typing import Any, Callable, Optional

from chalice import Blueprint, Response

from .. import bootstrap
from ..auth.policy import Principal, allowed_actions
from ..auth.scopes import PUSH
from ..domain.errors import RegistryError
from ..domain.helm import index_yaml, readable_repos
from ..http.auth import base_url, basic_credentials, source_ip
from ..http.errors import error_boundary, render
from ..http.headers import body_bytes, header, query
from .common import empty, json_response

bp = Blueprint(__name__)
ANY = ["*/*"]


def _challenge(request: Any, namespace: str) -> dict:
    return {"WWW-Authenticate": f'Basic realm="{base_url(request)}/helm/{namespace}"'}


def _helm_errors(fn: Callable[..., Response]) -> Callable[..., Response]:
    """OCI error bodies that also carry ChartMuseum's `{"error": ...}`; 401s challenge for Basic."""
    @functools.wraps(fn)
    def wrapper(request: Any, namespace: str, *args: Any) -> Response:
        try:
            return fn(request, namespace, *args)
        except RegistryError as err:
            if err.status == 401 and "WWW-Authenticate" not in err.headers:
                err.headers.update(_challenge(request, namespace))
            resp = render(err, request.method)
            if request.method != "HEAD":
                doc = err.body()
                detail = err.detail if isinstance(err.detail, dict) else {}
                doc["error"] = detail.get("reason") or err.message
                resp.body = json.dumps(doc)
            return resp
    return error_boundary(wrapper)


def _caller(request: Any) -> Optional[Principal]:
    """The Basic-authenticated caller, anonymous without credentials, None when auth is off."""
    if bootstrap.settings().auth_mode == "none":
        return None
    creds = basic_credentials(request)
    if not creds:
        return Principal()
    return bootstrap.accounts().login(creds[0], creds[1], source_ip(request))


def _readable(principal: Optional[Principal]) -> Callable:
    return lambda repos: readable_repos(principal, repos, bootstrap.accounts().store.public_repos)


def _login_required(reason: str) -> RegistryError:
    return RegistryError("UNAUTHORIZED", {"reason": reason})


@bp.route("/helm/{namespace}/index.yaml", methods=["GET", "HEAD"], content_types=ANY)
def index(namespace: str) -> Response:
    return _index(bp.current_request, namespace)


@_helm_errors
def _index(request: Any, namespace: str) -> Response:
    principal = _caller(request)
    entries = bootstrap.registry().chart_entries(namespace)
    allowed = _readable(principal)({e.repo for e in entries})
    if principal is not None and principal.anonymous and not allowed:
        # Nothing public here (or nothing at all: the two look the same): logging in may help.
        raise _login_required("authentication required")
    body = index_yaml([e for e in entries if e.repo in allowed])
    return Response(body="" if request.method == "HEAD" else body, status_code=200,
                    headers={"Content-Type": "application/x-yaml", "Cache-Control": "no-cache",
                             "Content-Length": str(len(body.encode("utf-8")))})


@bp.route("/helm/{namespace}/charts/{filename}", methods=["GET", "HEAD"], content_types=ANY)
def chart_file(namespace: str, filename: str) -> Response:
    return _chart_file(bp.current_request, namespace, filename)


@_helm_errors
def _chart_file(request: Any, namespace: str, filename: str) -> Response:
    principal = _caller(request)
    try:
        url = bootstrap.registry().chart_file_url(namespace, filename, _readable(principal))
    except RegistryError as err:
        if err.status == 404 and principal is not None and principal.anonymous:
            raise _login_required("authentication required") from None
        raise
    return empty(307, {"Location": url})


@bp.route("/helm/{namespace}/api/charts", methods=["POST"], content_types=ANY)
def upload(namespace: str) -> Response:
    return _upload(bp.current_request, namespace)


@_helm_errors
def _upload(request: Any, namespace: str) -> Response:
    principal = _caller(request)
    if principal is not None and principal.anonymous:
        raise _login_required("pushing charts needs credentials")
    chart, prov = _chart_and_prov(request)

    def may_push(repo: str) -> bool:
        return principal is None or PUSH in allowed_actions(principal, repo, False)

    force = (query(request, "force") or "").lower() in ("1", "true", "yes", "on")
    bootstrap.registry().upload_chart(namespace, chart, prov, force=force, may_push=may_push)
    return json_response({"saved": True}, status=201)


def _chart_and_prov(request: Any) -> tuple[bytes, Optional[bytes]]:
    """The chart (and provenance) from a multipart form, or the raw body as the chart."""
    body = body_bytes(request)
    ctype = header(request, "content-type") or ""
    if ctype.split(";")[0].strip().lower() == "multipart/form-data":
        fields = parse_multipart(body, ctype)
        chart = fields.get("chart")
        if not chart:
            raise RegistryError("MANIFEST_INVALID", {"reason": "the form has no `chart` file"})
        return chart, fields.get("prov") or None
    if not body:
        raise RegistryError("MANIFEST_INVALID", {"reason": "send the chart .tgz as the body or as form "
                                                           "field `chart`"})
    return body, None


_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_FIELD_NAME = re.compile(rb'\bname="([^"]*)"|\bname=([^;\s]+)', re.IGNORECASE)


def parse_multipart(body: bytes, content_type: str) -> dict[str, bytes]:
    """The fields of a multipart/form-data body, by name (bytes kept exactly)."""
    m = _BOUNDARY.search(content_type)
    if not m:
        raise RegistryError("MANIFEST_INVALID", {"reason": "multipart body without a boundary"})
    delimiter = b"\r\n--" + (m.group(1) or m.group(2)).encode("latin-1")
    fields: dict[str, bytes] = {}
    for part in (b"\r\n" + body).split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-disposition:"):
                n = _FIELD_NAME.search(line)
                if n:
                    fields.setdefault((n.group(1) or n.group(2)).decode("utf-8", "replace"), data)
    return fields
