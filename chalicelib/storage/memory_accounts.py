"""In-memory fakes of the AccountStore and HelmIndexStore ports (pure Python, thread-safe).

Each write is one critical section, as each adapter write is one conditional
write or transaction; tests/contract/ holds both to the same behaviour.
"""
from __future__ import annotations

import copy
import time
from typing import Callable, Iterable, Optional

from .helm_ports import ChartEntry, ChartFileTaken, ChartRef
from .memory import MemoryState, _page, _Repo
from .ports import AccountRecord, NamespaceRoster, RosterMember, RosterRobot, TransactionPart


class MemoryAccountStore:
    """AccountStore in dictionaries; pass the metadata fake's state to share repositories."""

    def __init__(self, state: Optional[MemoryState] = None, clock: Callable[[], float] = time.time) -> None:
        self.state = state or MemoryState()
        self._lock = self.state.lock
        self._clock = clock
        self._accounts: dict = {}     # name -> dict of the META item's fields
        self._grants: dict = {}       # name -> {(kind, target): role}
        self._namespaces: dict = {}   # ns -> owner
        self._first_admin = False
        self._attempts: dict = {}     # (key, window start) -> attempts in that window

    def get_account(self, name: str) -> Optional[AccountRecord]:
        with self._lock:
            meta = self._accounts.get(name)
            if meta is None:
                return None
            rec = AccountRecord(name=name, password_hash=meta["password_hash"], admin=meta["admin"],
                                robot_namespace=meta["robot_namespace"], revoked=meta["revoked"],
                                generation=meta["generation"])
            for (kind, target), role in self._grants.get(name, {}).items():
                (rec.namespace_roles if kind == "NS" else rec.repository_roles)[target] = role
            return rec

    def create_account(self, name: str, password_hash: str, admin: bool = False,
                       robot_namespace: Optional[str] = None) -> bool:
        with self._lock:
            if name in self._accounts:
                return False
            self._accounts[name] = {"password_hash": password_hash, "admin": admin,
                                    "robot_namespace": robot_namespace, "revoked": False, "generation": 0,
                                    "created": int(self._clock())}
            return True

    def set_password(self, name: str, password_hash: str, restore: bool = False) -> bool:
        """Replace the secret and bump the credential generation (un-revoke when `restore`)."""
        with self._lock:
            meta = self._accounts.get(name)
            if meta is None:
                return False
            meta["password_hash"] = password_hash
            meta["generation"] += 1
            if restore:
                meta["revoked"] = False
            return True

    def set_revoked(self, name: str, revoked: bool) -> bool:
        with self._lock:
            meta = self._accounts.get(name)
            if meta is None:
                return False
            meta["revoked"] = revoked
            meta["generation"] += 1
            return True

    def put_grant(self, name: str, kind: str, target: str, role: str) -> None:
        with self._lock:
            self._grants.setdefault(name, {})[(kind, target)] = role

    def delete_grant(self, name: str, kind: str, target: str) -> bool:
        with self._lock:
            return self._grants.get(name, {}).pop((kind, target), None) is not None

    def create_namespace(self, ns: str, owner: str) -> bool:
        with self._lock:
            if ns in self._namespaces:
                return False
            self._namespaces[ns] = owner
            return True

    def create_first_admin(self, name: str, password_hash: str) -> Optional[str]:
        """Marker, administrator and namespace together; else what already existed."""
        with self._lock:
            for what, exists in (("administrator", self._first_admin), ("user", name in self._accounts),
                                 ("namespace", name in self._namespaces)):
                if exists:
                    return what
            self._first_admin = True
            self.create_account(name, password_hash, admin=True)
            self._namespaces[name] = name
            return None

    def namespace_exists(self, ns: str) -> bool:
        with self._lock:
            return ns in self._namespaces

    def set_public(self, repo: str, public: bool) -> None:
        with self._lock:
            self.state.repos.setdefault(repo, _Repo()).public = public

    def public_repos(self, repos: list[str]) -> set[str]:
        with self._lock:
            return {r for r in repos if r in self.state.repos and self.state.repos[r].public}

    def list_repos_with_visibility(self, n: int, last: Optional[str]) -> tuple[list[tuple[str, bool]], bool]:
        with self._lock:
            listed = {name: bool(r.public) for name, r in self.state.repos.items() if r.listed}
        names, more = _page(sorted(listed), n, last)
        return [(name, listed[name]) for name in names], more

    def namespace_members(self, ns: str) -> NamespaceRoster:
        """Derived from the grants and robots themselves (the adapter keeps a roster)."""
        with self._lock:
            members = []
            for name, grants in self._grants.items():
                for (kind, target), role in grants.items():
                    if kind == "NS" and target == ns:
                        members.append(RosterMember(name, role, None))
                    elif kind == "REPO" and target.split("/", 1)[0] == ns:
                        members.append(RosterMember(name, role, target))
            members.sort(key=lambda m: (m.account, m.repository or ""))
            robots = [RosterRobot(name, meta["revoked"], meta["created"])
                      for name, meta in sorted(self._accounts.items()) if meta["robot_namespace"] == ns]
            return NamespaceRoster(self._namespaces.get(ns), members, robots)

    # -- login throttling: one counter per key and fixed window (a new window is a new counter) --
    def reserve_attempts(self, limits: dict[str, int], window_start: int, window_end: int) -> Optional[str]:
        """One attempt under each key's limit, all or none; else the first key at its limit."""
        with self._lock:
            for key, limit in limits.items():
                if self._attempts.get((key, window_start), 0) >= limit:
                    return key
            for key in limits:
                self._attempts[(key, window_start)] = self._attempts.get((key, window_start), 0) + 1
            return None

    def release_attempts(self, keys_: list[str], window_start: int) -> None:
        """Give back reserved attempts; all or none, never below zero."""
        with self._lock:
            if all(self._attempts.get((k, window_start), 0) > 0 for k in keys_):
                for k in keys_:
                    self._attempts[(k, window_start)] -= 1


