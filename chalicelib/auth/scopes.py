"""Docker token scopes (`repository:<name>:pull,push`) and the action each endpoint needs."""
from __future__ import annotations

from dataclasses import dataclass

PULL, PUSH, DELETE = "pull", "push", "delete"
REPOSITORY_ACTIONS = (PULL, PUSH, DELETE)


@dataclass(frozen=True)
class Scope:
    """One requested or granted access entry."""

    type: str
    name: str
    actions: tuple[str, ...]

    def claim(self) -> dict:
        """The JWT `access` entry."""
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scope(value: str) -> Scope | None:
    """Parse `type[(class)]:name:actions`; the name may itself contain ':' (host:port/x)."""
    parts = value.strip().split(":")
    if len(parts) < 3:
        return None
    rtype = parts[0].split("(")[0]
    name = ":".join(parts[1:-1])
    actions = tuple(a for a in parts[-1].split(",") if a)
    if not rtype or not name:
        return None
    if "*" in actions and rtype == "repository":
        actions = REPOSITORY_ACTIONS
    return Scope(rtype, name, actions)


def parse_scopes(values: list[str]) -> list[Scope]:
    """Every scope from repeated `scope` parameters (each may hold several, space separated)."""
    out: list[Scope] = []
    for v in values:
        for piece in v.split(" "):
            s = parse_scope(piece) if piece else None
            if s:
                out.append(s)
    return out


def challenge(realm: str, service: str, scope: Scope | None = None, error: str | None = None) -> str:
    """The `WWW-Authenticate` value that starts a client's token dance."""
    value = f'Bearer realm="{realm}",service="{service}"'
    if scope is not None:
        value += f',scope="{scope}"'
    if error:
        value += f',error="{error}"'
    return value
