"""GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>."""
from __future__ import annotations

from typing import Union

from chalice import Response

from .. import bootstrap
from ..http.headers import API_VERSION, body_bytes, header, header_values
from .common import empty
from .dispatch import SEGMENT, endpoint

PATH = rf"(?P<name>.+)/manifests/(?P<reference>{SEGMENT})"


@endpoint(PATH, "GET", "HEAD")
def get_manifest(request, name: str, reference: str) -> Response:
    """The stored bytes, with digest, type and length headers."""
    head = request.method == "HEAD"
    m = bootstrap.registry().get_manifest(name, reference, want_body=not head,
                                          accept=header_values(request, "accept"))
    headers: dict[str, Union[str, list[str]]] = {**API_VERSION, "Content-Type": m.media_type,
                                                 "Docker-Content-Digest": m.digest,
                                                 "Content-Length": str(m.size), "ETag": f'"{m.digest}"'}
    return Response(body=b"" if head else m.body, status_code=200, headers=headers)


@endpoint(PATH, "PUT")
def put_manifest(request, name: str, reference: str) -> Response:
    """Store a manifest by tag or digest."""
    digest, subject = bootstrap.registry().put_manifest(
        name, reference, header(request, "content-type"), body_bytes(request))
    headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
    if subject:
        headers["OCI-Subject"] = subject
    return empty(201, headers)


@endpoint(PATH, "DELETE")
def delete_manifest(request, name: str, reference: str) -> Response:
    """Delete a tag, or a manifest (and its tags) by digest."""
    bootstrap.registry().delete_manifest(name, reference)
    return empty(202)
