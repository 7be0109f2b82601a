"""Docker manifest list (application/vnd.docker.distribution.manifest.list.v2+json)."""
from __future__ import annotations

from ..oci import mediatypes as mt
from .base import Parsed, check_declared_type, check_schema_version, register
from .oci_index import check_manifest_list


@register(mt.DOCKER_LIST)
def parse(media_type: str, body: bytes, doc: dict) -> Parsed:
    """Validate a Docker manifest list; its children must be manifests in the repository."""
    check_schema_version(doc)
    check_declared_type(doc, media_type, required=True)
    manifests = check_manifest_list(doc)
    return Parsed(media_type=media_type, body=body, doc=doc,
                  manifests=[m["digest"] for m in manifests])
