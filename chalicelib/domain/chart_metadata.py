"""Chart.yaml as Helm reads it: the metadata fields and types of Helm's chart.Metadata.

Used for uploads (Chart.yaml from the archive, see chart_archive.py) and for
config blobs pushed over OCI (Chart.yaml as JSON); the index is built from
what this module lets through.
"""
from __future__ import annotations

import re
from typing import Any, Optional

from ..oci.errors import RegistryError
from ..oci.names import MAX_NAME_LENGTH
from .chart_archive import chart_yaml_of

# A version becomes the OCI tag (at most 128 characters) and part of the download file name.
MAX_VERSION_LENGTH = 128

# Masterminds/semver's loose grammar (what Helm accepts as a chart version). Never
# contains '_', so version_tag() is reversible: tag `1.0.0_b1` is version `1.0.0+b1`.
SEMVER_RE = re.compile(
    r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?")


def semver_key(version: str) -> tuple:
    m = SEMVER_RE.fullmatch(version)
    if not m:
        return (0, (), 0, ())
    core = tuple(int(x or 0) for x in m.group(1, 2, 3))
    pre = m.group(4)
    if not pre:
        return (1, core, 1, ())
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (1, core, 0, ids)


# -- Chart.yaml -> Helm's metadata JSON ----------------------------------------
# Field order of Helm's chart.Metadata (so the config blob reads like Helm's own).
_STRING_FIELDS = ("name", "home", "version", "description", "icon", "apiVersion", "condition",
                  "tags", "appVersion", "kubeVersion", "type")
_METADATA_ORDER = ("name", "home", "sources", "version", "description", "keywords", "maintainers",
                   "icon", "apiVersion", "condition", "tags", "appVersion", "deprecated",
                   "annotations", "kubeVersion", "dependencies", "type")
_DEPENDENCY_ORDER = ("name", "version", "repository", "condition", "tags", "enabled",
                     "import-values", "alias")
_TRUE = {"true", "yes", "on", "y"}
_FALSE = {"false", "no", "off", "n"}


def _string(value: Any) -> Optional[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _bool(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    return None


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [s for s in (_string(v) for v in value) if s]


def _import_values(value: Any) -> list:
    """Helm's import-values: strings, or {child, parent} maps of strings (nothing deeper)."""
    out: list = []
    for v in value if isinstance(value, list) else []:
        if _string(v) is not None:
            out.append(_string(v))
        elif isinstance(v, dict):
            item = {str(k): _string(x) for k, x in v.items() if _string(x) is not None}
            if item:
                out.append(item)
    return out


def normalize_metadata(raw: Any) -> dict:
    """Chart.yaml fields in the types Helm's chart.Metadata has, empty ones left out.

    Accepts Helm's config JSON and YAML loaded with every scalar as a string
    (as Helm reads Chart.yaml: `version: 1.10` stays "1.10"). A field of the
    wrong shape is dropped rather than passed on: one bad chart must not make
    a whole index.yaml unreadable to Helm.
    """
    if not isinstance(raw, dict):
        raise RegistryError("MANIFEST_INVALID", {"reason": "Chart.yaml must be a mapping"})
    out: dict[str, Any] = {}
    for key in _METADATA_ORDER:
        value = raw.get(key)
        if key in _STRING_FIELDS:
            value = _string(value)
        elif key in ("sources", "keywords"):
            value = _strings(value)
        elif key == "maintainers":
            value = [m for m in (
                {k: _string(d.get(k)) for k in ("name", "email", "url") if _string(d.get(k))}
                for d in (value if isinstance(value, list) else []) if isinstance(d, dict)) if m]
        elif key == "annotations":
            value = ({str(k): _string(v) for k, v in value.items() if _string(v) is not None}
                     if isinstance(value, dict) else None)
        elif key == "deprecated":
            value = _bool(value)
        elif key == "dependencies":
            value = [_dependency(d) for d in (value if isinstance(value, list) else [])
                     if isinstance(d, dict) and _string(d.get("name"))]
        if value not in (None, "", [], {}, False):
            out[key] = value
    return out


def _dependency(d: dict) -> dict:
    out: dict[str, Any] = {}
    for key in _DEPENDENCY_ORDER:
        value = d.get(key)
        if key == "tags":
            value = _strings(value)
        elif key == "enabled":
            value = _bool(value)
        elif key == "import-values":
            value = _import_values(value)
        else:
            value = _string(value)
        if value not in (None, "", []):
            out[key] = value
    return out


def check_metadata(meta: dict) -> None:
    """Name and version are what the index and the OCI tag are made of."""
    name, version = meta.get("name"), meta.get("version")
    if not name or len(name) > MAX_NAME_LENGTH or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise RegistryError("MANIFEST_INVALID", {"reason": "Chart.yaml: name is missing or not a valid chart name",
                                                 "name": (name or "")[:MAX_NAME_LENGTH]})
    if not version or len(version) > MAX_VERSION_LENGTH or not SEMVER_RE.fullmatch(version):
        raise RegistryError("MANIFEST_INVALID", {"reason": "Chart.yaml: version must be a semantic version "
                                                           f"of at most {MAX_VERSION_LENGTH} characters",
                                                 "version": (version or "")[:MAX_VERSION_LENGTH]})


def metadata_from_archive(archive: bytes) -> dict:
    """Chart.yaml of a .tgz as Helm's metadata (what Helm pushes as the config blob)."""
    import yaml  # only uploads parse YAML; nothing else pays for the import

    text = chart_yaml_of(archive)
    try:
        raw = yaml.load(text, Loader=getattr(yaml, "CBaseLoader", yaml.BaseLoader))
    except (yaml.YAMLError, RecursionError, UnicodeDecodeError) as exc:
        raise RegistryError("MANIFEST_INVALID", {"reason": f"Chart.yaml is not valid YAML: {exc}"}) from None
    meta = normalize_metadata(raw)
    check_metadata(meta)
    return meta
