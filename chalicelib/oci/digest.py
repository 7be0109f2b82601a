"""Digests: parsing and computing (`algorithm:hex`, sha256 and sha512)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .errors import RegistryError

_HEX = {"sha256": 64, "sha512": 128}
DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)\Z")
# Longer than any supported digest (sha512: 7 + 128): refused before any regex or key use.
MAX_DIGEST_LENGTH = 256


@dataclass(frozen=True)
class Digest:
    """A parsed `algorithm:hex` digest of a supported algorithm."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def parse_digest(value: str, *, code: str = "DIGEST_INVALID") -> Digest:
    """Parse `value` or raise `code` (DIGEST_INVALID unless told otherwise)."""
    m = DIGEST_RE.fullmatch(value) if isinstance(value, str) and len(value) <= MAX_DIGEST_LENGTH else None
    if not m:
        raise RegistryError(code, {"digest": _shown(value), "reason": "malformed digest"})
    alg, hexpart = m.group(1), m.group(2)
    if alg not in _HEX:
        raise RegistryError(
            code, {"digest": value, "reason": f"unsupported algorithm {alg!r}; use sha256 or sha512"}
        )
    if len(hexpart) != _HEX[alg] or not re.fullmatch(r"[a-f0-9]+", hexpart):
        raise RegistryError(code, {"digest": value, "reason": f"{alg} needs {_HEX[alg]} lowercase hex digits"})
    return Digest(alg, hexpart)


def _shown(value: object) -> object:
    # Error details echo the input, but never a megabyte of it.
    return value[:MAX_DIGEST_LENGTH] + "..." if isinstance(value, str) and len(value) > MAX_DIGEST_LENGTH else value


def looks_like_digest(reference: str) -> bool:
    """True when a reference is shaped like a digest (contains ':')."""
    return ":" in reference


def compute(data: bytes, algorithm: str = "sha256") -> str:
    """`algorithm:hex` of `data`."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
