"""The Docker V1 pull protocol, read-only, synthesised from V2 images.

A tag's image is converted to an (unsigned) schema 1 manifest, whose history
carries the V1 image ids and parents; each id is recorded with its layer so
`/v1/images/<id>/...` can be answered without the repository in the path.
"""
from __future__ import annotations

import json
import re
from typing import Callable, Optional

from ..oci import mediatypes as mt
from ..oci.errors import RegistryError
from .registry import Registry

_V1_ID = re.compile(r"[0-9a-f]{64}")
# Tags one V1 tag listing converts (the API has no paging; each costs a manifest read, a
# conversion and a write): the first ones in tag order, so one anonymous GET stays bounded.
V1_TAGS_MAX = 100
# Accept set that makes the registry serve (and keep) a schema 1 manifest.
SCHEMA1 = [mt.DOCKER_V1, f"{mt.DOCKER_V1_SIGNED};q=0.5"]


class V1Pull:
    """Use cases of the V1 endpoints over the V2 registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.meta = registry.meta

    def _images(self, repo: str, tag: str) -> list[tuple]:
        """(id, layer digest, size, v1 json, ancestry) for a tag, top image first."""
        m = self.registry.get_manifest(repo, tag, accept=SCHEMA1)
        if m.body is None:  # a stored manifest without bytes (inline or in S3) cannot be served
            raise RegistryError("MANIFEST_UNKNOWN", {"name": repo, "reference": tag, "reason": "no bytes"})
        doc = json.loads(m.body)
        entries = [json.loads(h["v1Compatibility"]) for h in doc["history"]]
        ids = [e["id"] for e in entries]
        images = []
        for i, (fs, raw, entry) in enumerate(zip(doc["fsLayers"], doc["history"], entries)):
            link = self.meta.get_blob_link(repo, fs["blobSum"])
            images.append((entry["id"], fs["blobSum"], link.size if link else 0, raw["v1Compatibility"], ids[i:]))
        return images

    def tags(self, repo: str) -> dict[str, str]:
        """The first V1_TAGS_MAX tags with their top V1 image ids (and the images recorded
        for later lookups); any tag is still served by tag()."""
        out: dict[str, str] = {}
        last: Optional[str] = None
        examined = 0
        while examined < V1_TAGS_MAX:
            page = self.registry.list_tags(repo, V1_TAGS_MAX - examined, last)
            examined += len(page.items)
            for tag in page.items:
                try:
                    images = self._images(repo, tag)
                except RegistryError:
                    continue  # artifacts and such have no V1 form
                self.meta.put_v1_images(repo, images)
                out[tag] = images[0][0]
            if not page.more or not page.items:
                return out
            last = page.items[-1]
        return out

    def tag(self, repo: str, tag: str) -> str:
        """The top V1 image id of one tag."""
        images = self._images(repo, tag)
        self.meta.put_v1_images(repo, images)
        return images[0][0]

    def image(self, image_id: str, can_read: Callable[[str], bool]) -> tuple:
        """(repo, layer, size, json, ancestry) of an image the caller may read."""
        if not _V1_ID.fullmatch(image_id):  # ids are 64 hex: anything else is no storage key
            raise RegistryError("BLOB_UNKNOWN", {"image": image_id[:80], "reason": "image unknown"})
        for entry in self.meta.get_v1_image(image_id):
            if can_read(entry[0]):
                return entry
        raise RegistryError("BLOB_UNKNOWN", {"image": image_id, "reason": "image unknown"})
