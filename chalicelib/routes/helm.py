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

from ..http.inject import services
from ..auth.policy import Principal, allowed_actions, namespace_of
from ..auth.scopes import PUSH
from ..domain.helm import check_namespace, readable_repos
from ..domain.helm_index import index_yaml
from ..http import basic
from ..http.auth import base_url
from ..http.errors import error_boundary, render
from ..http.headers import body_bytes, header, query
from ..oci.errors import RegistryError
from .common import empty, json_response

bp = Blueprint(__name__)
ANY = ["*/*"]

# An upload is one request: a chart archive, maybe its provenance file, the form around them.
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_PROV_BYTES = 1024 * 1024
MAX_FORM_PARTS = 8
MAX_PART_HEADER_BYTES = 8 * 1024


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
    return None if services().settings.auth_mode == "none" else basic.principal(request)


def _readable(principal: Optional[Principal]) -> Callable:
    return lambda repos: readable_repos(principal, repos, services().accounts().store.public_repos)


def _login_required(reason: str) -> RegistryError:
    return RegistryError("UNAUTHORIZED", {"reason": reason})


@bp.route("/helm/{namespace}/index.yaml", methods=["GET", "HEAD"], content_types=ANY)
def index(namespace: str) -> Response:
    return _index(bp.current_request, namespace)


@_helm_errors
def _index(request: Any, namespace: str) -> Response:
    check_namespace(namespace)
    principal = _caller(request)
    entries = services().helm().chart_entries(namespace)
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
    check_namespace(namespace)
    principal = _caller(request)
    try:
        url = services().helm().chart_file_url(namespace, filename, _readable(principal))
    except RegistryError as err:
        if err.status == 404 and principal is not None and principal.anonymous:
            raise _login_required("authentication required") from None
        raise
    return empty(307, {"Location": url})


@bp.route("/helm/{namespace}/api/charts", methods=["POST"], content_types=ANY)
def upload(namespace: str) -> Response:
    return _upload(bp.current_request, namespace)


def may_push_in_namespace(principal: Optional[Principal], namespace: str) -> bool:
    """Whether `principal` may push to some repository of `namespace` (None: auth is off).

    Decided before the body is read, when the chart's name is not known yet:
    a namespace-wide right (owner, namespace role) is what any repository of
    it would get, so one probe name stands for them all; repository roles
    count when one of them, in this namespace, allows push.
    """
    if principal is None:
        return True
    probe = f"{namespace}/"       # no repository has this name: only namespace-wide rights apply
    return PUSH in allowed_actions(principal, probe, False) or any(
        namespace_of(repo) == namespace and PUSH in allowed_actions(principal, repo, False)
        for repo in principal.repository_roles)


@_helm_errors
def _upload(request: Any, namespace: str) -> Response:
    check_namespace(namespace)
    principal = _caller(request)
    if principal is not None and principal.anonymous:
        raise _login_required("pushing charts needs credentials")
    # Rights first: a caller who may push nowhere here costs no parsing at all.
    if not may_push_in_namespace(principal, namespace):
        raise RegistryError("DENIED", {"reason": f"no push rights in namespace {namespace}"})
    chart, prov = _chart_and_prov(request)

    def may_push(repo: str) -> bool:
        return principal is None or PUSH in allowed_actions(principal, repo, False)

    force = (query(request, "force") or "").lower() in ("1", "true", "yes", "on")
    services().helm().upload_chart(namespace, chart, prov, force=force, may_push=may_push)
    return json_response({"saved": True}, status=201)


def _too_large(what: str, limit: int) -> RegistryError:
    return RegistryError("SIZE_INVALID", {"reason": f"{what} is larger than {limit} bytes", "limit": limit},
                         status=413)


def _chart_and_prov(request: Any) -> tuple[bytes, Optional[bytes]]:
    """The chart (and provenance) from a multipart form, or the raw body as the chart."""
    declared = header(request, "content-length") or ""
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise _too_large("the upload", MAX_UPLOAD_BYTES)
    body = body_bytes(request)
    if len(body) > MAX_UPLOAD_BYTES:
        raise _too_large("the upload", MAX_UPLOAD_BYTES)
    ctype = header(request, "content-type") or ""
    if ctype.split(";")[0].strip().lower() == "multipart/form-data":
        fields = parse_multipart(body, ctype)
        chart = fields.get("chart")
        if not chart:
            raise RegistryError("MANIFEST_INVALID", {"reason": "the form has no `chart` file"})
        prov = fields.get("prov") or None
        if prov is not None and len(prov) > MAX_PROV_BYTES:
            raise _too_large("the provenance file", MAX_PROV_BYTES)
        return chart, prov
    if not body:
        raise RegistryError("MANIFEST_INVALID", {"reason": "send the chart .tgz as the body or as form "
                                                           "field `chart`"})
    return body, None


# RFC 2046: 1-70 characters from a small set (a quoted one may also hold spaces, not at the end).
_BOUNDARY = re.compile(r'boundary=(?:"([0-9A-Za-z\'()+_,./:=? -]{0,69}[0-9A-Za-z\'()+_,./:=?-])"'
                       r"|([0-9A-Za-z'()+_,./:=?-]{1,70}))(?:;|\s|\Z)", re.IGNORECASE)
_FIELD_NAME = re.compile(rb'\bname="([^"]*)"|\bname=([^;\s]+)', re.IGNORECASE)


def _form_error(reason: str) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", {"reason": f"multipart form: {reason}"})


def parse_multipart(body: bytes, content_type: str) -> dict[str, bytes]:
    """The fields of a multipart/form-data body, by name (bytes kept exactly).

    Bounded: at most MAX_FORM_PARTS parts with headers of at most
    MAX_PART_HEADER_BYTES each, and the closing delimiter must be there (a
    truncated form is refused, not read as a shorter file).
    """
    m = _BOUNDARY.search(content_type)
    if not m:
        raise _form_error("no valid boundary in the Content-Type")
    delimiter = b"\r\n--" + (m.group(1) or m.group(2)).encode("latin-1")
    parts = (b"\r\n" + body).split(delimiter, MAX_FORM_PARTS + 1)
    fields: dict[str, bytes] = {}
    for i, part in enumerate(parts[1:]):
        if part.startswith(b"--"):
            return fields
        if i == MAX_FORM_PARTS:        # the unsplit rest: more parts than allowed
            raise _form_error(f"more than {MAX_FORM_PARTS} parts")
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep or len(head) > MAX_PART_HEADER_BYTES:
            raise _form_error("a part has no headers or headers that are too long")
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-disposition:"):
                n = _FIELD_NAME.search(line)
                if n:
                    fields.setdefault((n.group(1) or n.group(2)).decode("utf-8", "replace"), data)
    raise _form_error("no closing delimiter (truncated body?)")
