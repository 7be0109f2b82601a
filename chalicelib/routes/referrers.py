"""GET /v2/<name>/referrers/<digest>[?artifactType=]."""
from __future__ import annotations

from chalice import Response

from .. import bootstrap
from ..http.headers import query
from ..manifests.mediatypes import OCI_INDEX
from .common import json_response
from .dispatch import endpoint


@endpoint(r"(?P<name>.+)/referrers/(?P<digest>[^/]+)", "GET")
def referrers(request, name: str, digest: str) -> Response:
    """An OCI index of the manifests whose subject is `digest`."""
    artifact_type = query(request, "artifactType")
    index = bootstrap.registry().referrers(name, digest, artifact_type)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return json_response(index, content_type=OCI_INDEX, headers=headers)
