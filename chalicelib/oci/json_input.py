"""The one strict JSON parser for untrusted bytes (request bodies, manifests, plans).

Python's json accepts what other parsers read differently, and that gap is where
a body checked here can mean something else to a client or a later reader:
NaN/Infinity (not JSON), duplicate keys (which one wins?), integral floats such as
1.0 where a count or size is meant (schemas take them for integers, AWS SDKs do not),
and nesting deep enough to exhaust the recursion of later code. Every refusal is a
ValueError saying why; callers turn it into their OCI error (400).
"""
from __future__ import annotations

import json
from typing import Any, Union

# Deeper JSON is refused: no manifest, config or API body needs it, and Python's
# recursive decoders, encoders and comparisons would hit the recursion limit.
MAX_DEPTH = 64


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique(pairs: list[tuple[str, Any]]) -> dict:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {dup[:64]!r}")
    return doc


class Fractional(float):
    """A number written with a fraction or exponent. JSON Schema validators (fastjsonschema)
    take 1.0 for an "integer" when `float.is_integer()` says so; this one says no, so a
    count or size must be written as an integer, while "number" fields still take it."""

    def is_integer(self) -> bool:
        return False


def _no_float(text: str) -> Any:
    raise ValueError(f"{text[:32]} is not an integer (no fraction or exponent here)")


def loads(data: Union[bytes, str], *, floats: bool = True) -> Any:
    """`data` decoded as strict JSON: no NaN/Infinity, no duplicate keys, at most
    MAX_DEPTH deep; with `floats=False`, every number must be written as an integer;
    with floats, those written with a fraction or exponent are `Fractional`.

    Bytes must be UTF-8 without a byte order mark (RFC 8259 8.1): Python's json would
    also take a BOM, UTF-16 or UTF-32, which Go's encoding/json (every container client)
    refuses, so a manifest accepted here could be pulled by none.

    Every failure (syntax, encoding, the rules above) is a ValueError."""
    if isinstance(data, (bytes, bytearray)):
        if data.startswith(b"\xef\xbb\xbf"):
            raise ValueError("a byte order mark before the JSON (UTF-8 without one is required)")
        data = bytes(data).decode("utf-8")   # UnicodeDecodeError is a ValueError: not UTF-8
    try:
        doc = json.loads(data, parse_constant=_refuse_constant, object_pairs_hook=_unique,
                         parse_float=Fractional if floats else _no_float)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return doc  # too few brackets to nest that deep (most documents): skip the walk
    stack = [(doc, 1)]
    while stack:  # iterative: the check itself must not recurse
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > MAX_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return doc
