"""Accounts use cases: logins, token grants and administration (pure, over ports)."""
from __future__ import annotations

import ipaddress
import re
import time
from typing import Any, Optional

from ..auth import passwords
from ..auth.policy import ROLES, Principal, allowed_actions, can_administer, namespace_of
from ..auth.scopes import Scope
from ..oci.errors import RegistryError
from ..oci.names import MAX_NAME_LENGTH, NAME_RE, listing_after, validate_name
from ..storage.ports import AccountRecord, AccountStore, NamespaceRoster

# Account names become DynamoDB keys (capped at 2048 bytes): grammar and length are
# checked (fullmatch) before any read or write.
_PART = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
USERNAME_RE = re.compile(_PART)
ROBOT_RE = re.compile(rf"({_PART})\+({_PART})")
MAX_ACCOUNT_PART = 64           # user, namespace created by an admin, robot short name
MAX_SECRET = 1024               # longer passwords are refused at creation, so never match

# Login attempts reserved per fixed window before 429 (per account / per source address).
ACCOUNT_FAILURES = 10
SOURCE_FAILURES = 50
FAILURE_WINDOW = 300
# A filtered catalog page reads at most this many index pages.
CATALOG_SCAN_PAGES = 20


def is_user_name(name: Any) -> bool:
    return isinstance(name, str) and len(name) <= MAX_ACCOUNT_PART and bool(USERNAME_RE.fullmatch(name))


def robot_parts(name: Any) -> Optional[tuple[str, str]]:
    """(namespace, short name) of a well-formed robot account name, else None."""
    m = ROBOT_RE.fullmatch(name) if isinstance(name, str) and len(name) <= 2 * MAX_ACCOUNT_PART + 1 else None
    if not m or len(m.group(1)) > MAX_ACCOUNT_PART or len(m.group(2)) > MAX_ACCOUNT_PART:
        return None
    return m.group(1), m.group(2)


def is_account_name(name: Any) -> bool:
    return is_user_name(name) or robot_parts(name) is not None


def is_repository_name(name: Any) -> bool:
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME_LENGTH and bool(NAME_RE.fullmatch(name))


def source_key(source: str) -> str:
    """The throttle key of a caller's address: a parsed IP, never arbitrary text."""
    try:
        return f"ip:{ipaddress.ip_address(source)}"
    except ValueError:
        return "ip:unknown"


def _principal(rec: AccountRecord) -> Principal:
    return Principal(name=rec.name, admin=rec.admin, robot_namespace=rec.robot_namespace,
                     generation=rec.generation, namespace_roles=dict(rec.namespace_roles),
                     repository_roles=dict(rec.repository_roles))


def _unauthorized(reason: str) -> RegistryError:
    return RegistryError("UNAUTHORIZED", {"reason": reason})


def _account_invalid(field: str, value: Any) -> RegistryError:
    shown = value[:80] if isinstance(value, str) else value
    return RegistryError("NAME_INVALID", {field: shown, "reason": "account names are lowercase letters, digits "
                                          "and . _ - (robots: <namespace>+<name>), at most 64 characters each"})


