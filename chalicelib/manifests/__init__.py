"""Pure manifest handling: one module per format, chosen by media type.

`parse(media_type, body)` validates the exact bytes it is given and returns a
`Parsed` view (references, subject, artifact type); the bytes are never
re-serialised.
"""
from __future__ import annotations

from .base import Parsed, loads, parse

__all__ = ["Parsed", "loads", "parse"]
