"""Manifest conversions for pulls by tag: bytes in, bytes out, exact and deterministic.

- OCI image manifest <-> Docker v2 schema 2 (same blobs, media types mapped);
- Docker manifest list <-> OCI image index (children unchanged);
- Docker v2 schema 2 / OCI image -> schema 1, the way distribution's
  schema1 config builder (what `docker push` used) builds it, signed with the
  registry's key or unsigned.

Anything that has no faithful equivalent in the target format (artifacts,
zstd layers, foreign layers for schema 1, ...) raises `ConversionImpossible`.
Choosing an index's child for a platform is platform.py's.
Output is Go-style JSON (as Docker writes it) with a 3-space indent. The
JWS module (and with it `cryptography`) loads only for schema 1 work.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any, Optional

from ..oci import mediatypes as mt
from ..oci.digest import compute
from .base import go_json, loads

EMPTY_LAYER_DIGEST = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
# The 32 bytes behind EMPTY_LAYER_DIGEST: a gzipped empty tar (1024 zero bytes), as Docker writes it.
GZIPPED_EMPTY_TAR = bytes([31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 98, 24, 5, 163, 96, 20, 140, 88, 0,
                           8, 0, 0, 255, 255, 46, 175, 181, 239, 0, 4, 0, 0])
INDENT = "   "

_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
_OCI_FOREIGN = "application/vnd.oci.image.layer.nondistributable.v1.tar"
_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
_DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar"

# OCI layer media type -> Docker's; uncompressed and gzip only (Docker has no zstd type).
OCI_TO_DOCKER_LAYER: dict[str, str] = {
    _OCI_LAYER: _DOCKER_LAYER,
    _OCI_LAYER + "+gzip": _DOCKER_LAYER + ".gzip",
    _OCI_FOREIGN: _DOCKER_FOREIGN,
    _OCI_FOREIGN + "+gzip": _DOCKER_FOREIGN + ".gzip",
}
DOCKER_TO_OCI_LAYER: dict[str, str] = {v: k for k, v in OCI_TO_DOCKER_LAYER.items()}
_FOREIGN = frozenset({_OCI_FOREIGN, _OCI_FOREIGN + "+gzip", _DOCKER_FOREIGN, _DOCKER_FOREIGN + ".gzip"})
_ATTESTATION_KEY = "vnd.docker.reference.type"
_GO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})\Z", re.ASCII)


class ConversionImpossible(Exception):
    """The manifest has no faithful equivalent in the requested format."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- helpers -----------------------------------------------------------------

def _load(body: bytes, media_type: str) -> dict:
    """Decode a stored manifest of `media_type` (OCI ones may omit their mediaType field)."""
    try:
        doc = loads(body)
    except ValueError:
        raise ConversionImpossible(f"the {media_type} manifest is not JSON") from None
    if not isinstance(doc, dict) or doc.get("schemaVersion") != 2:
        raise ConversionImpossible(f"the {media_type} manifest must be a schemaVersion 2 object")
    optional = media_type in (mt.OCI_MANIFEST, mt.OCI_INDEX)
    declared = doc.get("mediaType", media_type if optional else None)
    if declared != media_type:
        raise ConversionImpossible(f"expected a {media_type} manifest, not {declared!r}")
    return doc


def _dump(doc: Any) -> bytes:
    return go_json(doc, indent=INDENT)


def _descriptor(d: Any, media_type: str, oci: bool, where: str) -> dict:
    """A descriptor in the target format's field order, with `media_type`."""
    if not isinstance(d, dict) or not isinstance(d.get("digest"), str) or not isinstance(d.get("size"), int):
        raise ConversionImpossible(f"{where} is not a valid descriptor")
    out: dict[str, Any] = {"mediaType": media_type}
    out.update({"digest": d["digest"], "size": d["size"]} if oci else {"size": d["size"], "digest": d["digest"]})
    if d.get("urls"):
        out["urls"] = d["urls"]
    if oci and d.get("annotations"):
        out["annotations"] = d["annotations"]
    return out


def _layers(doc: dict, mapping: dict[str, str], oci: bool) -> list[dict]:
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise ConversionImpossible("layers must be an array")
    out = []
    for i, layer in enumerate(layers):
        media_type = layer.get("mediaType") if isinstance(layer, dict) else None
        if media_type not in mapping:
            raise ConversionImpossible(f"layers[{i}] has media type {media_type!r} with no equivalent")
        out.append(_descriptor(layer, mapping[media_type], oci, f"layers[{i}]"))
    return out


