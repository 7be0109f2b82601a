"""DynamoDB adapter of the AccountStore port (same table, see keys.py)."""
from __future__ import annotations

import logging
import time
from typing import Any, Optional

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from . import keys
from .dynamo import (AccountItem, Item, NamespaceItem, RepoItem, ThrottleItem, _connection, _reasons, catalog_page,
                     conditional)
from .ports import AccountRecord, NamespaceRoster, RosterMember, RosterRobot

log = logging.getLogger(__name__)
_CONFLICT_RETRIES = 4


class RosterItem(Item):
    """NS#<ns>/MEMBER#... and NS#<ns>/ROBOT#...: the namespace's roster (keys.py)."""

    account = UnicodeAttribute(null=True)
    role = UnicodeAttribute(null=True)
    repository = UnicodeAttribute(null=True)
    revoked = BooleanAttribute(null=True)
    created = NumberAttribute(null=True)
    owner = UnicodeAttribute(null=True)  # on the namespace's META item (NamespaceItem)


def _grant_ns(kind: str, target: str) -> tuple[str, Optional[str]]:
    """(namespace, repository or None) of a grant's target."""
    return (target, None) if kind == "NS" else (target.split("/", 1)[0], target)


def _robot_ns(name: str) -> Optional[str]:
    return name.split("+", 1)[0] if "+" in name else None


def _transact(build: Any) -> bool:
    """Run one transaction built by `build(t)`; False when its first item's condition failed."""
    try:
        with TransactWrite(connection=_connection()) as t:
            build(t)
        return True
    except TransactWriteError as err:
        if _reasons(err)[:1] == ["ConditionalCheckFailed"]:
            return False
        raise


