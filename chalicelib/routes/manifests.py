"""GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>."""
from __future__ import annotations

from typing import Any, Union

from chalice import Response

from ..domain.quotas import WARNING_HEADER, after_commit, forget_warning
from ..http.inject import inject
from ..domain.registry import Registry
from ..http.headers import API_VERSION, body_bytes, header, header_values
from .common import empty
from .dispatch import SEGMENT, endpoint

PATH = rf"(?P<name>.+)/manifests/(?P<reference>{SEGMENT})"


@endpoint(PATH, "GET", "HEAD")
@inject("registry")
def get_manifest(request: Any, name: str, reference: str, registry: Registry) -> Response:
    """The stored bytes, with digest, type and length headers."""
    head = request.method == "HEAD"
    m = registry.get_manifest(name, reference, want_body=not head,
                                          accept=header_values(request, "accept"))
    headers: dict[str, Union[str, list[str]]] = {**API_VERSION, "Content-Type": m.media_type,
                                                 "Docker-Content-Digest": m.digest,
                                                 "Content-Length": str(m.size), "ETag": f'"{m.digest}"'}
    return Response(body=b"" if head else m.body, status_code=200, headers=headers)


@endpoint(PATH, "PUT")
@inject("registry")
def put_manifest(request: Any, name: str, reference: str, registry: Registry) -> Response:
    """Store a manifest by tag or digest."""
    forget_warning()
    reg = registry
    digest, subject = reg.put_manifest(name, reference, header(request, "content-type"), body_bytes(request))
    headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
    warning = after_commit(reg.notify)   # the namespace is over its soft limit
    if warning:
        headers[WARNING_HEADER] = warning
    if subject:
        headers["OCI-Subject"] = subject
    return empty(201, headers)


@endpoint(PATH, "DELETE")
@inject("registry")
def delete_manifest(request: Any, name: str, reference: str, registry: Registry) -> Response:
    """Delete a tag, or a manifest (and its tags) by digest."""
    registry.delete_manifest(name, reference)
    return empty(202)
