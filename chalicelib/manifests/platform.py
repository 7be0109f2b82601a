"""The child of an image index or Docker manifest list that a platform runs, for clients
that take no list (a pull by tag that accepts only single-image manifests)."""
from __future__ import annotations

import re
from typing import Any, Optional

from ..oci import mediatypes as mt
from .convert import is_attestation

_IMAGE_MANIFESTS = frozenset({mt.OCI_MANIFEST, mt.DOCKER_V2, mt.DOCKER_V1, mt.DOCKER_V1_SIGNED})
_ARCH_ALIASES = {"x86_64": ("amd64", None), "x86-64": ("amd64", None), "i386": ("386", None),
                 "aarch64": ("arm64", None), "armhf": ("arm", "v7"), "armel": ("arm", "v6")}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7", "amd64": "v1"}


def _normalise(os_name: Any, arch: Any, variant: Any) -> tuple[str, str, str]:
    """containerd-style normalisation; the variant is filled with the arch default."""
    os_name = str(os_name or "").lower()
    arch = str(arch or "").lower()
    variant = str(variant or "").lower()
    if os_name == "macos":
        os_name = "darwin"
    arch, implied = _ARCH_ALIASES.get(arch, (arch, None))
    variant = variant or implied or ""
    if arch in _DEFAULT_VARIANT and variant.isdigit():
        variant = "v" + variant
    return os_name, arch, variant or _DEFAULT_VARIANT.get(arch, "")


def _variant_order(arch: str, variant: str) -> list[str]:
    """Variants a machine of `arch`/`variant` runs, best first (v7 -> v6 -> v5 ...)."""
    m = re.fullmatch(r"v(\d+)", variant)
    if arch == "arm" and m:
        return [f"v{n}" for n in range(int(m.group(1)), 4, -1)] or [variant]
    if arch == "amd64" and m:
        return [f"v{n}" for n in range(int(m.group(1)), 0, -1)] or [variant]
    if arch == "arm64" and variant != "v8":
        return [variant, "v8"]
    return [variant]


def select_platform(index_doc: dict, os: str = "linux", arch: str = "amd64",
                    variant: Optional[str] = None) -> Optional[dict]:
    """The best child descriptor of an index/list for a platform, or None.

    Attestations, entries without a platform or with an `unknown` one, and
    children that are not image manifests are skipped. Variants fall back
    (arm v7 -> v6 -> v5, amd64 v3 -> v2 -> v1); an entry that names no
    variant matches as a last resort. Ties go to the first entry.
    """
    want_os, want_arch, want_variant = _normalise(os, arch, variant)
    order = _variant_order(want_arch, want_variant)
    best: Optional[tuple[int, int, dict]] = None
    for position, entry in enumerate(index_doc.get("manifests") or []):
        if not isinstance(entry, dict) or is_attestation(entry) or entry.get("mediaType") not in _IMAGE_MANIFESTS:
            continue
        platform = entry.get("platform")
        if not isinstance(platform, dict) or "unknown" in (platform.get("os"), platform.get("architecture")):
            continue
        got_os, got_arch, got_variant = _normalise(platform.get("os"), platform.get("architecture"),
                                                   platform.get("variant"))
        if (got_os, got_arch) != (want_os, want_arch):
            continue
        if got_variant in order:
            rank = order.index(got_variant)
        elif not platform.get("variant"):
            rank = len(order)
        else:
            continue
        if best is None or (rank, position) < best[:2]:
            best = (rank, position, entry)
    return best[2] if best else None
