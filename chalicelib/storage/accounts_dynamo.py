"""DynamoDB adapter of the AccountStore port (same table, see keys.py)."""
from __future__ import annotations

import time
from typing import Optional

from . import keys
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from .dynamo import AccountItem, NamespaceItem, RepoItem, ThrottleItem, catalog_page, conditional
from .dynamo import _connection, _reasons
from .ports import AccountRecord


class DynamoAccountStore:
    """Accounts on the registry's single table."""

    def get_account(self, name: str) -> Optional[AccountRecord]:
        """The account and all its grants in one Query."""
        rec: Optional[AccountRecord] = None
        grants = []
        for it in AccountItem.query(keys.user_pk(name), consistent_read=True):
            if it.sk == keys.META_SK:
                rec = AccountRecord(name=name, password_hash=it.password_hash, admin=bool(it.admin),
                                    robot_namespace=it.robot_namespace, revoked=bool(it.revoked))
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
        item = AccountItem(keys.user_pk(name), keys.META_SK, password_hash=password_hash, admin=admin,
                           robot_namespace=robot_namespace, revoked=False, created=int(time.time()))
        return conditional(lambda: item.save(condition=AccountItem.pk.does_not_exist()))

    def _update_existing(self, name: str, actions: list) -> bool:
        return conditional(lambda: AccountItem(keys.user_pk(name), keys.META_SK).update(
            actions=actions, condition=AccountItem.pk.exists()))

    def set_password(self, name: str, password_hash: str) -> bool:
        """Replace the secret; False when there is no such account."""
        return self._update_existing(name, [AccountItem.password_hash.set(password_hash)])

    def set_revoked(self, name: str, revoked: bool) -> bool:
        """Revoke (or restore) an account; False when there is none."""
        return self._update_existing(name, [AccountItem.revoked.set(revoked)])

    def put_grant(self, name: str, kind: str, target: str, role: str) -> None:
        """Give `name` a role on a namespace (kind NS) or repository (kind REPO)."""
        AccountItem(keys.user_pk(name), keys.grant_sk(kind, target), role=role).save()

    def delete_grant(self, name: str, kind: str, target: str) -> bool:
        """Remove a role; False when there was none."""
        return conditional(lambda: AccountItem(keys.user_pk(name), keys.grant_sk(kind, target)).delete(
            condition=AccountItem.pk.exists()))

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

    def failures(self, keys_: list[str]) -> dict[str, int]:
        """Failed logins in the current window for each key (one BatchGetItem)."""
        now = time.time()
        out = {k: 0 for k in keys_}
        for it in ThrottleItem.batch_get([(keys.throttle_pk(k), keys.META_SK) for k in keys_]):
            if (it.expires or 0) > now:
                out[it.pk[len("THROTTLE#"):]] = int(it.failures or 0)
        return out

    def add_failure(self, key: str, window: int) -> int:
        """Count one more failure; a new window starts when the old one expired."""
        now = int(time.time())
        item = ThrottleItem(keys.throttle_pk(key), keys.META_SK)
        if not conditional(lambda: item.update(actions=[ThrottleItem.failures.add(1)],
                                               condition=ThrottleItem.expires > now)):
            item.update(actions=[ThrottleItem.failures.set(1), ThrottleItem.expires.set(now + window)])
        return int(item.failures or 0)