class DynamoAccountStore:
    """Accounts on the registry's single table."""

    def get_account(self, name: str) -> Optional[AccountRecord]:
        """The account and all its grants in one Query."""
        rec: Optional[AccountRecord] = None
        grants = []
        for it in AccountItem.query(keys.user_pk(name), consistent_read=True):
            if it.sk == keys.META_SK:
                rec = AccountRecord(name=name, password_hash=it.password_hash, admin=bool(it.admin),
                                    robot_namespace=it.robot_namespace, revoked=bool(it.revoked),
                                    generation=int(it.generation or 0))
            elif it.sk.startswith(keys.GRANT_PREFIX) and it.role:
                grants.append((it.sk[len(keys.GRANT_PREFIX):], it.role))
        if rec is None:
            return None
        for target, role in grants:
            kind, _, name_ = target.partition("#")
            (rec.namespace_roles if kind == "NS" else rec.repository_roles)[name_] = role
        return rec

    def create_account(self, name: str, password_hash: str, admin: bool = False,
                       robot_namespace: Optional[str] = None) -> bool:
        """Create a user or robot; False when the name is taken."""
        now = int(time.time())
        item = AccountItem(keys.user_pk(name), keys.META_SK, password_hash=password_hash, admin=admin,
                           robot_namespace=robot_namespace, revoked=False, created=now)
        if robot_namespace is None:
            return conditional(lambda: item.save(condition=AccountItem.pk.does_not_exist()))

        def build(t: TransactWrite) -> None:  # the robot and its roster entry together
            t.save(item, condition=AccountItem.pk.does_not_exist())
            t.save(RosterItem(keys.namespace_pk(robot_namespace), keys.robot_sk(name), account=name,
                              revoked=False, created=now))
        return _transact(build)

    def _update_existing(self, name: str, actions: list, revoked: Optional[bool] = None) -> bool:
        ns = _robot_ns(name)
        if revoked is None or ns is None:
            return conditional(lambda: AccountItem(keys.user_pk(name), keys.META_SK).update(
                actions=actions, condition=AccountItem.pk.exists()))

        def build(t: TransactWrite) -> None:  # a robot's state and its roster entry together
            t.update(AccountItem(keys.user_pk(name), keys.META_SK), actions=actions,
                     condition=AccountItem.pk.exists())
            t.update(RosterItem(keys.namespace_pk(ns), keys.robot_sk(name)),
                     actions=[RosterItem.account.set(name), RosterItem.revoked.set(revoked)])
        return _transact(build)

    def set_password(self, name: str, password_hash: str, restore: bool = False) -> bool:
        """Replace the secret (and un-revoke when `restore`) and bump the credential
        generation in the same write; False when there is no such account."""
        actions = [AccountItem.password_hash.set(password_hash), AccountItem.generation.add(1)]
        if restore:
            actions.append(AccountItem.revoked.set(False))
        return self._update_existing(name, actions, revoked=False if restore else None)

    def set_revoked(self, name: str, revoked: bool) -> bool:
        """Revoke (or restore) an account, bumping its generation; False when there is none."""
        return self._update_existing(name, [AccountItem.revoked.set(revoked), AccountItem.generation.add(1)],
                                     revoked=revoked)

    def put_grant(self, name: str, kind: str, target: str, role: str) -> None:
        """Give `name` a role on a namespace (kind NS) or repository (kind REPO), and put it
        on the namespace's roster in the same transaction."""
        ns, repo = _grant_ns(kind, target)

        def build(t: TransactWrite) -> None:
            t.save(AccountItem(keys.user_pk(name), keys.grant_sk(kind, target), role=role))
            t.save(RosterItem(keys.namespace_pk(ns), keys.member_sk(name, repo), account=name, role=role,
                              repository=repo))
        _transact(build)

    def delete_grant(self, name: str, kind: str, target: str) -> bool:
        """Remove a role and its roster entry; False when there was none."""
        ns, repo = _grant_ns(kind, target)

        def build(t: TransactWrite) -> None:
            t.delete(AccountItem(keys.user_pk(name), keys.grant_sk(kind, target)),
                     condition=AccountItem.pk.exists())
            t.delete(RosterItem(keys.namespace_pk(ns), keys.member_sk(name, repo)))
        return _transact(build)

    def namespace_members(self, ns: str) -> NamespaceRoster:
        """The namespace's owner, members and robots: one Query of its partition."""
        out = NamespaceRoster()
        cond = RosterItem.sk.between(keys.MEMBER_PREFIX, keys.ROBOT_PREFIX + "\uffff")
        for it in RosterItem.query(keys.namespace_pk(ns), cond, consistent_read=True):
            if it.sk.startswith(keys.MEMBER_PREFIX) and it.account and it.role:
                out.members.append(RosterMember(it.account, it.role, it.repository))
            elif it.sk.startswith(keys.ROBOT_PREFIX) and it.account:
                out.robots.append(RosterRobot(it.account, bool(it.revoked),
                                              int(it.created) if it.created is not None else None))
            elif it.sk == keys.META_SK:
                out.owner = it.owner
        return out

    def create_namespace(self, ns: str, owner: str) -> bool:
        """Create a namespace; False when it exists."""
        item = NamespaceItem(keys.namespace_pk(ns), keys.META_SK, owner=owner, created=int(time.time()))
        return conditional(lambda: item.save(condition=NamespaceItem.pk.does_not_exist()))

    def create_first_admin(self, name: str, password_hash: str) -> Optional[str]:
        """The deployment's first administrator, its namespace and the marker that says one
        was made, in one transaction. None on success, else what already existed."""
        now = int(time.time())
        try:
            with TransactWrite(connection=_connection()) as t:
                t.save(AccountItem(keys.FIRST_ADMIN_PK, keys.META_SK, created=now),
                       condition=AccountItem.pk.does_not_exist())
                t.save(AccountItem(keys.user_pk(name), keys.META_SK, password_hash=password_hash, admin=True,
                                   revoked=False, created=now), condition=AccountItem.pk.does_not_exist())
                t.save(NamespaceItem(keys.namespace_pk(name), keys.META_SK, owner=name, created=now),
                       condition=NamespaceItem.pk.does_not_exist())
        except TransactWriteError as err:
            reasons = _reasons(err)
            for what, code in zip(("administrator", "user", "namespace"), reasons):
                if code == "ConditionalCheckFailed":
                    return what
            raise
        return None

    def namespace_exists(self, ns: str) -> bool:
        return NamespaceItem.count(keys.namespace_pk(ns), NamespaceItem.sk == keys.META_SK,
                                   consistent_read=True) > 0

    def set_public(self, repo: str, public: bool) -> None:
        """Make a repository public or private (before or after its first push)."""
        RepoItem(keys.repo_pk(repo), keys.REPO_META_SK).update(actions=[RepoItem.public.set(public)])

    def public_repos(self, repos: list[str]) -> set[str]:
        """Which of `repos` are public (one BatchGetItem)."""
        wanted = list(dict.fromkeys(repos))
        if not wanted:
            return set()
        out = set()
        for it in RepoItem.batch_get([(keys.repo_pk(r), keys.REPO_META_SK) for r in wanted],
                                     attributes_to_get=["PK", "public"]):
            if it.public:
                out.add(it.pk[len("REPO#"):])
        return out

    def list_repos_with_visibility(self, n: int, last: Optional[str]) -> tuple[list[tuple[str, bool]], bool]:
        """Catalog page with each repository's visibility (from the GSI projection)."""
        return catalog_page(n, last)

    def reserve_attempts(self, limits: dict[str, int], window_start: int, window_end: int) -> Optional[str]:
        """Reserve one login attempt under each key's limit in the window, all or none.

        One TransactWriteItems of conditional increments (`attempts < limit`); a
        window is its own item, so starting one needs no reset. Returns None when
        reserved, else the first key whose limit is reached.
        """
        reasons = _throttle_transaction([
            (keys.throttle_pk(key, window_start),
             [ThrottleItem.failures.add(1), ThrottleItem.expires.set(window_end)],
             ThrottleItem.failures.does_not_exist() | (ThrottleItem.failures < limit))
            for key, limit in limits.items()])
        if not reasons:
            return None
        # a full counter, or one that stayed contended: refuse rather than check unreserved
        return next((key for key, r in zip(limits, reasons) if r == "ConditionalCheckFailed"), next(iter(limits)))

    def release_attempts(self, keys_: list[str], window_start: int) -> None:
        """Give back reserved attempts (a successful login) in one transaction."""
        try:
            reasons = _throttle_transaction([(keys.throttle_pk(key, window_start), [ThrottleItem.failures.add(-1)],
                                              ThrottleItem.failures > 0) for key in keys_])
        except Exception as exc:  # noqa: BLE001
            reasons = [repr(exc)]
        if reasons:
            # keeping the reservation only makes the limit stricter: never fail a login for it
            log.warning("login attempt not released: %s", reasons)


def _throttle_transaction(updates: list[tuple[str, list, Any]]) -> list[Optional[str]]:
    """Apply conditional updates to throttle items all or none, retrying transaction
    conflicts; [] when written, else the per-item cancellation reasons."""
    reasons: list[Optional[str]] = []
    for attempt in range(_CONFLICT_RETRIES):
        try:
            with TransactWrite(connection=_connection()) as t:
                for pk, actions, condition in updates:
                    t.update(ThrottleItem(pk, keys.META_SK), actions=actions, condition=condition)
            return []
        except TransactWriteError as err:
            reasons = _reasons(err)
            if "ConditionalCheckFailed" in reasons:
                return reasons
            if "TransactionConflict" not in reasons:
                raise
            time.sleep(0.02 * (attempt + 1))
    return reasons  # still contended: the caller treats it like a refusal
