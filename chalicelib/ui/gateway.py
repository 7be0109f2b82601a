"""The UI's only access to the wired use cases and adapters (swap for injection later)."""
from __future__ import annotations

from typing import Any, Optional

from .. import bootstrap
from ..auth.policy import Principal


class Gateway:
    """What the UI pages read and do, through the same use cases as the API."""

    def settings(self) -> Any:
        return bootstrap.settings()

    def registry(self) -> Any:
        return bootstrap.registry()

    def accounts(self) -> Any:
        return bootstrap.accounts()

    def tag_admin(self) -> Any:
        return bootstrap.tag_admin()

    def usage(self) -> Any:
        return bootstrap.usage()

    def signer(self) -> Any:
        return bootstrap.token_signer()

    def verifier(self) -> Any:
        return bootstrap.token_verifier()

    def reads(self) -> Any:
        bootstrap.metadata()  # binds the models to the table
        from ..storage.ui_dynamo import DynamoUiReads

        return DynamoUiReads()

    def login(self, username: str, password: str, source: str) -> Principal:
        return self.accounts().login(username, password, source)

    def principal(self, name: str) -> Principal:
        return self.accounts().principal(name)

    def blob_bytes(self, repo: str, digest: str, limit: int) -> Optional[bytes]:
        """A blob of `repo` when it exists and is at most `limit` bytes (else None)."""
        from ..oci.errors import RegistryError

        reg = self.registry()
        try:
            link = reg.stat_blob(repo, digest)
        except RegistryError:
            return None
        if link.size > limit:
            return None
        return reg.blobs.get(link.s3_key)


gateway = Gateway()
