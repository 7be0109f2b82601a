"""GET/HEAD/DELETE /v2/<name>/blobs/<digest>."""
from __future__ import annotations

from typing import Any

from chalice import Response

from ..http.inject import inject
from ..domain.registry import Registry
from ..http import observe
from ..http.headers import API_VERSION
from .common import empty
from .dispatch import DIGEST, endpoint

PATH = rf"(?P<name>.+)/blobs/(?P<digest>{DIGEST})"


@endpoint(PATH, "HEAD")
@inject("registry")
def head_blob(request: Any, name: str, digest: str, registry: Registry) -> Response:
    """Size and digest from the repository's link; no S3 call."""
    link = registry.stat_blob(name, digest)
    return Response(body=b"", status_code=200, headers={
        **API_VERSION, "Content-Length": str(link.size), "Docker-Content-Digest": digest,
        "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"})


@endpoint(PATH, "GET")
@inject("registry")
def get_blob(request: Any, name: str, digest: str, registry: Registry) -> Response:
    """307 to a short-lived presigned S3 URL; Range requests go to S3 directly."""
    link, url = registry.blob_url(name, digest)
    observe.redirected(link.size)
    return empty(307, {"Location": url, "Docker-Content-Digest": digest})


@endpoint(PATH, "DELETE")
@inject("registry")
def delete_blob(request: Any, name: str, digest: str, registry: Registry) -> Response:
    """Unlink the blob from this repository."""
    registry.delete_blob(name, digest)
    return empty(202)
