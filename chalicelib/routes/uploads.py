"""Blob uploads: POST /v2/<name>/blobs/uploads/, then PATCH/PUT/GET/DELETE on the session."""
from __future__ import annotations

from typing import Any

from chalice import Response

from ..domain.quotas import WARNING_HEADER, after_commit, forget_warning
from ..http.inject import inject, services
from ..domain.registry import Registry
from ..domain.registry import UploadResult
from ..auth.scopes import PUSH
from ..http.auth import require_mount_source
from ..http.headers import STAGED_BODY_HEADER, body_bytes, header, query
from .common import empty
from .dispatch import SEGMENT, endpoint

START = r"(?P<name>.+)/blobs/uploads"  # with or without the trailing slash
# Every step of an upload needs push, even the status GET.
SESSION = rf"(?P<name>.+)/blobs/uploads/(?P<upload_id>{SEGMENT})"


def _committed(name: str, digest: str) -> Response:
    headers = {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}
    warning = after_commit(services().registry().notify)   # the namespace went over its soft limit
    if warning:
        headers[WARNING_HEADER] = warning
    return empty(201, headers)


def _in_progress(name: str, r: UploadResult, status: int = 202) -> Response:
    headers = {"Location": f"/v2/{name}/blobs/uploads/{r.upload_id}",
               "Range": f"0-{max(r.offset - 1, 0)}", "Docker-Upload-UUID": r.upload_id}
    return empty(status, headers)


@endpoint(START, "POST")
@inject("registry")
def start_upload(request: Any, name: str, registry: Registry) -> Response:
    """Mount, monolithic upload (`?digest=`), or open a session."""
    forget_warning()
    access = request.access
    mount, source = query(request, "mount"), query(request, "from")
    if mount and source and not require_mount_source(request, access, name, source):
        mount = None  # never mount from what the caller cannot read: a normal upload (202)
    r = registry.start_upload(name, digest=query(request, "digest"), body=body_bytes(request),
                         mount=mount, mount_from=source,
                         mount_candidates=None if access.everything else access.readable_repos())
    if r.digest:
        return _committed(name, r.digest)
    resp = _in_progress(name, r)
    resp.headers["OCI-Chunk-Min-Length"] = str(registry.settings.chunk_min_length)
    if registry.settings.direct_uploads:  # docs/direct-upload.md: learnt on the POST a client makes anyway
        resp.headers["OCI-Direct-Upload"] = "v1"
    return resp


@endpoint(SESSION, "PATCH", action=PUSH)
@inject("registry")
def patch_upload(request: Any, name: str, upload_id: str, registry: Registry) -> Response:
    """Append a chunk (Content-Range optional for streamed uploads)."""
    staged = services().staged_body(header(request, STAGED_BODY_HEADER))   # local server only
    r = registry.patch_upload(name, upload_id, staged or body_bytes(request),
                              header(request, "content-range"))
    return _in_progress(name, r)


@endpoint(SESSION, "PUT", action=PUSH)
@inject("registry")
def finish_upload(request: Any, name: str, upload_id: str, registry: Registry) -> Response:
    """Close the session with the final digest and optional last chunk."""
    forget_warning()
    out = registry.finish_upload(name, upload_id, query(request, "digest"),
                                             body_bytes(request), header(request, "content-range"))
    if isinstance(out, UploadResult):  # a direct upload still being verified: PUT again
        resp = _in_progress(name, out)
        resp.headers["Retry-After"] = "1"
        return resp
    return _committed(name, out)


@endpoint(SESSION, "GET", action=PUSH)
@inject("registry")
def upload_status(request: Any, name: str, upload_id: str, registry: Registry) -> Response:
    """204 with the Range received so far."""
    return _in_progress(name, registry.upload_status(name, upload_id), status=204)


@endpoint(SESSION, "DELETE", action=PUSH)
@inject("registry")
def cancel_upload(request: Any, name: str, upload_id: str, registry: Registry) -> Response:
    """Abandon the session and its parts."""
    registry.cancel_upload(name, upload_id)
    return empty(204)