def _image_config(doc: dict, expected: str) -> dict:
    if doc.get("artifactType"):
        raise ConversionImpossible(f"artifact of type {doc['artifactType']!r} is not an image")
    config = doc.get("config")
    media_type = config.get("mediaType") if isinstance(config, dict) else None
    if not isinstance(config, dict) or media_type != expected:
        raise ConversionImpossible(f"config media type {media_type!r} is not an image config")
    return config


# --- OCI <-> Docker v2 schema 2 ------------------------------------------------

_CONFIG_OF = {mt.OCI_MANIFEST: mt.OCI_CONFIG, mt.DOCKER_V2: mt.DOCKER_CONFIG}


def _image_manifest(body: bytes, source: str, target: str, layer_types: dict[str, str]) -> bytes:
    """Re-express an image manifest in the other format: same blobs, mapped media types."""
    doc = _load(body, source)
    config = _image_config(doc, _CONFIG_OF[source])
    oci = target == mt.OCI_MANIFEST
    return _dump({"schemaVersion": 2, "mediaType": target,
                  "config": _descriptor(config, _CONFIG_OF[target], oci, "config"),
                  "layers": _layers(doc, layer_types, oci)})


def oci_to_docker_v2(body: bytes) -> bytes:
    """OCI image manifest -> Docker v2 schema 2 (annotations, subject dropped)."""
    return _image_manifest(body, mt.OCI_MANIFEST, mt.DOCKER_V2, OCI_TO_DOCKER_LAYER)


def docker_v2_to_oci(body: bytes) -> bytes:
    """Docker v2 schema 2 -> OCI image manifest."""
    return _image_manifest(body, mt.DOCKER_V2, mt.OCI_MANIFEST, DOCKER_TO_OCI_LAYER)


# --- lists and indexes -----------------------------------------------------------

def _entries(doc: dict) -> list[dict]:
    manifests = doc.get("manifests")
    if not isinstance(manifests, list) or not all(isinstance(m, dict) for m in manifests):
        raise ConversionImpossible("manifests must be an array of descriptors")
    return manifests


def is_attestation(entry: dict) -> bool:
    """BuildKit attestations (and other references) carried in an index."""
    annotations = entry.get("annotations")
    return isinstance(annotations, dict) and _ATTESTATION_KEY in annotations


