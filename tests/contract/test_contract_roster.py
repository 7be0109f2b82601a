"""AccountStore.namespace_members: the roster kept beside grants and robots, on every
implementation."""
from __future__ import annotations

import uuid

from chalicelib.storage.ports import RosterMember


def _ns() -> str:
    return f"ns{uuid.uuid4().hex[:10]}"


def test_roster_follows_grants(impl):
    ns, other = _ns(), _ns()
    acc = impl.accounts
    acc.create_namespace(ns, "owner1")
    for name in ("bob", "alice"):
        acc.create_account(f"{name}-{ns}", "h")
    alice, bob = f"alice-{ns}", f"bob-{ns}"
    acc.put_grant(bob, "NS", ns, "read")
    acc.put_grant(alice, "REPO", f"{ns}/app/web", "write")
    acc.put_grant(alice, "NS", ns, "admin")
    acc.put_grant(alice, "NS", other, "read")               # another namespace's roster
    acc.put_grant(bob, "NS", ns, "write")                   # replaces
    r = acc.namespace_members(ns)
    assert r.owner == "owner1"
    assert r.members == [RosterMember(alice, "admin", None), RosterMember(alice, "write", f"{ns}/app/web"),
                         RosterMember(bob, "write", None)]
    assert r.robots == []
    assert acc.delete_grant(alice, "REPO", f"{ns}/app/web") is True
    assert acc.delete_grant(alice, "REPO", f"{ns}/app/web") is False
    assert acc.namespace_members(ns).members == [RosterMember(alice, "admin", None), RosterMember(bob, "write", None)]
    assert acc.namespace_members(other).members == [RosterMember(alice, "read", None)]
    empty = acc.namespace_members(_ns())
    assert (empty.owner, empty.members, empty.robots) == (None, [], [])


def test_roster_follows_robots(impl):
    ns = _ns()
    acc = impl.accounts
    assert acc.create_account(f"{ns}+ci", "h", robot_namespace=ns) is True
    assert acc.create_account(f"{ns}+ci", "h2", robot_namespace=ns) is False   # no second entry either
    assert acc.create_account(f"{ns}+build", "h", robot_namespace=ns) is True
    acc.create_account(f"{_ns()}+ci", "h", robot_namespace="elsewhere")
    r = acc.namespace_members(ns)
    assert [(b.name, b.revoked) for b in r.robots] == [(f"{ns}+build", False), (f"{ns}+ci", False)]
    assert all(isinstance(b.created, int) and b.created > 0 for b in r.robots)
    assert acc.set_revoked(f"{ns}+ci", True) is True
    assert [(b.name, b.revoked) for b in acc.namespace_members(ns).robots] == [
        (f"{ns}+build", False), (f"{ns}+ci", True)]
    assert acc.set_password(f"{ns}+ci", "h3", restore=True) is True            # rotating restores
    assert [b.revoked for b in acc.namespace_members(ns).robots] == [False, False]
    assert acc.set_revoked(f"{ns}+gone", True) is False                         # no account: no entry
    assert [b.name for b in acc.namespace_members(ns).robots] == [f"{ns}+build", f"{ns}+ci"]


def test_backfill_adds_grants_and_robots_written_before_the_roster(impl):
    import pytest

    if impl.name == "fake":
        pytest.skip("the fake derives its roster from the grants: nothing to backfill")
    from chalicelib.storage import keys
    from chalicelib.storage.accounts_dynamo import RosterItem
    from infra.roster_backfill import backfill_roster
    from chalicelib.storage.ports import RosterRobot

    ns = _ns()
    acc = impl.accounts
    alice, gone = f"alice-{ns}", f"gone-{ns}"
    for name in (alice, gone):
        acc.create_account(name, "h")
    acc.put_grant(alice, "NS", ns, "write")
    acc.put_grant(alice, "REPO", f"{ns}/app", "admin")
    acc.put_grant(gone, "NS", ns, "read")
    acc.create_account(f"{ns}+ci", "h", robot_namespace=ns)
    acc.create_account(f"{ns}+old", "h", robot_namespace=ns)
    acc.set_revoked(f"{ns}+old", True)
    for it in RosterItem.query(keys.namespace_pk(ns)):      # as if written before the roster
        if it.sk != keys.META_SK:
            it.delete()
    acc.delete_grant(gone, "NS", ns)                        # removed since: must not come back
    assert acc.namespace_members(ns).members == []
    first = backfill_roster()
    assert first.members >= 2 and first.robots >= 2
    r = acc.namespace_members(ns)
    assert r.members == [RosterMember(alice, "write", None), RosterMember(alice, "admin", f"{ns}/app")]
    assert [(b.name, b.revoked) for b in r.robots] == [(f"{ns}+ci", False), (f"{ns}+old", True)]
    assert all(isinstance(b, RosterRobot) and b.created for b in r.robots)
    acc.set_revoked(f"{ns}+ci", True)
    backfill_roster()                                       # again: nothing overwritten, nothing doubled
    r = acc.namespace_members(ns)
    assert len(r.members) == 2 and [(b.name, b.revoked) for b in r.robots] == [(f"{ns}+ci", True),
                                                                                (f"{ns}+old", True)]
