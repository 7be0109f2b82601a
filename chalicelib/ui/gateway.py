"""The UI's only access to the wired use cases and adapters: the container being served
(http/inject.py), through the same use cases as the API."""
from __future__ import annotations

from typing import Any, Optional

from ..http.inject import services
from ..auth.policy import Principal
from ..auth.tokens import Signer, Verifier
from ..config import Settings
from ..domain.accounts import Accounts
from ..domain.metering import Usage
from ..domain.quotas import Quotas
from ..domain.registry import Registry
from ..domain.tag_admin import TagAdmin


class Gateway:
    """What the UI pages read and do, through the same use cases as the API."""

    def settings(self) -> Settings:
        return services().settings

    def registry(self) -> Registry:
        return services().registry()

    def accounts(self) -> Accounts:
        return services().accounts()

    def tag_admin(self) -> TagAdmin:
        return services().tag_admin()

    def usage(self) -> Usage:
        return services().usage()

    def quotas(self) -> Quotas:
        return services().quotas()

    def signer(self) -> Signer:
        return services().token_signer()

    def verifier(self) -> Verifier:
        return services().token_verifier()

    def reads(self) -> Any:
        return services().ui_reads()

    def login(self, username: str, password: str, source: str) -> Principal:
        return self.accounts().login(username, password, source)

    def session_principal(self, name: str, generation: int) -> Principal:
        """The account behind a UI session, if its credentials did not change since the
        login (the refresh tokens' rule: Accounts.refreshed); else RegistryError."""
        return self.accounts().refreshed(name, generation)

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
