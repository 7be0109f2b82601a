"""Docker token scopes (`repository:<name>:pull,push`) and the action each endpoint needs."""
from __future__ import annotations

import re
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


_UNQUOTABLE = re.compile(r'[^\x20-\x7e]|["\\]')


def quoted(value: str) -> str:
    """A header quoted-string: callers pass validated values; anything that could end the
    string or the header (quotes, backslashes, CR/LF, non-ASCII) is dropped as a last guard."""
    return '"' + _UNQUOTABLE.sub("", value) + '"'


def challenge(realm: str, service: str, scopes: "Scope | list[Scope] | None" = None,
              error: str | None = None) -> str:
    """The `WWW-Authenticate` value that starts a client's token dance; several scopes
    go space separated in one `scope` parameter (as distribution does for mounts)."""
    value = f"Bearer realm={quoted(realm)},service={quoted(service)}"
    wanted = [scopes] if isinstance(scopes, Scope) else list(scopes or [])
    if wanted:
        value += f",scope={quoted(' '.join(str(s) for s in wanted))}"
    if error:
        value += f",error={quoted(error)}"
    return value
