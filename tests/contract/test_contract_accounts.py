"""AccountStore and HelmIndexStore contracts, on every implementation."""
from __future__ import annotations

import time
import uuid

import pytest

from chalicelib.storage.helm_ports import ChartEntry, ChartFileTaken, ChartRef


def _name(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def test_account_created_once(impl):
    name = _name()
    assert impl.accounts.get_account(name) is None
    assert impl.accounts.create_account(name, "hash1") is True
    assert impl.accounts.create_account(name, "hash2", admin=True) is False
    rec = impl.accounts.get_account(name)
    assert (rec.name, rec.password_hash, rec.admin, rec.revoked, rec.robot_namespace) == (
        name, "hash1", False, False, None)
    robot = f"{name}+bot"
    assert impl.accounts.create_account(robot, "s", robot_namespace=name)
    assert impl.accounts.get_account(robot).robot_namespace == name


def test_password_and_revocation_need_an_account(impl):
    name = _name()
    assert impl.accounts.set_password(name, "h") is False
    assert impl.accounts.set_revoked(name, True) is False
    assert impl.accounts.get_account(name) is None            # nothing created by the updates
    impl.accounts.create_account(name, "h0")
    before = impl.accounts.get_account(name).generation
    assert impl.accounts.set_password(name, "h1") is True
    assert impl.accounts.set_revoked(name, True) is True
    rec = impl.accounts.get_account(name)
    assert (rec.password_hash, rec.revoked) == ("h1", True)
    assert rec.generation == before + 2     # every change of secret or state bumps the generation
    assert impl.accounts.set_password(name, "h2", restore=True) is True
    rec = impl.accounts.get_account(name)
    assert (rec.password_hash, rec.revoked, rec.generation) == ("h2", False, before + 3)


def test_grants(impl):
    name = _name()
    impl.accounts.create_account(name, "h")
    impl.accounts.put_grant(name, "NS", "team", "write")
    impl.accounts.put_grant(name, "REPO", "team/app", "read")
    impl.accounts.put_grant(name, "REPO", "team/app", "admin")   # replaces
    rec = impl.accounts.get_account(name)
    assert (rec.namespace_roles, rec.repository_roles) == ({"team": "write"}, {"team/app": "admin"})
    assert impl.accounts.delete_grant(name, "NS", "team") is True
    assert impl.accounts.delete_grant(name, "NS", "team") is False
    assert impl.accounts.get_account(name).namespace_roles == {}


def test_namespace_created_once(impl):
    ns = _name("ns")
    assert not impl.accounts.namespace_exists(ns)
    assert impl.accounts.create_namespace(ns, "owner") is True
    assert impl.accounts.create_namespace(ns, "other") is False
    assert impl.accounts.namespace_exists(ns)


def test_first_admin_once(impl):
    # One per table: this is the only test that makes it, on each implementation.
    name = _name("admin")
    taken = _name("x")
    impl.accounts.create_account(taken, "h")
    assert impl.accounts.create_first_admin(name, "h") is None
    rec = impl.accounts.get_account(name)
    assert rec.admin and impl.accounts.namespace_exists(name)
    assert impl.accounts.create_first_admin(_name("again"), "h") == "administrator"


def test_visibility_and_catalog(impl, repo):
    private, public = f"{repo}-private", f"{repo}-public"
    impl.accounts.set_public(public, True)                # before its first push
    assert impl.accounts.public_repos([private, public, public]) == {public}
    assert impl.accounts.public_repos([]) == set()
    for r in (private, public):
        impl.meta.link_blob(r, "sha256:" + "0" * 64, 1, "k")
    page, _ = impl.accounts.list_repos_with_visibility(1000, f"{repo}-")
    assert [p for p in page if p[0].startswith(repo)] == [(private, False), (public, True)]
    impl.accounts.set_public(public, False)
    assert impl.accounts.public_repos([public]) == set()


def test_visibility_alone_does_not_list(impl, repo):
    impl.accounts.set_public(repo, True)
    page, _ = impl.accounts.list_repos_with_visibility(1000, f"{repo[:-1]}")
    assert repo not in [name for name, _ in page]


def test_throttle_reservations_all_or_none(impl):
    key, other = _name("ip:"), _name("user:")
    now = int(time.time())
    start = now - now % 300
    limits = {key: 2, other: 5}
    assert impl.accounts.reserve_attempts(limits, start, start + 300) is None
    assert impl.accounts.reserve_attempts(limits, start, start + 300) is None
    assert impl.accounts.reserve_attempts(limits, start, start + 300) == key
    assert impl.accounts.reserve_attempts({other: 3}, start, start + 300) is None   # was 2: the refusal took none
    assert impl.accounts.reserve_attempts({other: 3}, start, start + 300) == other
    impl.accounts.release_attempts([key], start)
    assert impl.accounts.reserve_attempts({key: 2}, start, start + 300) is None
    assert impl.accounts.reserve_attempts({key: 2}, start + 300, start + 600) is None  # a new window


# -- Helm index --------------------------------------------------------------------
def _entry(ns: str, name: str, version: str, repo: str, digest: str = "sha256:" + "1" * 64) -> ChartEntry:
    return ChartEntry(namespace=ns, repo=repo, name=name, version=version, digest=digest,
                      chart_digest="sha256:" + "2" * 64, chart_size=10,
                      metadata={"name": name, "version": version, "apiVersion": "v2"}, created_ns=123)


def test_helm_entries_one_per_file(impl):
    ns = _name("ns")
    a = _entry(ns, "a", "1-0.1.0", f"{ns}/a")
    impl.helm.put_entry(a)
    with pytest.raises(ChartFileTaken):          # another chart spelling a-1-0.1.0.tgz
        impl.helm.put_entry(_entry(ns, "a-1", "0.1.0", f"{ns}/a-1"))
    again = _entry(ns, "a", "1-0.1.0", f"{ns}/a", digest="sha256:" + "3" * 64)
    impl.helm.put_entry(again)                   # the same chart re-pushed replaces it
    assert impl.helm.find(ns, "a-1-0.1.0") == again
    b = _entry(ns, "b", "2.0.0", f"{ns}/b")
    impl.helm.put_entry(b)
    assert list(impl.helm.entries(ns)) == [again, b]
    assert list(impl.helm.entries(_name("ns"))) == []
    assert impl.helm.find(ns, "nope-1.0.0") is None


def test_helm_remove_only_its_own_entry(impl):
    ns = _name("ns")
    old = _entry(ns, "c", "1.0.0", f"{ns}/c", digest="sha256:" + "4" * 64)
    new = _entry(ns, "c", "1.0.0", f"{ns}/c", digest="sha256:" + "5" * 64)
    impl.helm.put_entry(old)
    impl.helm.put_entry(new)
    assert impl.helm.get_ref(ns, f"{ns}/c", old.digest) == ChartRef("c", "1.0.0")
    impl.helm.remove(ns, f"{ns}/c", old.digest, ChartRef("c", "1.0.0"))   # a newer push keeps it
    assert impl.helm.find(ns, "c-1.0.0") == new
    assert impl.helm.get_ref(ns, f"{ns}/c", old.digest) is None
    impl.helm.remove(ns, f"{ns}/c", new.digest, ChartRef("c", "1.0.0"))
    assert impl.helm.find(ns, "c-1.0.0") is None
    assert impl.helm.get_ref(ns, f"{ns}/c", new.digest) is None