class Accounts:
    """Authentication, authorisation decisions and account administration."""

    def __init__(self, store: AccountStore) -> None:
        self.store = store

    # -- logins -------------------------------------------------------------
    def login(self, username: str, secret: str, source: str) -> Principal:
        """Check a username/password (or robot secret), with brute-force throttling.

        An attempt is reserved (one conditional increment per key, all or none)
        before the password is checked, so parallel guesses cannot exceed the
        limit. A failed attempt keeps its reservation (it is the failure count);
        a successful one gives it back, so successes never lock anyone out.
        """
        if not is_account_name(username) or not isinstance(secret, str) or len(secret) > MAX_SECRET:
            raise _unauthorized("invalid username or password")  # never a key, never a hash
        now = int(time.time())
        start = now - now % FAILURE_WINDOW
        account_key, addr_key = f"user:{username}", source_key(source)
        full = self.store.reserve_attempts({account_key: ACCOUNT_FAILURES, addr_key: SOURCE_FAILURES},
                                           start, start + FAILURE_WINDOW)
        if full is not None:
            raise RegistryError("TOOMANYREQUESTS", {"reason": "too many failed logins; retry later"},
                                headers={"Retry-After": str(max(1, start + FAILURE_WINDOW - now))})
        try:
            rec = self.store.get_account(username)
            ok = passwords.verify_secret(rec.password_hash if rec else None, secret)
        except Exception:
            self.store.release_attempts([account_key, addr_key], start)
            raise
        if not ok or rec is None or rec.revoked:
            raise _unauthorized("invalid username or password")
        self.store.release_attempts([account_key, addr_key], start)
        return _principal(rec)

    def principal(self, name: str) -> Principal:
        """Reload an account (catalog filtering); revoked ones fail."""
        if not name:
            return Principal()
        rec = self.store.get_account(name) if is_account_name(name) else None
        if rec is None or rec.revoked:
            raise _unauthorized("account revoked or removed")
        return _principal(rec)

    def refreshed(self, name: Any, generation: Any) -> Principal:
        """The account behind a refresh token, if its credentials did not change since.

        Rotating, revoking (or un-revoking) and changing a password bump the
        account's generation, so every refresh token issued before is refused.
        """
        if not isinstance(name, str) or not name or not isinstance(generation, int) or isinstance(generation, bool):
            raise _unauthorized("invalid refresh token")
        p = self.principal(name)
        if p.generation != generation:
            raise _unauthorized("refresh token no longer valid: the account's credentials changed")
        return p

    def grant(self, p: Principal, requested: list[Scope]) -> list[Scope]:
        """The intersection of what was asked and what `p` may do."""
        repos = [s.name for s in requested if s.type == "repository" and is_repository_name(s.name)]
        # a global admin may do everything: no need to read visibility
        public = set() if p.admin else self.store.public_repos(repos)
        granted: list[Scope] = []
        for s in requested:
            if s.type == "repository" and is_repository_name(s.name):
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
        cursor = listing_after(last, MAX_NAME_LENGTH)
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
        if not is_user_name(username):
            raise _account_invalid("user", username)
        _check_password(password)
        # A user owns the namespace named after them: never hand them an existing one.
        if self.store.namespace_exists(username):
            raise RegistryError("DENIED", {"reason": "a namespace with this name exists", "user": username},
                                status=409)
        if not self.store.create_account(username, passwords.hash_secret(password), admin=admin):
            raise RegistryError("DENIED", {"reason": "user exists", "user": username}, status=409)
        self.store.create_namespace(username, username)

    def ensure_admin(self, username: str, password: str) -> bool:
        """Create the first administrator if missing (local server start-up)."""
        if not is_user_name(username):
            raise _account_invalid("user", username)
        if self.store.get_account(username) is not None:
            return False
        if not self.store.create_account(username, passwords.hash_secret(password), admin=True):
            return False  # a process starting at the same moment made it (with its own password)
        self.store.create_namespace(username, username)
        return True

    def create_first_admin(self, username: str, password: str) -> None:
        """The first administrator of a deployment (`make admin`); refused once one was made."""
        if not is_user_name(username):
            raise _account_invalid("user", username)
        _check_password(password)
        existing = self.store.create_first_admin(username, passwords.hash_secret(password))
        if existing is not None:
            raise RegistryError("DENIED", {"reason": f"refused: the {existing} exists", "user": username},
                                status=409)

    def set_password(self, actor: Principal, username: str, password: str) -> None:
        """Change a user's password (the user or a global admin); outstanding refresh
        tokens of the user stop working (the generation moves in the same write)."""
        if robot_parts(username):
            raise RegistryError("DENIED", {"reason": "robot secrets are only ever generated: rotate instead"})
        if not is_user_name(username):
            raise _account_invalid("user", username)
        if actor.name != username:
            self._require_admin(actor)
        _check_password(password)
        if not self.store.set_password(username, passwords.hash_secret(password)):
            raise RegistryError("NAME_UNKNOWN", {"user": username})

    def create_namespace(self, actor: Principal, ns: str, owner: Optional[str] = None) -> None:
        """Create an organisation namespace; its owner (default: actor) gets admin."""
        self._require_admin(actor)
        if not is_user_name(ns):
            raise RegistryError("NAME_INVALID", {"reason": "namespace names are lowercase letters, digits "
                                                 "and . _ -, at most 64 characters"})
        if owner is not None and not is_account_name(owner):
            raise _account_invalid("owner", owner)
        if owner and self.store.get_account(owner) is None:
            raise RegistryError("NAME_UNKNOWN", {"reason": "no such owner", "owner": owner})
        if not self.store.create_namespace(ns, owner or actor.name):
            raise RegistryError("DENIED", {"reason": "namespace exists", "namespace": ns}, status=409)
        if owner:
            self.store.put_grant(owner, "NS", ns, "admin")

    def create_robot(self, actor: Principal, ns: str, name: str) -> tuple[str, str]:
        """A robot account `<ns>+<name>` for CI; returns (username, secret) once."""
        username = f"{ns}+{name}"
        if robot_parts(username) != (ns, name):
            raise RegistryError("NAME_INVALID", {"reason": "robot names are lowercase letters, digits and . _ -, "
                                                 "at most 64 characters"})
        self._require_admin(actor, ns)
        secret = passwords.new_secret()
        if not self.store.create_account(username, passwords.hash_secret(secret), robot_namespace=ns):
            raise RegistryError("DENIED", {"reason": "robot exists", "robot": username}, status=409)
        return username, secret

    def _robot_namespace(self, username: str) -> str:
        parts = robot_parts(username)
        if not parts:
            raise _account_invalid("robot", username)
        return parts[0]

    def rotate_robot(self, actor: Principal, username: str) -> str:
        """A new secret for a robot (restoring a revoked one); the old secret and every
        refresh token issued before stop working at once (one write)."""
        self._require_admin(actor, self._robot_namespace(username))
        secret = passwords.new_secret()
        if not self.store.set_password(username, passwords.hash_secret(secret), restore=True):
            raise RegistryError("NAME_UNKNOWN", {"robot": username})
        return secret

    def revoke_robot(self, actor: Principal, username: str) -> None:
        """Stop a robot from getting tokens (issued access tokens expire with their TTL)."""
        self._require_admin(actor, self._robot_namespace(username))
        if not self.store.set_revoked(username, True):
            raise RegistryError("NAME_UNKNOWN", {"robot": username})

    def restore_robot(self, actor: Principal, username: str) -> None:
        """Let a revoked robot get tokens again with the secret it had."""
        self._require_admin(actor, self._robot_namespace(username))
        if not self.store.set_revoked(username, False):
            raise RegistryError("NAME_UNKNOWN", {"robot": username})

    def namespace_members(self, actor: Principal, ns: str) -> NamespaceRoster:
        """Who holds roles in `ns` and its robots (namespace admins; one Query)."""
        if not is_user_name(ns):
            raise RegistryError("NAME_INVALID", {"reason": "a namespace is one repository name component"})
        self._require_admin(actor, ns)
        return self.store.namespace_members(ns)

    def set_grant(self, actor: Principal, account: str, role: Optional[str], *,
                  namespace: Optional[str] = None, repository: Optional[str] = None) -> None:
        """Grant (role) or revoke (role None) access on a namespace or repository."""
        if (namespace is None) == (repository is None):
            raise RegistryError("UNSUPPORTED", {"reason": "give exactly one of namespace or repository"},
                                status=400)
        if repository is not None:
            _check_repository(repository)
        elif not is_repository_name(namespace) or "/" in (namespace or ""):
            raise RegistryError("NAME_INVALID", {"reason": "a namespace is one repository name component"})
        if not is_account_name(account):
            raise _account_invalid("account", account)
        target_ns = namespace or namespace_of(repository or "")
        self._require_admin(actor, target_ns)
        robot = robot_parts(account)
        if robot and robot[0] != target_ns and not actor.admin:
            raise RegistryError("DENIED", {"reason": "robots only get roles in their own namespace"})
        kind, target = ("NS", namespace) if namespace is not None else ("REPO", repository)
        assert target is not None
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
        _check_repository(repository)
        self._require_admin(actor, namespace_of(repository))
        self.store.set_public(repository, public)


def _check_repository(name: Any) -> None:
    if not is_repository_name(name):
        validate_name(name if isinstance(name, str) else "")  # its error, with the grammar
        raise RegistryError("NAME_INVALID", {"name": name[:80], "reason": "not a repository name"})


def _check_password(password: Any) -> None:
    if not isinstance(password, str) or not 8 <= len(password) <= MAX_SECRET:
        raise RegistryError("DENIED", {"reason": f"passwords need at least 8 characters (at most {MAX_SECRET})"},
                            status=400)
