"""Shared validation helpers and the dispatch from media type to format module."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..domain.digest import parse_digest
from ..domain.errors import RegistryError

_UNSAFE_IN_GO = re.compile("[<>&\u2028\u2029\ud800-\udfff]")
_MEDIA_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")


@dataclass
class Parsed:
    """What the registry needs to know about a manifest, beside its bytes."""

    media_type: str
    body: bytes
    blobs: list[str] = field(default_factory=list)       # must be linked in the repo
    manifests: list[str] = field(default_factory=list)   # must be manifests in the repo
    subject: Optional[str] = None
    artifact_type: Optional[str] = None                  # for the referrers API
    annotations: Optional[dict] = None
    doc: Any = None                                      # the decoded JSON
    digest: Optional[str] = None                         # set when not sha256 of body (signed schema 1)


def go_json(obj: Any, *, indent: Optional[str] = None, prefix: str = "") -> bytes:
    """Serialise like Go's encoding/json (as Docker writes manifests): raw UTF-8, HTML-safe escapes.

    Keys keep the dict's order. With `indent`, `prefix` starts every line but
    the first, as in json.MarshalIndent.
    """
    if indent is None:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(obj, ensure_ascii=False, indent=indent, separators=(",", ": "))
        if prefix:
            text = text.replace("\n", "\n" + prefix)
    # '<', '>', '&', U+2028/9 and lone surrogates only occur inside strings.
    text = _UNSAFE_IN_GO.sub(lambda m: "\\u%04x" % ord(m.group()), text)
    return text.encode("utf-8")


def invalid(reason: str, **detail: Any) -> RegistryError:
    """A MANIFEST_INVALID error whose detail says what is wrong."""
    return RegistryError("MANIFEST_INVALID", {"reason": reason, **detail})


def load_json(body: bytes) -> dict:
    """Decode a manifest's bytes as a JSON object."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise invalid("manifest must be a JSON object")
    return doc


def check_media_type(value: Any, where: str) -> str:
    """A syntactically valid media type string (RFC 6838)."""
    if not isinstance(value, str) or not _MEDIA_TYPE_RE.fullmatch(value):
        raise invalid(f"{where}: invalid media type {value!r}")
    return value


def check_descriptor(d: Any, where: str) -> dict:
    """Validate an OCI/Docker content descriptor."""
    if not isinstance(d, dict):
        raise invalid(f"{where}: descriptor must be an object")
    check_media_type(d.get("mediaType"), f"{where}.mediaType")
    digest = d.get("digest")
    if not isinstance(digest, str):
        raise invalid(f"{where}.digest is required")
    parse_digest(digest, code="MANIFEST_INVALID")
    size = d.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise invalid(f"{where}.size must be a non-negative integer")
    if "annotations" in d:
        check_annotations(d["annotations"], f"{where}.annotations")
    if "urls" in d and not (isinstance(d["urls"], list) and all(isinstance(u, str) for u in d["urls"])):
        raise invalid(f"{where}.urls must be an array of strings")
    return d


def check_annotations(a: Any, where: str) -> Optional[dict]:
    """Annotations are a string-to-string map."""
    if a is None:
        return None
    if not isinstance(a, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in a.items()):
        raise invalid(f"{where} must map strings to strings")
    return a


def check_schema_version(doc: dict, expected: int = 2) -> None:
    if doc.get("schemaVersion") != expected:
        raise invalid(f"schemaVersion must be {expected}", schemaVersion=doc.get("schemaVersion"))


def check_declared_type(doc: dict, media_type: str, required: bool = False) -> None:
    """The body's own mediaType, if any, must equal the Content-Type it came with."""
    declared = doc.get("mediaType")
    if declared is None and not required:
        return
    if declared != media_type:
        raise invalid("mediaType in the manifest does not match its Content-Type",
                      mediaType=declared, contentType=media_type)


def subject_of(doc: dict) -> Optional[str]:
    if "subject" not in doc:
        return None
    return check_descriptor(doc["subject"], "subject")["digest"]


_PARSERS: dict[str, Callable[[str, bytes], Parsed]] = {}


def register(*media_types: str) -> Callable:
    """Class decorator-ish: register a parse function for media types."""
    def deco(fn: Callable[[str, bytes], Parsed]) -> Callable[[str, bytes], Parsed]:
        for m in media_types:
            _PARSERS[m] = fn
        return fn
    return deco


def _generic(media_type: str, body: bytes) -> Parsed:
    """Any other media type: stored as given; it must be a JSON object."""
    doc = load_json(body)
    return Parsed(media_type, body, doc=doc)


def parse(media_type: Optional[str], body: bytes) -> Parsed:
    """Validate `body` as a manifest of `media_type` (from Content-Type, or the body)."""
    from . import docker_list, docker_v2, oci_image, oci_index, schema1  # noqa: F401  (registration)

    media_type = (media_type or "").split(";")[0].strip()
    if not media_type:
        doc = load_json(body)
        media_type = doc.get("mediaType") or ""
        if not media_type:
            raise invalid("no Content-Type and no mediaType in the manifest")
    check_media_type(media_type, "Content-Type")
    return _PARSERS.get(media_type, _generic)(media_type, body)
