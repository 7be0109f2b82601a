"""Content negotiation for manifest pulls by tag: which media type to serve.

The stored type wins whenever the client accepts it (or sends no Accept), so
conversion happens only for clients that cannot take what is stored. Lists
and indexes can also be answered with one platform child, which the caller
picks (`CHILD`). Pure: strings in, strings out.
"""
from __future__ import annotations

import math
from typing import Optional

from ..oci import mediatypes as mt

CHILD = "child"  # serve the platform child of an index/list (the caller selects it)

# What each stored type can be turned into, most faithful first.
CONVERSIONS: dict[str, tuple[str, ...]] = {
    mt.OCI_MANIFEST: (mt.DOCKER_V2, mt.DOCKER_V1_SIGNED, mt.DOCKER_V1),
    mt.DOCKER_V2: (mt.OCI_MANIFEST, mt.DOCKER_V1_SIGNED, mt.DOCKER_V1),
    mt.OCI_INDEX: (mt.DOCKER_LIST, CHILD),
    mt.DOCKER_LIST: (mt.OCI_INDEX, CHILD),
    mt.DOCKER_V1_SIGNED: (mt.DOCKER_V1,),
    mt.DOCKER_V1: (mt.DOCKER_V1_SIGNED,),
}
SINGLE_MANIFESTS = (mt.OCI_MANIFEST, mt.DOCKER_V2, mt.DOCKER_V1_SIGNED, mt.DOCKER_V1)

Accept = list[tuple[str, float]]


def _qvalue(text: str) -> float:
    try:
        q = float(text)
    except ValueError:
        return 1.0
    return min(max(q, 0.0), 1.0) if math.isfinite(q) else 1.0


def parse_accept(values: list[str]) -> Accept:
    """Media ranges and q-values from Accept headers (several, comma lists), in order.

    Parameters other than q are ignored; a bare `*` is read as `*/*`.
    """
    ranges: Accept = []
    for value in values:
        for item in (value or "").split(","):
            parts = [p.strip() for p in item.split(";")]
            media_range = parts[0].lower()
            if media_range == "*":
                media_range = "*/*"
            if media_range.count("/") != 1:
                continue
            q = 1.0
            for param in parts[1:]:
                name, _, val = param.partition("=")
                if name.strip().lower() == "q":
                    q = _qvalue(val.strip())
            ranges.append((media_range, q))
    return ranges


def quality(media_type: str, accept: Accept) -> float:
    """q of `media_type` under the most specific matching range (0 when none matches)."""
    best: tuple[int, float] = (-1, 0.0)
    major = media_type.split("/", 1)[0] + "/*"
    for media_range, q in accept:
        specificity = 2 if media_range == media_type else 1 if media_range == major else \
            0 if media_range == "*/*" else -1
        if specificity >= 0 and (specificity, q) > best:
            best = (specificity, q)
    return best[1]


def _child_quality(accept: Accept) -> float:
    return max(quality(m, accept) for m in SINGLE_MANIFESTS)


def candidates(stored_media_type: str, accept: Accept) -> list[str]:
    """Acceptable answers, best first: the stored type alone, else conversions by q.

    Equal q-values keep CONVERSIONS order. A caller tries them in turn, since
    a conversion can turn out impossible (an artifact, no signing key).
    """
    if not accept or quality(stored_media_type, accept) > 0:
        return [stored_media_type]  # serving the stored bytes never fails
    scored = []
    for rank, target in enumerate(CONVERSIONS.get(stored_media_type, ())):
        q = _child_quality(accept) if target == CHILD else quality(target, accept)
        if q > 0:
            scored.append((-q, rank, target))
    return [target for _, _, target in sorted(scored)]


def choose(stored_media_type: str, accept: Accept) -> Optional[str]:
    """The best media type to serve (the stored one if acceptable), CHILD, or None."""
    found = candidates(stored_media_type, accept)
    return found[0] if found else None
