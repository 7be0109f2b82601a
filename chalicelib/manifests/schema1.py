"""Docker image manifest V2, schema 1: signed (v1+prettyjws) and unsigned (v1+json).

A body that carries `signatures` (whatever its Content-Type) must verify,
and its digest is sha256 of the signed payload (the body without the
signatures block), as Docker and containers/image compute it. Without
signatures only v1+json is accepted, and its digest is sha256 of the body.
The manifest's fields are read from the signed payload, never from bytes
outside it.
"""
from __future__ import annotations

import re
from typing import Any

from ..oci import mediatypes as mt
from ..oci.digest import compute, parse_digest
from ..oci.names import MAX_NAME_LENGTH, NAME_RE
from .base import Parsed, check_schema_version, invalid, loads, register

_V1_ID = re.compile(r"^[a-f0-9]{64}\Z")
SIGNATURE_FAILED = "signature verification failed"


def check_structure(doc: dict) -> list[str]:
    """Validate a schema 1 manifest's fields; return its distinct blobSums, top layer first."""
    check_schema_version(doc, 1)
    name = doc.get("name")
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH or not NAME_RE.fullmatch(name):
        raise invalid("name must be a valid repository name", name=name)
    if not isinstance(doc.get("tag"), str):
        raise invalid("tag must be a string", tag=doc.get("tag"))
    if not isinstance(doc.get("architecture"), str):
        raise invalid("architecture must be a string", architecture=doc.get("architecture"))
    layers, history = doc.get("fsLayers"), doc.get("history")
    if not isinstance(layers, list) or not layers:
        raise invalid("fsLayers must be a non-empty array")
    if not isinstance(history, list):
        raise invalid("history must be an array")
    if len(history) != len(layers):
        raise invalid("history and fsLayers must have the same length",
                      fsLayers=len(layers), history=len(history))
    blobs: dict[str, None] = {}
    for i, layer in enumerate(layers):
        blob_sum = layer.get("blobSum") if isinstance(layer, dict) else None
        if not isinstance(blob_sum, str):
            raise invalid(f"fsLayers[{i}].blobSum is required")
        parse_digest(blob_sum, code="MANIFEST_INVALID")
        blobs[blob_sum] = None
    for i, entry in enumerate(history):
        _check_v1_compatibility(entry, f"history[{i}]")
    return list(blobs)


def _check_v1_compatibility(entry: Any, where: str) -> None:
    raw = entry.get("v1Compatibility") if isinstance(entry, dict) else None
    if not isinstance(raw, str):
        raise invalid(f"{where}.v1Compatibility must be a string")
    try:
        v1 = loads(raw)
    except ValueError as exc:
        raise invalid(f"{where}.v1Compatibility is not valid JSON") from None
    if not isinstance(v1, dict):
        raise invalid(f"{where}.v1Compatibility must hold a JSON object")
    if not isinstance(v1.get("id"), str) or not _V1_ID.fullmatch(v1["id"]):
        raise invalid(f"{where}.v1Compatibility id must be 64 lowercase hex digits", id=v1.get("id"))
    parent = v1.get("parent")
    if parent not in (None, "") and not (isinstance(parent, str) and _V1_ID.fullmatch(parent)):
        raise invalid(f"{where}.v1Compatibility parent must be 64 lowercase hex digits", parent=parent)


def signed_payload(body: bytes, doc: dict) -> bytes:
    """Verify the signatures of `body` and return its payload, or MANIFEST_INVALID."""
    from . import jws  # cryptography loads only when a signed manifest arrives

    try:
        payload = jws.verify(body)
    except jws.SignatureError as exc:
        raise invalid(SIGNATURE_FAILED, cause=str(exc)) from None
    unsigned = {k: v for k, v in doc.items() if k != "signatures"}
    try:
        same = loads(payload) == unsigned
    except ValueError:
        same = False
    if not same:
        raise invalid(SIGNATURE_FAILED, cause="manifest content lies outside the signed payload")
    return payload


@register(mt.DOCKER_V1, mt.DOCKER_V1_SIGNED)
def parse(media_type: str, body: bytes, doc: dict) -> Parsed:
    """Validate a schema 1 manifest, verifying its signatures when it has any."""
    unsigned = {k: v for k, v in doc.items() if k != "signatures"}
    if unsigned.get("mediaType", media_type) not in (mt.DOCKER_V1, mt.DOCKER_V1_SIGNED):
        raise invalid("mediaType in the manifest does not match its Content-Type",
                      mediaType=unsigned.get("mediaType"), contentType=media_type)
    blobs = check_structure(unsigned)
    digest = None
    if "signatures" in doc or media_type == mt.DOCKER_V1_SIGNED:
        if "signatures" not in doc:
            raise invalid(SIGNATURE_FAILED, cause="missing signatures")
        digest = compute(signed_payload(body, doc))
    return Parsed(media_type=media_type, body=body, doc=doc, blobs=blobs, digest=digest)
