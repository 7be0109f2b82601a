"""Shared validation helpers and the dispatch from media type to format module."""
from __future__ import annotations

import base64
import json
import re
from fnmatch import fnmatchcase
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from ..oci import json_input, mediatypes as mt
from ..oci.digest import compute, parse_digest
from ..oci.errors import RegistryError

# Descriptor sizes are Go int64s in every client.
MAX_SIZE = 2**63 - 1
_UNSAFE_IN_GO = re.compile("[<>&\u2028\u2029\ud800-\udfff]")
_MEDIA_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\Z")


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


# The registry's one strict parser (oci/json_input.py): no NaN/Infinity, no duplicate
# keys (a client and the registry must not read two different manifests from one
# digest), nested at most MAX_JSON_DEPTH deep.
MAX_JSON_DEPTH = json_input.MAX_DEPTH


def loads(data: Union[bytes, str]) -> Any:
    """json.loads for untrusted bytes, strict (see oci/json_input.py). Failures are ValueError."""
    return json_input.loads(data)


def invalid(reason: str, **detail: Any) -> RegistryError:
    """A MANIFEST_INVALID error whose detail says what is wrong."""
    return RegistryError("MANIFEST_INVALID", {"reason": reason, **detail})


def load_json(body: bytes) -> dict:
    """Decode a manifest's bytes as a JSON object."""
    try:
        doc = loads(body)
    except ValueError as exc:
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
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
        raise invalid(f"{where}.size must be an integer from 0 to 2^63-1", size=_shown(size))
    if "annotations" in d:
        check_annotations(d["annotations"], f"{where}.annotations")
    if "urls" in d and not (isinstance(d["urls"], list) and all(isinstance(u, str) for u in d["urls"])):
        raise invalid(f"{where}.urls must be an array of strings")
    if "artifactType" in d:
        check_media_type(d["artifactType"], f"{where}.artifactType")
    if "data" in d:
        _check_embedded_data(d, where)
    return d


def _check_embedded_data(d: dict, where: str) -> None:
    """`data` embeds the content itself: it must decode and match the descriptor."""
    data = d["data"]
    try:
        raw = base64.b64decode(data, validate=True) if isinstance(data, str) else None
    except ValueError:
        raw = None
    if raw is None:
        raise invalid(f"{where}.data must be a base64 string")
    if len(raw) != d["size"] or compute(raw, d["digest"].split(":", 1)[0]) != d["digest"]:
        raise invalid(f"{where}.data does not match the descriptor's size and digest")


def _shown(value: Any) -> Any:
    # Echo numbers and short strings in errors; never a megabyte of input.
    return value if isinstance(value, (int, float, bool)) or value is None else repr(value)[:64]


def check_annotations(a: Any, where: str) -> Optional[dict]:
    """Annotations are a string-to-string map."""
    if a is None:
        return None
    if not isinstance(a, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in a.items()):
        raise invalid(f"{where} must map strings to strings")
    return a


def check_schema_version(doc: dict, expected: int = 2) -> None:
    version = doc.get("schemaVersion")
    # an integer, not 2.0 (equal in Python, refused by Go clients' int field) nor true
    if type(version) is not int or version != expected:
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


Parser = Callable[[str, bytes, dict], Parsed]
_PARSERS: dict[str, Parser] = {}
# Content-Types that say nothing about the manifest: the body's mediaType decides.
GENERIC_CONTENT_TYPES = frozenset({"", "application/json", "application/octet-stream", "text/plain",
                                   "*/*", "application/x-www-form-urlencoded"})


def register(*media_types: str) -> Callable[[Parser], Parser]:
    """Decorator: register a parse function for media types."""
    def deco(fn: Parser) -> Parser:
        for m in media_types:
            _PARSERS[m] = fn
        return fn
    return deco


def generic(media_type: str, body: bytes, doc: dict) -> Parsed:
    """A manifest type the deployment added (REGISTRY_EXTRA_MANIFEST_TYPES).

    Its descriptors get the same checks as an image's: `config`, `layers` and
    `blobs` (the retired OCI artifact manifest) must be blobs in the
    repository, `manifests` must be manifests there.
    """
    check_declared_type(doc, media_type)
    blobs: list[str] = []
    if "config" in doc:
        blobs.append(check_descriptor(doc["config"], "config")["digest"])
    for key in ("layers", "blobs"):
        if key in doc:
            if not isinstance(doc[key], list):
                raise invalid(f"{key} must be an array")
            for i, d in enumerate(doc[key]):
                check_descriptor(d, f"{key}[{i}]")
                if not (d["mediaType"] in mt.FOREIGN_LAYERS and d.get("urls")):
                    blobs.append(d["digest"])
    children: list[str] = []
    if "manifests" in doc:
        if not isinstance(doc["manifests"], list):
            raise invalid("manifests must be an array")
        children = [check_descriptor(d, f"manifests[{i}]")["digest"] for i, d in enumerate(doc["manifests"])]
    artifact_type = doc.get("artifactType")
    if artifact_type is not None:
        check_media_type(artifact_type, "artifactType")
    return Parsed(media_type, body, blobs=blobs, manifests=children, subject=subject_of(doc),
                  artifact_type=artifact_type, doc=doc,
                  annotations=check_annotations(doc.get("annotations"), "annotations"))


def _inferred(doc: dict) -> str:
    """The type of a manifest that came without a specific Content-Type."""
    declared = doc.get("mediaType")
    if declared is not None:
        return check_media_type(declared, "mediaType")
    # Docker's types require the mediaType field, so only OCI and schema 1 can lack it.
    if doc.get("schemaVersion") == 1:
        return mt.DOCKER_V1_SIGNED if "signatures" in doc else mt.DOCKER_V1
    if doc.get("schemaVersion") == 2 and "manifests" in doc and "layers" not in doc:
        return mt.OCI_INDEX
    if doc.get("schemaVersion") == 2 and "layers" in doc and "manifests" not in doc:
        return mt.OCI_MANIFEST
    raise invalid("cannot tell the manifest type: send its media type as Content-Type or in mediaType")


def parse(content_type: Optional[str], body: bytes, extra_types: tuple[str, ...] = ()) -> Parsed:
    """Validate `body` as a manifest; its type comes from Content-Type, or from the
    body when the header is generic (application/json, none, ...).

    Accepted: the built-in manifest types, and types matching `extra_types`
    (fnmatch patterns). A specific Content-Type that the body's mediaType
    contradicts is refused, so a stored manifest always has the type that
    clients' Accept lists ask for.
    """
    from . import docker_list, docker_v2, oci_image, oci_index, schema1  # noqa: F401  (registration)

    header = (content_type or "").split(";")[0].strip().lower()
    doc = load_json(body)
    media_type = _inferred(doc) if header in GENERIC_CONTENT_TYPES else check_media_type(header, "Content-Type")
    parser = _PARSERS.get(media_type)
    if parser is None and any(fnmatchcase(media_type, p) for p in extra_types):
        parser = generic
    if parser is None:
        raise invalid("unsupported manifest media type", mediaType=media_type,
                      supported=sorted(_PARSERS) + list(extra_types))
    return parser(media_type, body, doc)
