"""Docker image manifest V2, schema 1 (signed and unsigned): not accepted yet."""
from __future__ import annotations

from ..domain.errors import RegistryError
from . import mediatypes as mt
from .base import Parsed, register


@register(mt.DOCKER_V1, mt.DOCKER_V1_SIGNED)
def parse(media_type: str, body: bytes) -> Parsed:
    """Schema 1 push needs JWS verification, which is not built yet."""
    raise RegistryError("UNSUPPORTED", {"reason": "Docker schema 1 manifests are not accepted yet",
                                        "mediaType": media_type})
