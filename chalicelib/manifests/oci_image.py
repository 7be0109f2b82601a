"""OCI image manifest (application/vnd.oci.image.manifest.v1+json), incl. 1.1 artifacts."""
from __future__ import annotations

from ..oci import mediatypes as mt
from .base import (Parsed, check_annotations, check_declared_type, check_descriptor,
                   check_media_type, check_schema_version, invalid, register,
                   subject_of)


def layer_blobs(layers: list) -> list[str]:
    """Digests of layers that must be in the registry (foreign ones need not)."""
    return [l["digest"] for l in layers if not (l["mediaType"] in mt.FOREIGN_LAYERS and l.get("urls"))]


def check_config_and_layers(doc: dict) -> tuple[dict, list]:
    """The config descriptor and layer descriptors of an image manifest."""
    config = check_descriptor(doc.get("config"), "config")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise invalid("layers must be an array")
    for i, layer in enumerate(layers):
        check_descriptor(layer, f"layers[{i}]")
    return config, layers


@register(mt.OCI_MANIFEST)
def parse(media_type: str, body: bytes, doc: dict) -> Parsed:
    """Validate an OCI image manifest."""
    check_schema_version(doc)
    check_declared_type(doc, media_type)
    config, layers = check_config_and_layers(doc)
    artifact_type = doc.get("artifactType")
    if artifact_type is not None:
        check_media_type(artifact_type, "artifactType")
    annotations = check_annotations(doc.get("annotations"), "annotations")
    return Parsed(
        media_type=media_type, body=body, doc=doc,
        blobs=[config["digest"], *layer_blobs(layers)],
        subject=subject_of(doc),
        artifact_type=artifact_type or config["mediaType"],
        annotations=annotations,
    )
