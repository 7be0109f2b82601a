"""OCI image index (application/vnd.oci.image.index.v1+json)."""
from __future__ import annotations

from typing import Any

from ..oci import mediatypes as mt
from .base import (Parsed, check_annotations, check_declared_type, check_descriptor,
                   check_media_type, check_schema_version, invalid, register,
                   subject_of)


def check_manifest_list(doc: dict) -> list[dict]:
    """Validate the `manifests` array shared by OCI indexes and Docker lists."""
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise invalid("manifests must be an array")
    for i, m in enumerate(manifests):
        check_descriptor(m, f"manifests[{i}]")
        _check_platform(m.get("platform"), f"manifests[{i}].platform")
    return manifests


def _check_platform(platform: Any, where: str) -> None:
    """Field types as Go clients decode them (a wrong type fails every pull of the index)."""
    if platform is None:
        return
    if not (isinstance(platform, dict) and isinstance(platform.get("architecture"), str)
            and isinstance(platform.get("os"), str)):
        raise invalid(f"{where} needs string architecture and os")
    for key in ("variant", "os.version"):
        if key in platform and not isinstance(platform[key], str):
            raise invalid(f"{where}.{key} must be a string")
    for key in ("os.features", "features"):
        if key in platform and not (isinstance(platform[key], list) and all(isinstance(f, str) for f in platform[key])):
            raise invalid(f"{where}.{key} must be an array of strings")


@register(mt.OCI_INDEX)
def parse(media_type: str, body: bytes, doc: dict) -> Parsed:
    """Validate an OCI image index; its children must be manifests in the repository."""
    check_schema_version(doc)
    check_declared_type(doc, media_type)
    manifests = check_manifest_list(doc)
    artifact_type = doc.get("artifactType")
    if artifact_type is not None:
        check_media_type(artifact_type, "artifactType")
    return Parsed(
        media_type=media_type, body=body, doc=doc,
        manifests=[m["digest"] for m in manifests],
        subject=subject_of(doc), artifact_type=artifact_type,
        annotations=check_annotations(doc.get("annotations"), "annotations"),
    )
