"""GET /v2/<name>/referrers/<digest>[?artifactType=]."""
from __future__ import annotations

from typing import Any

from chalice import Response

from ..http.inject import inject
from ..domain.registry import Registry
from urllib.parse import quote

from ..http.headers import next_link, query
from ..oci.mediatypes import OCI_INDEX
from .common import json_response, page_params
from .dispatch import DIGEST, endpoint


@endpoint(rf"(?P<name>.+)/referrers/(?P<digest>{DIGEST})", "GET")
@inject("registry")
def referrers(request: Any, name: str, digest: str, registry: Registry) -> Response:
    """An OCI index of the manifests whose subject is `digest`."""
    artifact_type = query(request, "artifactType")
    n, last = page_params(request)
    index, after = registry.referrers(name, digest, artifact_type, n, last)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    if after:
        extra = f"&artifactType={quote(artifact_type, safe='')}" if artifact_type else ""
        headers["Link"] = next_link(f"/v2/{name}/referrers/{digest}", len(index["manifests"]), after, extra)
    return json_response(index, content_type=OCI_INDEX, headers=headers)
