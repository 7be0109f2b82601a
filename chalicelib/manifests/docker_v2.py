"""Docker image manifest V2, schema 2 (application/vnd.docker.distribution.manifest.v2+json)."""
from __future__ import annotations

from ..oci import mediatypes as mt
from .base import Parsed, check_declared_type, check_schema_version, register
from .oci_image import check_config_and_layers, layer_blobs


@register(mt.DOCKER_V2)
def parse(media_type: str, body: bytes, doc: dict) -> Parsed:
    """Validate a Docker v2 schema 2 manifest (its mediaType field is required)."""
    check_schema_version(doc)
    check_declared_type(doc, media_type, required=True)
    config, layers = check_config_and_layers(doc)
    return Parsed(media_type=media_type, body=body, doc=doc,
                  blobs=[config["digest"], *layer_blobs(layers)],
                  artifact_type=config["mediaType"])
