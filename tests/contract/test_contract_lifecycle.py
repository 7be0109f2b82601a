"""TagLifecycleStore contract, and the tag-policy conditions of MetadataStore.put_manifest:
policies and their revisions, immutable tags, tag expiry and its index, the conditional
deletes retention makes. Runs on every implementation (conftest.py)."""
from __future__ import annotations

import time

import pytest

from chalicelib.storage.ports import ManifestRecord, PolicyChanged, TagImmutable, TagWrite
from support import sha256

MT = "application/vnd.oci.image.manifest.v1+json"
POLICY = {"immutableTags": ["v*"], "retention": [{"rule": "keep-last", "tags": "*", "count": 2}]}


def _manifest(repo: str, seed: str) -> ManifestRecord:
    body = f'{{"seed":"{seed}"}}'.encode()
    return ManifestRecord(repo=repo, digest=sha256(body), media_type=MT, size=len(body), body=body)


def _due(impl, repo: str, now: int) -> list[tuple]:
    # The expiry index is one partition for the whole table: keep this test's entries.
    return [(d.tag, d.expires_at) for d in impl.lifecycle.due_expiries(now, 1000) if d.repo == repo]


def test_policy_round_trip_and_revisions(impl, repo):
    assert impl.lifecycle.get_policy(repo) == (None, None)
    assert impl.lifecycle.put_policy(repo, POLICY) == 1
    assert impl.lifecycle.get_policy(repo) == (POLICY, 1)
    assert repo in impl.lifecycle.policy_repos(1000, repo[:-1])[0]
    assert impl.lifecycle.put_policy(repo, None) == 2
    assert impl.lifecycle.get_policy(repo) == (None, 2)
    assert repo not in impl.lifecycle.policy_repos(1000, repo[:-1])[0]


def test_tag_write_checks_the_policy_revision(impl, repo):
    m1, m2 = _manifest(repo, "a"), _manifest(repo, "b")
    impl.meta.put_manifest(m1, "t", [], [], TagWrite(policy_rev=None))
    rev = impl.lifecycle.put_policy(repo, POLICY)
    with pytest.raises(PolicyChanged):  # decided under "no policy": refused, nothing written
        impl.meta.put_manifest(m2, "t", [], [], TagWrite(policy_rev=None))
    assert impl.meta.get_tag(repo, "t").digest == m1.digest
    assert impl.meta.get_manifest(repo, m2.digest) is None
    impl.meta.put_manifest(m2, "t", [], [], TagWrite(policy_rev=rev))
    assert impl.meta.get_tag(repo, "t").digest == m2.digest
    impl.meta.put_manifest(m1, None, [], [], None)  # a push by digest writes no tag: no policy check


def test_immutable_tag_keeps_its_digest(impl, repo):
    m1, m2 = _manifest(repo, "a"), _manifest(repo, "b")
    impl.meta.put_manifest(m1, "v1", [], [], TagWrite(immutable=True))  # new tag: allowed
    impl.meta.put_manifest(m1, "v1", [], [], TagWrite(immutable=True))  # same digest: allowed
    with pytest.raises(TagImmutable):
        impl.meta.put_manifest(m2, "v1", [], [], TagWrite(immutable=True))
    assert impl.meta.get_tag(repo, "v1").digest == m1.digest
    assert impl.meta.get_manifest(repo, m2.digest) is None  # the whole transaction was refused
    impl.meta.put_manifest(m2, "v1", [], [], TagWrite(immutable=False))  # rule gone: overwrite
    assert impl.meta.get_tag(repo, "v1").digest == m2.digest


def test_expiry_written_with_the_tag_and_indexed(impl, repo):
    m = _manifest(repo, "a")
    impl.meta.put_manifest(m, "old", [], [], TagWrite(expires_at=1000))
    impl.meta.put_manifest(m, "keep", [], [], TagWrite())
    assert impl.meta.get_tag(repo, "old").expires_at == 1000
    assert impl.meta.get_tag(repo, "keep").expires_at is None
    entries, more = impl.lifecycle.tag_entries(repo, 10, None)
    assert [(e.tag, e.digest, e.expires_at) for e in entries] == [("keep", m.digest, None),
                                                                  ("old", m.digest, 1000)]
    assert not more and all(abs(e.pushed - time.time()) < 60 for e in entries)
    assert _due(impl, repo, 999) == [] and _due(impl, repo, 1000) == [("old", 1000)]
    assert [d.digest for d in impl.lifecycle.due_expiries(1000, 1000) if d.repo == repo] == [m.digest]
    # pushed again without expiry: the index entry is stale, the conditional delete refuses
    impl.meta.put_manifest(m, "old", [], [], TagWrite())
    assert not impl.lifecycle.remove_tag(repo, "old", None, 1000)
    assert impl.meta.get_tag(repo, "old") is not None
    assert _due(impl, repo, 2000) == []  # and the stale entry is gone


