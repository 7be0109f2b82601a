"""The AccountStore port: users, robots, grants, namespaces, visibility, login throttling
(re-exported by ports.py, where the other ports are)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol


@dataclass
class AccountRecord:
    """A user or robot with its roles, as one Query returns them."""

    name: str
    password_hash: Optional[str] = None
    admin: bool = False
    robot_namespace: Optional[str] = None
    revoked: bool = False
    generation: int = 0
    namespace_roles: dict = field(default_factory=dict)
    repository_roles: dict = field(default_factory=dict)


@dataclass
class RosterMember:
    """A role held in a namespace: on the namespace itself (`repository` None) or on one
    of its repositories."""

    account: str
    role: str
    repository: Optional[str] = None


@dataclass
class RosterRobot:
    name: str                 # <ns>+<short name>
    revoked: bool = False
    created: Optional[int] = None


@dataclass
class NamespaceRoster:
    """Who holds roles in a namespace and its robots, as one Query of the namespace returns
    them (kept beside each grant and robot, in the same transaction)."""

    owner: Optional[str] = None
    members: list = field(default_factory=list)   # RosterMember, by account then repository
    robots: list = field(default_factory=list)    # RosterRobot, by name


class AccountStore(Protocol):
    """Users, robots, grants, namespaces, visibility and login throttling."""

    def get_account(self, name: str) -> Optional[AccountRecord]: ...
    def create_account(self, name: str, password_hash: str, admin: bool = False,
                       robot_namespace: Optional[str] = None) -> bool: ...
    def set_password(self, name: str, password_hash: str, restore: bool = False) -> bool: ...
    def set_revoked(self, name: str, revoked: bool) -> bool: ...
    def put_grant(self, name: str, kind: str, target: str, role: str) -> None: ...
    def delete_grant(self, name: str, kind: str, target: str) -> bool: ...
    def create_namespace(self, ns: str, owner: str) -> bool: ...
    def create_first_admin(self, name: str, password_hash: str) -> Optional[str]: ...
    def namespace_exists(self, ns: str) -> bool: ...
    def set_public(self, repo: str, public: bool) -> None: ...
    def public_repos(self, repos: list[str]) -> set[str]: ...
    def list_repos_with_visibility(self, n: int, last: Optional[str]) -> tuple[list[tuple[str, bool]], bool]: ...
    def reserve_attempts(self, limits: dict[str, int], window_start: int, window_end: int) -> Optional[str]: ...
    def release_attempts(self, keys: list[str], window_start: int) -> None: ...
    def namespace_members(self, ns: str) -> NamespaceRoster: ...