def docker_list_to_oci_index(body: bytes) -> bytes:
    """Docker manifest list -> OCI image index; the children keep their own media types."""
    doc = _load(body, mt.DOCKER_LIST)
    out = []
    for i, m in enumerate(_entries(doc)):
        if not isinstance(m.get("mediaType"), str):
            raise ConversionImpossible(f"manifests[{i}] has no mediaType")
        d = _descriptor(m, m["mediaType"], True, f"manifests[{i}]")
        if isinstance(m.get("platform"), dict):
            d["platform"] = m["platform"]
        out.append(d)
    return _dump({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": out})


def oci_index_to_docker_list(body: bytes) -> bytes:
    """OCI image index of Docker manifests -> Docker manifest list (attestations skipped)."""
    doc = _load(body, mt.OCI_INDEX)
    if doc.get("artifactType") or doc.get("subject"):
        raise ConversionImpossible("an index with artifactType or subject is an artifact")
    out = []
    for i, m in enumerate(_entries(doc)):
        if is_attestation(m):
            continue
        if m.get("mediaType") not in (mt.DOCKER_V2, mt.DOCKER_V1_SIGNED):
            raise ConversionImpossible(f"manifests[{i}] is {m.get('mediaType')!r}, which a Docker list cannot hold")
        if not isinstance(m.get("platform"), dict):
            raise ConversionImpossible(f"manifests[{i}] has no platform")
        d = _descriptor(m, m["mediaType"], False, f"manifests[{i}]")
        d["platform"] = m["platform"]
        out.append(d)
    return _dump({"schemaVersion": 2, "mediaType": mt.DOCKER_LIST, "manifests": out})


# --- schema 1 ----------------------------------------------------------------------

def _go_time(value: Any, where: str) -> str:
    """A history time as Go's time.Time marshals it (RFC 3339, trimmed nanoseconds)."""
    if value is None:
        return "0001-01-01T00:00:00Z"
    m = _GO_TIME.match(value) if isinstance(value, str) else None
    if not m:
        raise ConversionImpossible(f"{where} is not an RFC 3339 time: {value!r}")
    fraction = (m.group(2) or "")[:9].rstrip("0")
    zone = "Z" if m.group(3) in ("Z", "+00:00", "-00:00") else m.group(3)
    return m.group(1) + ("." + fraction if fraction else "") + zone


def _history_str(entry: dict, key: str, where: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise ConversionImpossible(f"{where}.{key} must be a string")
    return value


def _schema1_layers(doc: dict) -> list[str]:
    """Layer digests of an image manifest (OCI or Docker v2) that schema 1 can carry."""
    declared = doc.get("mediaType", mt.OCI_MANIFEST)
    if declared not in _CONFIG_OF:
        raise ConversionImpossible(f"cannot build schema 1 from {declared!r}")
    _image_config(doc, _CONFIG_OF[declared])
    for i, layer in enumerate(doc.get("layers") or []):
        if isinstance(layer, dict) and layer.get("mediaType") in _FOREIGN:
            raise ConversionImpossible(f"layers[{i}] is a foreign layer, which schema 1 cannot point to")
    allowed = {k: k for k in [*OCI_TO_DOCKER_LAYER, *DOCKER_TO_OCI_LAYER]}
    return [layer["digest"] for layer in _layers(doc, allowed, True)]


def _image_history(config: dict, layer_count: int) -> list[dict]:
    """The config's history, checked against the layers (or one entry per layer if absent)."""
    history = config.get("history")
    if history in (None, []):
        history = [{"created": config["created"]} if "created" in config else {} for _ in range(layer_count)]
        if not history:
            raise ConversionImpossible("an image without layers or history has no schema 1 form")
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise ConversionImpossible("config history must be an array of objects")
    non_empty = sum(1 for h in history if not h.get("empty_layer"))
    if non_empty != layer_count:
        raise ConversionImpossible(f"config history has {non_empty} non-empty entries for {layer_count} layers")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids")
    if isinstance(diff_ids, list) and len(diff_ids) != layer_count:
        raise ConversionImpossible(f"rootfs has {len(diff_ids)} diff_ids for {layer_count} layers")
    return history


def _v1_config(config: dict, v1_id: str, parent: str, throwaway: bool) -> str:
    """The top history entry: the image config without rootfs/history, plus ids (keys sorted)."""
    top = {k: v for k, v in config.items() if k not in ("rootfs", "history")}
    top["id"] = v1_id
    if parent:
        top["parent"] = parent
    if throwaway:
        top["throwaway"] = True
    # Go marshals the map with sorted keys; nested values keep their own order.
    return go_json(dict(sorted(top.items()))).decode("utf-8")


def _v1_entry(entry: dict, v1_id: str, parent: str, where: str) -> str:
    """A lower history entry as distribution writes it (fields in its struct order)."""
    out: dict[str, Any] = {"id": v1_id}
    if parent:
        out["parent"] = parent
    comment, author = _history_str(entry, "comment", where), _history_str(entry, "author", where)
    if comment:
        out["comment"] = comment
    out["created"] = _go_time(entry.get("created"), f"{where}.created")
    out["container_config"] = {"Cmd": [_history_str(entry, "created_by", where)]}
    if author:
        out["author"] = author
    if entry.get("empty_layer"):
        out["throwaway"] = True
    return go_json(out).decode("utf-8")


def schema1_payload(manifest_body: bytes, config_body: bytes, name: str, tag: str) -> bytes:
    """The unsigned schema 1 manifest for an image (OCI or Docker v2) and its config."""
    try:
        doc = loads(manifest_body)
        config = loads(config_body)  # pushed by the client: untrusted
    except ValueError as exc:
        raise ConversionImpossible(f"manifest or config is not usable JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(config, dict):
        raise ConversionImpossible("manifest and config must be JSON objects")
    layers = _schema1_layers(doc)
    history = _image_history(config, len(layers))
    base_layer = (config.get("rootfs") or {}).get("base_layer") or ""

    count = len(history)
    fs_layers: list[dict] = [{}] * count
    v1: list[dict] = [{}] * count
    parent, next_layer = "", 0
    for i, entry in enumerate(history):
        if entry.get("empty_layer"):
            blob = EMPTY_LAYER_DIGEST
        else:
            blob, next_layer = layers[next_layer], next_layer + 1
        seed = f"{blob.split(':', 1)[1]} {parent}".encode()
        fs_layers[count - 1 - i] = {"blobSum": blob}
        if i == count - 1:  # the top: the whole config, id bound to its exact bytes
            v1_id = hashlib.sha256(seed + b" " + config_body).hexdigest()
            v1[0] = {"v1Compatibility": _v1_config(config, v1_id, parent, bool(entry.get("empty_layer")))}
            break
        v1_id = hashlib.sha256(seed).hexdigest()
        if i == 0 and base_layer:  # Windows base layer: a synthetic parent (distribution's rule)
            parent = hashlib.sha384(str(base_layer).encode()).hexdigest()[:64]
        v1[count - 1 - i] = {"v1Compatibility": _v1_entry(entry, v1_id, parent, f"history[{i}]")}
        parent = v1_id
    architecture = config.get("architecture", "")
    return _dump({"schemaVersion": 1, "name": name, "tag": tag,
                  "architecture": architecture if isinstance(architecture, str) else "",
                  "fsLayers": fs_layers, "history": v1})


def to_schema1(manifest_body: bytes, config_body: bytes, name: str, tag: str,
               signing_key_pem: Optional[bytes]) -> tuple[bytes, str, str]:
    """(bytes, digest, media type) of the schema 1 form of an image.

    Signed (v1+prettyjws) with the key when given, else unsigned (v1+json);
    the digest is sha256 of the unsigned payload either way.
    """
    payload = schema1_payload(manifest_body, config_body, name, tag)
    if signing_key_pem is None:
        return payload, compute(payload), mt.DOCKER_V1
    from . import jws

    return jws.sign(payload, signing_key_pem), compute(payload), mt.DOCKER_V1_SIGNED


def schema1_unsigned(body: bytes) -> bytes:
    """A stored signed schema 1 manifest without its signatures (same digest)."""
    from . import jws

    return jws.payload_of(body)


# --- dispatch ----------------------------------------------------------------------

def convert(body: bytes, source: str, target: str, *, config_body: Optional[bytes] = None,
            name: str = "", tag: str = "", signing_key_pem: Optional[bytes] = None) -> tuple[bytes, str, str]:
    """Convert a stored manifest of type `source` to `target`: (bytes, digest, media type).

    Schema 1 targets from an image need its config bytes (`config_body`).
    """
    if source == target:  # a signed schema 1 manifest's digest is that of its payload
        return body, compute(schema1_unsigned(body) if source == mt.DOCKER_V1_SIGNED else body), source
    simple = {(mt.OCI_MANIFEST, mt.DOCKER_V2): oci_to_docker_v2,
              (mt.DOCKER_V2, mt.OCI_MANIFEST): docker_v2_to_oci,
              (mt.DOCKER_LIST, mt.OCI_INDEX): docker_list_to_oci_index,
              (mt.OCI_INDEX, mt.DOCKER_LIST): oci_index_to_docker_list}
    if (source, target) in simple:
        out = simple[(source, target)](body)
        return out, compute(out), target
    if source == mt.DOCKER_V1_SIGNED and target == mt.DOCKER_V1:
        out = schema1_unsigned(body)
        return out, compute(out), target
    if source == mt.DOCKER_V1 and target == mt.DOCKER_V1_SIGNED and signing_key_pem is not None:
        from . import jws

        return jws.sign(body, signing_key_pem), compute(body), target
    if source in (mt.OCI_MANIFEST, mt.DOCKER_V2) and target in (mt.DOCKER_V1, mt.DOCKER_V1_SIGNED):
        if config_body is None:
            raise ValueError("a schema 1 conversion needs the image config bytes")
        key = signing_key_pem if target == mt.DOCKER_V1_SIGNED else None
        if key is None and target == mt.DOCKER_V1_SIGNED:
            raise ConversionImpossible("no signing key for a signed schema 1 manifest")
        return to_schema1(body, config_body, name, tag, key)
    raise ConversionImpossible(f"no conversion from {source} to {target}")
