"""Accounts use cases: logins, token grants and administration (pure, over ports)."""
from __future__ import annotations

import re
from typing import Optional

from ..auth import passwords
from ..auth.policy import ROLES, Principal, allowed_actions, can_administer, namespace_of
from ..auth.scopes import Scope
from ..storage.ports import AccountRecord, AccountStore
from .errors import RegistryError
from .names import NAME_RE, validate_name

USERNAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
ROBOT_RE = re.compile(r"^([a-z0-9]+(?:[._-][a-z0-9]+)*)\+([a-z0-9]+(?:[._-][a-z0-9]+)*)$")

# Failed logins allowed per window before 429 (per account / per source address).
ACCOUNT_FAILURES = 10
SOURCE_FAILURES = 50
FAILURE_WINDOW = 300
# A filtered catalog page reads at most this many index pages.
CATALOG_SCAN_PAGES = 20


def _principal(rec: AccountRecord) -> Principal:
    return Principal(name=rec.name, admin=rec.admin, robot_namespace=rec.robot_namespace,
                     namespace_roles=dict(rec.namespace_roles),
                     repository_roles=dict(rec.repository_roles))


def _unauthorized(reason: str) -> RegistryError:
    return RegistryError("UNAUTHORIZED", {"reason": reason})


class Accounts:
    """Authentication, authorisation decisions and account administration."""

    def __init__(self, store: AccountStore) -> None:
        self.store = store

    # -- logins -------------------------------------------------------------
    def login(self, username: str, secret: str, source: str) -> Principal:
        """Check a username/password (or robot secret), with brute-force throttling."""
        account_key, source_key = f"user:{username}", f"ip:{source}"
        counts = self.store.failures([account_key, source_key])
        if counts[account_key] >= ACCOUNT_FAILURES or counts[source_key] >= SOURCE_FAILURES:
            raise RegistryError("TOOMANYREQUESTS", {"reason": "too many failed logins; retry later"},
                                headers={"Retry-After": str(FAILURE_WINDOW)})
        rec = self.store.get_account(username) if username else None
        ok = passwords.verify_secret(rec.password_hash if rec else None, secret)
        if not ok or rec is None or rec.revoked:
            self.store.add_failure(account_key, FAILURE_WINDOW)
            self.store.add_failure(source_key, FAILURE_WINDOW)
            raise _unauthorized("invalid username or password")
        return _principal(rec)

    def principal(self, name: str) -> Principal:
        """Reload an account (refresh tokens, catalog filtering); revoked ones fail."""
        if not name:
            return Principal()
        rec = self.store.get_account(name)
        if rec is None or rec.revoked:
            raise _unauthorized("account revoked or removed")
        return _principal(rec)

    def grant(self, p: Principal, requested: list[Scope]) -> list[Scope]:
        """The intersection of what was asked and what `p` may do."""
        repos = [s.name for s in requested if s.type == "repository" and NAME_RE.fullmatch(s.name)]
        public = self.store.public_repos(repos)
        granted: list[Scope] = []
        for s in requested:
            if s.type == "repository" and NAME_RE.fullmatch(s.name):
                allowed = allowed_actions(p, s.name, s.name in public)
                actions = tuple(a for a in s.actions if a in allowed)
            elif s.type == "registry" and s.name == "catalog" and not p.anonymous:
                actions = ("*",) if "*" in s.actions else ()
            else:
                actions = ()
            granted.append(Scope(s.type, s.name, actions))
        return granted

    def catalog(self, p: Principal, n: int, last: Optional[str]) -> tuple[list[str], bool]:
        """Up to `n` repository names after `last` that `p` may pull, and whether more follow."""
        out: list[str] = []
        cursor = last
        for _ in range(CATALOG_SCAN_PAGES):
            page, more = self.store.list_repos_with_visibility(max(n, 100), cursor)
            for name, public in page:
                if "pull" in allowed_actions(p, name, public):
                    out.append(name)
                    if len(out) > n:
                        return out[:n], True
            if not more or not page:
                return out, False
            cursor = page[-1][0]
        return out, True

    # -- administration -----------------------------------------------------
    def _require_admin(self, actor: Principal, namespace: Optional[str] = None) -> None:
        if actor.anonymous:
            raise _unauthorized("authentication required")
        if namespace is None and not actor.admin or namespace is not None and not can_administer(actor, namespace):
            raise RegistryError("DENIED", {"reason": "administrator rights required",
                                           "namespace": namespace})

    def create_user(self, actor: Principal, username: str, password: str, admin: bool = False) -> None:
        """Create a user (global admins only); its own namespace comes with it."""
        self._require_admin(actor)
        if not USERNAME_RE.fullmatch(username or "") or len(username) > 64:
            raise RegistryError("NAME_INVALID", {"reason": "user names are lowercase letters, digits and . _ -"})
        if len(password or "") < 8:
            raise RegistryError("DENIED", {"reason": "passwords need at least 8 characters"}, status=400)
        # A user owns the namespace named after them: never hand them an existing one.
        if self.store.namespace_exists(username):
            raise RegistryError("DENIED", {"reason": "a namespace with this name exists", "user": username},
                                status=409)
        if not self.store.create_account(username, passwords.hash_secret(password), admin=admin):
            raise RegistryError("DENIED", {"reason": "user exists", "user": username}, status=409)
        self.store.create_namespace(username, username)

    def ensure_admin(self, username: str, password: str) -> bool:
        """Create the first administrator if missing (local server start-up)."""
        if self.store.get_account(username) is not None:
            return False
        self.store.create_account(username, passwords.hash_secret(password), admin=True)
        self.store.create_namespace(username, username)
        return True

    def create_first_admin(self, username: str, password: str) -> None:
        """The first administrator of a deployment (`make admin`); refused once one was made."""
        if not USERNAME_RE.fullmatch(username or "") or len(username) > 64:
            raise RegistryError("NAME_INVALID", {"reason": "user names are lowercase letters, digits and . _ -"})
        if len(password or "") < 8:
            raise RegistryError("DENIED", {"reason": "passwords need at least 8 characters"}, status=400)
        existing = self.store.create_first_admin(username, passwords.hash_secret(password))
        if existing is not None:
            raise RegistryError("DENIED", {"reason": f"refused: the {existing} exists", "user": username},
                                status=409)

    def set_password(self, actor: Principal, username: str, password: str) -> None:
        """Change a user's password (the user or a global admin)."""
        if ROBOT_RE.fullmatch(username or ""):
            raise RegistryError("DENIED", {"reason": "robot secrets are only ever generated: rotate instead"})
        if actor.name != username:
            self._require_admin(actor)
        if len(password or "") < 8:
            raise RegistryError("DENIED", {"reason": "passwords need at least 8 characters"}, status=400)
        if not self.store.set_password(username, passwords.hash_secret(password)):
            raise RegistryError("NAME_UNKNOWN", {"user": username})

    def create_namespace(self, actor: Principal, ns: str, owner: Optional[str] = None) -> None:
        """Create an organisation namespace; its owner (default: actor) gets admin."""
        self._require_admin(actor)
        if not USERNAME_RE.fullmatch(ns or ""):
            raise RegistryError("NAME_INVALID", {"reason": "namespace names are lowercase letters, digits and . _ -"})
        if owner and self.store.get_account(owner) is None:
            raise RegistryError("NAME_UNKNOWN", {"reason": "no such owner", "owner": owner})
        if not self.store.create_namespace(ns, owner or actor.name):
            raise RegistryError("DENIED", {"reason": "namespace exists", "namespace": ns}, status=409)
        if owner:
            self.store.put_grant(owner, "NS", ns, "admin")

    def create_robot(self, actor: Principal, ns: str, name: str) -> tuple[str, str]:
        """A robot account `<ns>+<name>` for CI; returns (username, secret) once."""
        self._require_admin(actor, ns)
        username = f"{ns}+{name}"
        if not ROBOT_RE.fullmatch(username):
            raise RegistryError("NAME_INVALID", {"reason": "robot names are lowercase letters, digits and . _ -"})
        secret = passwords.new_secret()
        if not self.store.create_account(username, passwords.hash_secret(secret), robot_namespace=ns):
            raise RegistryError("DENIED", {"reason": "robot exists", "robot": username}, status=409)
        return username, secret

    def _robot_namespace(self, username: str) -> str:
        m = ROBOT_RE.fullmatch(username or "")
        if not m:
            raise RegistryError("NAME_INVALID", {"reason": "not a robot account name", "robot": username})
        return m.group(1)

    def rotate_robot(self, actor: Principal, username: str) -> str:
        """A new secret for a robot; the old one stops working at once."""
        self._require_admin(actor, self._robot_namespace(username))
        secret = passwords.new_secret()
        if not self.store.set_password(username, passwords.hash_secret(secret)):
            raise RegistryError("NAME_UNKNOWN", {"robot": username})
        self.store.set_revoked(username, False)
        return secret

    def revoke_robot(self, actor: Principal, username: str) -> None:
        """Stop a robot from getting tokens (issued tokens expire with their TTL)."""
        self._require_admin(actor, self._robot_namespace(username))
        if not self.store.set_revoked(username, True):
            raise RegistryError("NAME_UNKNOWN", {"robot": username})

    def set_grant(self, actor: Principal, account: str, role: Optional[str], *,
                  namespace: Optional[str] = None, repository: Optional[str] = None) -> None:
        """Grant (role) or revoke (role None) access on a namespace or repository."""
        if (namespace is None) == (repository is None):
            raise RegistryError("UNSUPPORTED", {"reason": "give exactly one of namespace or repository"},
                                status=400)
        if repository is not None:
            validate_name(repository)
        target_ns = namespace or namespace_of(repository)
        self._require_admin(actor, target_ns)
        robot_ns = ROBOT_RE.fullmatch(account or "")
        if robot_ns and robot_ns.group(1) != target_ns and not actor.admin:
            raise RegistryError("DENIED", {"reason": "robots only get roles in their own namespace"})
        kind, target = ("NS", namespace) if namespace is not None else ("REPO", repository)
        if role is None:
            self.store.delete_grant(account, kind, target)
            return
        if role not in ROLES:
            raise RegistryError("UNSUPPORTED", {"reason": f"role must be one of {', '.join(ROLES)}"},
                                status=400)
        if self.store.get_account(account) is None:
            raise RegistryError("NAME_UNKNOWN", {"account": account})
        self.store.put_grant(account, kind, target, role)

    def set_public(self, actor: Principal, repository: str, public: bool) -> None:
        """Make a repository publicly pullable, or private again."""
        validate_name(repository)
        self._require_admin(actor, namespace_of(repository))
        self.store.set_public(repository, public)
