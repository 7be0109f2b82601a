"""Basic-credential access for clients that do not do the token dance
(the Docker V1 protocol and the classic Helm chart repository)."""
from __future__ import annotations

from typing import Any, Callable

from .inject import services
from ..auth.policy import Principal, allowed_actions
from ..domain.accounts import is_repository_name
from ..oci.errors import RegistryError
from .auth import basic_credentials, source_ip


def principal(request: Any) -> Principal:
    """The caller from Basic credentials, or the anonymous principal."""
    creds = basic_credentials(request)
    if not creds:
        return Principal()
    return services().accounts().login(creds[0], creds[1], source_ip(request))


def checker(request: Any, action: str) -> Callable[[str], bool]:
    """A predicate: may the caller take `action` on a repository?"""
    if services().settings.auth_mode == "none":
        return lambda repo: True
    p = principal(request)
    store = services().accounts().store

    def can(repo: str) -> bool:
        if not is_repository_name(repo):  # never a key read for a malformed name
            return False
        return action in allowed_actions(p, repo, repo in store.public_repos([repo]))
    can.anonymous = p.anonymous  # type: ignore[attr-defined]
    return can


def require(request: Any, repo: str, action: str) -> None:
    """Raise 401 (anonymous) or 403 unless the caller may take `action` on `repo`."""
    can = checker(request, action)
    if can(repo):
        return
    if getattr(can, "anonymous", False):
        raise RegistryError("UNAUTHORIZED", {"reason": "authentication required"},
                            headers={"WWW-Authenticate": 'Basic realm="registry"'})
    raise RegistryError("DENIED", {"reason": f"{action} on {repo} is not permitted"})