def test_remove_tag_when_due(impl, repo):
    m = _manifest(repo, "a")
    impl.meta.put_manifest(m, "t", [], [], TagWrite(expires_at=1500))
    assert impl.lifecycle.remove_tag(repo, "t", None, 1500)
    assert impl.meta.get_tag(repo, "t") is None and _due(impl, repo, 2000) == []


def test_set_tag_expiry(impl, repo):
    m = _manifest(repo, "a")
    assert impl.lifecycle.set_tag_expiry(repo, "nope", 100) is None
    impl.meta.put_manifest(m, "t", [], [], TagWrite())
    got = impl.lifecycle.set_tag_expiry(repo, "t", 1100)
    assert (got.tag, got.digest, got.expires_at) == ("t", m.digest, 1100)
    assert impl.meta.get_tag(repo, "t").expires_at == 1100
    impl.lifecycle.set_tag_expiry(repo, "t", 1200)
    assert _due(impl, repo, 2000) == [("t", 1100), ("t", 1200)]  # the first is stale
    assert not impl.lifecycle.remove_tag(repo, "t", None, 1100)
    assert impl.lifecycle.set_tag_expiry(repo, "t", None).expires_at is None
    assert impl.meta.get_tag(repo, "t").expires_at is None
    assert not impl.lifecycle.remove_tag(repo, "t", None, 1200)
    assert impl.meta.get_tag(repo, "t").digest == m.digest


def test_delete_tag_if_checks_the_policy(impl, repo):
    m = _manifest(repo, "a")
    impl.meta.put_manifest(m, "t", [], [], TagWrite())
    assert not impl.lifecycle.delete_tag_if(repo, "nope", None)
    rev = impl.lifecycle.put_policy(repo, POLICY)
    with pytest.raises(PolicyChanged):
        impl.lifecycle.delete_tag_if(repo, "t", None)
    assert impl.meta.get_tag(repo, "t") is not None
    assert impl.lifecycle.delete_tag_if(repo, "t", rev)
    assert impl.meta.get_tag(repo, "t") is None


def test_retention_deletes_are_conditional(impl, repo):
    m1, m2 = _manifest(repo, "a"), _manifest(repo, "b")
    impl.meta.put_manifest(m1, "t", [], [], TagWrite())
    impl.meta.put_manifest(m2, None, [], [], None)
    derived = ManifestRecord(repo, sha256(b"derived"), MT, 7, body=b"derived")
    impl.meta.put_derived(m2.digest, "application/x-other", derived)
    assert not impl.lifecycle.remove_tag(repo, "t", m2.digest)  # names another manifest
    entries = {e.digest: e for e in impl.lifecycle.manifest_entries(repo, 10, None)[0]}
    assert set(entries) == {m1.digest, m2.digest, derived.digest}
    assert entries[derived.digest].pushed is None  # conversions have no push time
    assert entries[m2.digest].body is None and entries[m2.digest].media_type == MT  # bodies: indexes only
    index_body = b'{"manifests":[]}'
    index = ManifestRecord(repo, sha256(index_body), "application/vnd.oci.image.index.v1+json",
                           len(index_body), body=index_body)
    impl.meta.put_manifest(index, None, [], [], None)
    assert impl.lifecycle.manifest_entries(repo, 10, None)[0] and \
        {e.digest: e for e in impl.lifecycle.manifest_entries(repo, 10, None)[0]}[index.digest].body == index_body
    pushed = entries[m2.digest].pushed
    assert not impl.lifecycle.remove_manifest(repo, m2.digest, pushed - 1)  # pushed again since
    assert impl.lifecycle.remove_manifest(repo, m2.digest, pushed)
    assert impl.meta.get_manifest(repo, m2.digest) is None
    assert impl.lifecycle.remove_tag(repo, "t", m1.digest)
    assert impl.meta.get_tag(repo, "t") is None


def test_entry_pages(impl, repo):
    m = _manifest(repo, "a")
    for t in ("a", "b", "c"):
        impl.meta.put_manifest(m, t, [], [], TagWrite())
    page, more = impl.lifecycle.tag_entries(repo, 2, None)
    assert [e.tag for e in page] == ["a", "b"] and more
    page, more = impl.lifecycle.tag_entries(repo, 2, "b")
    assert [e.tag for e in page] == ["c"] and not more


def test_one_winner_on_a_new_immutable_tag(impl, repo):
    """Concurrent first pushes of different manifests to one immutable tag: the condition
    in the tag write lets exactly one land; every other is refused, none overwrites."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    threads = 6
    barrier = threading.Barrier(threads)
    manifests = [_manifest(repo, f"race-{i}") for i in range(threads)]

    def push(i: int) -> str:
        barrier.wait()
        try:
            impl.meta.put_manifest(manifests[i], "v1", [], [], TagWrite(immutable=True))
            return "won"
        except TagImmutable:
            return "refused"

    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(push, range(threads)))
    assert outcomes.count("won") == 1 and outcomes.count("refused") == threads - 1
    assert impl.meta.get_tag(repo, "v1").digest == manifests[outcomes.index("won")].digest