class MemoryHelmIndex:
    """HelmIndexStore in dictionaries: one entry per download file name."""

    def __init__(self, state: Optional[MemoryState] = None) -> None:
        self._lock = (state or MemoryState()).lock
        self._entries: dict = {}   # (namespace, "<name>-<version>") -> ChartEntry
        self._refs: dict = {}      # (namespace, repo, digest) -> ChartRef

    def put_entry(self, entry: ChartEntry) -> None:
        """Replace only the same chart's entry; another chart with the file name: ChartFileTaken."""
        with self._lock:
            if not self._free(entry):
                raise ChartFileTaken()
            self._put(entry)

    def entry_part(self, entry: ChartEntry) -> TransactionPart:
        """put_entry as a (check, apply) pair of the metadata fake's manifest write."""
        return TransactionPart(lambda ops: ops.append((lambda: self._free(entry), lambda: self._put(entry))), 1,
                               f"helm index entry {entry.name}-{entry.version}.tgz of {entry.namespace}")

    def _free(self, entry: ChartEntry) -> bool:
        cur = self._entries.get((entry.namespace, f"{entry.name}-{entry.version}"))
        return cur is None or (cur.name == entry.name and cur.repo == entry.repo)

    def _put(self, entry: ChartEntry) -> None:
        self._entries[(entry.namespace, f"{entry.name}-{entry.version}")] = copy.deepcopy(entry)
        self._refs[(entry.namespace, entry.repo, entry.digest)] = ChartRef(entry.name, entry.version)

    def entries(self, namespace: str) -> Iterable[ChartEntry]:
        with self._lock:
            found = sorted((stem, e) for (ns, stem), e in self._entries.items() if ns == namespace)
            return [copy.deepcopy(e) for _, e in found]

    def find(self, namespace: str, stem: str) -> Optional[ChartEntry]:
        with self._lock:
            return copy.deepcopy(self._entries.get((namespace, stem)))

    def get_ref(self, namespace: str, repo: str, digest: str) -> Optional[ChartRef]:
        with self._lock:
            return copy.copy(self._refs.get((namespace, repo, digest)))

    def remove(self, namespace: str, repo: str, digest: str, ref: ChartRef) -> None:
        """The entry only if it still is this manifest's; the pointer always."""
        stem = f"{ref.name}-{ref.version}"
        with self._lock:
            cur = self._entries.get((namespace, stem))
            if cur is not None and cur.digest == digest and cur.repo == repo:
                del self._entries[(namespace, stem)]
            self._refs.pop((namespace, repo, digest), None)
