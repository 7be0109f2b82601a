"""Who may do what: roles at namespace and repository level, public repositories."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .scopes import DELETE, PULL, PUSH

ROLE_ACTIONS = {"read": {PULL}, "write": {PULL, PUSH}, "admin": {PULL, PUSH, DELETE}}
ROLES = tuple(ROLE_ACTIONS)


@dataclass
class Principal:
    """An authenticated caller (or the anonymous one)."""

    name: str = ""                       # "" for anonymous
    admin: bool = False                  # global registry administrator
    robot_namespace: Optional[str] = None
    generation: int = 0                  # the account's credential generation (refresh tokens)
    namespace_roles: dict = field(default_factory=dict)    # ns -> role
    repository_roles: dict = field(default_factory=dict)   # repo -> role

    @property
    def anonymous(self) -> bool:
        return not self.name


def namespace_of(repo: str) -> str:
    """The first path component owns a repository."""
    return repo.split("/", 1)[0]


def allowed_actions(p: Principal, repo: str, public: bool) -> set[str]:
    """Every action `p` may take on `repo`."""
    if p.admin:
        return {PULL, PUSH, DELETE}
    actions: set[str] = {PULL} if public else set()
    if p.anonymous:
        return actions
    ns = namespace_of(repo)
    if p.robot_namespace is None and ns == p.name:
        actions |= ROLE_ACTIONS["admin"]  # a user owns the namespace named after them
    for role in (p.namespace_roles.get(ns), p.repository_roles.get(repo)):
        if role:
            actions |= ROLE_ACTIONS[role]
    return actions


def can_administer(p: Principal, namespace: str) -> bool:
    """Global admins, and namespace admins (or the user owning it) manage a namespace."""
    if p.admin:
        return True
    if p.anonymous or p.robot_namespace is not None:
        return False
    return namespace == p.name or p.namespace_roles.get(namespace) == "admin"
