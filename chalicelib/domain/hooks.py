"""What the Registry calls around manifest writes, so an extension (the Helm chart index,
domain/helm.py) keeps its records in step without subclassing the Registry.

A hook contributes writes to a manifest's own transaction (storage/ports.TransactionPart:
they commit with the manifest or nothing does) and may act after a delete commits. The
composition root passes the hooks to the Registry.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Protocol

from ..storage.ports import TransactionPart


class ManifestHook(Protocol):
    def parts(self, repo: str, tag: Optional[str], digest: str, parsed: Any) -> list[TransactionPart]:
        """Writes to commit with the manifest `digest` (of `parsed`) pushed to `repo` (by `tag`)."""
    def before_delete(self, repo: str, reference: str) -> Optional[Callable[[], None]]:
        """Called before a manifest or tag delete; what it returns runs once the delete committed."""
    def tag_removed(self, repo: str, tag: str, digest: Optional[str]) -> None:
        """A tag the tag lifecycle deleted (expiry, retention)."""
