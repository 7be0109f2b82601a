"""Repository names, tags and references, per the distribution-spec grammar."""
from __future__ import annotations

import re
from typing import Optional

from .errors import RegistryError

# path components of lowercase alphanumerics joined by '.', '_', '__', or runs of '-'
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
# \Z, not $: `$` also matches before a trailing newline ("latest\n").
NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*\Z")
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}\Z")
# Upload session ids are ours (uuid4): anything else names no session and must not reach storage.
UPLOAD_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_NAME_LENGTH = 255
MAX_TAG_LENGTH = 128


def validate_name(name: str) -> str:
    """Return `name` if it is a valid repository name, else raise NAME_INVALID."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH or not NAME_RE.fullmatch(name):
        raise RegistryError(
            "NAME_INVALID",
            {"name": name, "reason": "must match [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/...)* and be at most 255 characters"},
        )
    return name


def is_tag(reference: str) -> bool:
    """True when `reference` is a syntactically valid tag."""
    return isinstance(reference, str) and bool(TAG_RE.fullmatch(reference))


def validate_tag(tag: str) -> str:
    """Return `tag` if valid, else MANIFEST_INVALID (the spec has no tag code)."""
    if not is_tag(tag):
        raise RegistryError(
            "MANIFEST_INVALID",
            {"tag": tag, "reason": "tag must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"},
        )
    return tag


def is_upload_id(upload_id: str) -> bool:
    """True when `upload_id` has the form of the session ids this registry hands out."""
    return isinstance(upload_id, str) and bool(UPLOAD_ID_RE.fullmatch(upload_id))


def listing_after(last: Optional[str], longest: int) -> Optional[str]:
    """A listing's `last` (after which keys are listed) made safe for a DynamoDB key
    condition, listing exactly the same keys. Keys (names, tags, digests) are ASCII and at
    most `longest` long, so: at the first other character the rest is replaced by DEL (the
    highest ASCII character, in no key), and the result is cut one character beyond the
    longest key. Uncut, a long or non-ASCII `last` passed DynamoDB's 1 KiB key limit: 503."""
    if not last:
        return last
    for i, ch in enumerate(last):
        if ord(ch) > 0x7E:
            last = last[:i] + "\x7f"
            break
    return last[: longest + 1]
