"""The one parser of an upload chunk's Content-Range, used by the registry and the local gateway.

The distribution spec sends `<start>-<end>` (inclusive byte offsets); clients
also send `bytes <start>-<end>/<total>` (RFC 9110) or `bytes=<start>-<end>`,
so those prefixes and a total are accepted. Anything else, including end
before start and numbers beyond int64, is refused: the caller answers 416.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

MAX_OFFSET = 2**63 - 1
# ASCII digits only (\d would take any Unicode digit); at most 19 of them before the int64 check.
_RANGE = re.compile(r"(?:bytes[ =])?([0-9]{1,19})-([0-9]{1,19})(?:/([0-9]{1,19}|\*))?", re.ASCII)


class RangeInvalid(ValueError):
    """A Content-Range that cannot be honoured; the reason is the message."""


@dataclass(frozen=True)
class ChunkRange:
    """Inclusive byte offsets of a chunk."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_content_range(value: str, body_length: Optional[int] = None) -> ChunkRange:
    """Parse a chunk's Content-Range strictly; check it against the body's length when known."""
    m = _RANGE.fullmatch(value.strip(" \t")) if isinstance(value, str) else None
    if not m:
        raise RangeInvalid(f"malformed Content-Range {str(value)[:64]!r}: expected <start>-<end>")
    start, end = int(m.group(1)), int(m.group(2))
    total = None if m.group(3) in (None, "*") else int(m.group(3))
    if max(start, end, total or 0) > MAX_OFFSET:
        raise RangeInvalid(f"Content-Range {value!r} is beyond 2^63-1")
    if end < start:
        raise RangeInvalid(f"Content-Range {value!r} ends before it starts")
    if total is not None and end >= total:
        raise RangeInvalid(f"Content-Range {value!r} ends beyond its total length")
    chunk = ChunkRange(start, end)
    # An empty body matches only "n-n": the inclusive form has no empty range, and the
    # registry itself reports an empty upload as "0-0".
    empty_ok = body_length == 0 and chunk.end == chunk.start
    if body_length is not None and chunk.length != body_length and not empty_ok:
        raise RangeInvalid(f"Content-Range {value!r} does not match {body_length} bytes")
    return chunk
