"""GcStore contract (storage/gc_ports.py) on every implementation: refcounts kept by the
manifest writes, the candidate index, and the conditional deletes racing new references.

Backends live for the whole session, so candidates of other tests are filtered out by
repository or digest; digests are random per test."""
from __future__ import annotations

import time
import uuid

import pytest

from chalicelib.storage.gc_ports import BlobCollected
from chalicelib.storage.ports import ManifestRecord, ReferenceMissing
from support import sha256

MT = "application/vnd.oci.image.manifest.v1+json"
FUTURE = 2 ** 40   # an `upto` that takes every candidate


def _blob(impl, repo: str) -> str:
    d = sha256(uuid.uuid4().bytes)
    assert impl.meta.link_blob(repo, d, 10, f"blobs/{d}", time.time())
    return d


def _manifest(repo: str, seed: str) -> ManifestRecord:
    body = f'{{"seed":"{seed}"}}'.encode()
    return ManifestRecord(repo=repo, digest=sha256(body), media_type=MT, size=len(body), body=body)


def _links(impl, repo: str) -> dict:
    out, cursor = {}, None
    while True:
        page, cursor = impl.gc.garbage_links(FUTURE, 100, cursor)
        out.update({ln.digest: ln for ln in page if ln.repo == repo})
        if cursor is None:
            return out


def _blobs(impl, digests) -> dict:
    out, cursor = {}, None
    while True:
        page, cursor = impl.gc.garbage_blobs(FUTURE, 100, cursor)
        out.update({b.digest: b for b in page if b.digest in digests})
        if cursor is None:
            return out


def test_manifest_writes_keep_the_refcounts(impl, repo):
    a, b = _blob(impl, repo), _blob(impl, repo)
    assert set(_links(impl, repo)) == {a, b}               # linked, referenced by nothing yet
    m1, m2 = _manifest(repo, "one"), _manifest(repo, "two")
    impl.meta.put_manifest(m1, "v1", [a, b, a], [])
    impl.meta.put_manifest(m2, "v2", [a], [])
    impl.meta.put_manifest(m2, "again", [a], [])            # a re-put counts nothing twice
    assert _links(impl, repo) == {}
    assert impl.meta.delete_manifest(repo, m1.digest)
    cands = _links(impl, repo)
    assert {d: c.mrefs for d, c in cands.items()} == {a: 1, b: 0}   # `a` is a stale candidate
    assert impl.meta.delete_manifest(repo, m2.digest)
    assert {d: c.mrefs for d, c in _links(impl, repo).items()} == {a: 0, b: 0}


def test_a_re_put_after_another_instance_deleted_the_manifest_counts_again(impl, repo):
    """A store remembers the manifests it wrote so that a re-put runs the transaction for a
    counted manifest first; when another process (Lambda instance) deleted the manifest
    meanwhile, that hint is wrong and the references must still be counted once."""
    a = _blob(impl, repo)
    m = _manifest(repo, "hint")
    impl.meta.put_manifest(m, "v1", [a], [])
    other = impl.meta if impl.name == "fake" else type(impl.meta)()   # same table, own memory
    assert other.delete_manifest(repo, m.digest)
    assert {d: c.mrefs for d, c in _links(impl, repo).items()} == {a: 0}
    impl.meta.put_manifest(m, "v1", [a], [])                # this store still thinks it counted
    assert _links(impl, repo) == {}                         # referenced again, not a candidate
    assert impl.meta.delete_manifest(repo, m.digest)
    assert {d: c.mrefs for d, c in _links(impl, repo).items()} == {a: 0}   # counted once


def test_drop_link_loses_to_a_new_reference(impl, repo):
    d = _blob(impl, repo)
    cand = _links(impl, repo)[d]
    impl.meta.put_manifest(_manifest(repo, "uses"), None, [d], [])   # referenced after the read
    assert impl.gc.drop_link(cand, int(time.time())) is False
    assert impl.meta.get_blob_link(repo, d) is not None
    impl.gc.unmark_link(cand)   # stale: leaves the index (nothing else changes)
    assert d not in _links(impl, repo)


def test_a_dropped_link_refuses_the_manifest_and_marks_the_blob(impl, repo):
    d = _blob(impl, repo)
    cand = _links(impl, repo)[d]
    stale = type(cand)(**{**cand.__dict__, "since": cand.since - 1})
    assert impl.gc.drop_link(stale, int(time.time())) is False        # re-stamped since: kept
    assert impl.gc.drop_link(cand, int(time.time())) is True
    assert impl.meta.get_blob_link(repo, d) is None
    with pytest.raises(ReferenceMissing):
        impl.meta.put_manifest(_manifest(repo, "late"), "t", [d], [])
    blob = _blobs(impl, {d})[d]
    assert (blob.refs, blob.size, blob.s3_key) == (0, 10, f"blobs/{d}")
    assert impl.gc.blob_refs([d]) == {d: (0, 10)}


def test_claimed_then_dropped_blob_refuses_links_of_older_bytes(impl, repo):
    d = _blob(impl, repo)
    assert impl.gc.drop_link(_links(impl, repo)[d], int(time.time()))
    blob = _blobs(impl, {d})[d]
    now = int(time.time())
    assert impl.gc.claim_blob(blob, now)
    with pytest.raises(BlobCollected):   # bytes written around the claim may be deleted
        impl.meta.link_blob(f"{repo}-b", d, 10, f"blobs/{d}", time.time())
    assert impl.gc.drop_blob(blob, now + 1, now) is False              # not our claim
    assert impl.gc.drop_blob(blob, now, now)
    assert impl.meta.get_blob(d) is None and d not in _blobs(impl, {d})
    with pytest.raises(BlobCollected):   # written before the delete: gone
        impl.meta.link_blob(f"{repo}-b", d, 10, f"blobs/{d}", now - 1)
    assert impl.meta.link_blob(f"{repo}-b", d, 10, f"blobs/{d}", now + 60)   # written again later
    assert impl.meta.get_blob(d) is not None


def test_claim_loses_to_a_new_link(impl, repo):
    d = _blob(impl, repo)
    assert impl.gc.drop_link(_links(impl, repo)[d], int(time.time()))
    blob = _blobs(impl, {d})[d]
    assert impl.meta.link_blob(f"{repo}-b", d, 10, f"blobs/{d}", time.time())
    assert impl.gc.claim_blob(blob, int(time.time())) is False
    assert _blobs(impl, {d}) == {}     # relinked: out of the index


def test_unlink_marks_the_blob(impl, repo):
    d = _blob(impl, repo)
    assert impl.meta.unlink_blob(repo, d)
    assert _blobs(impl, {d})[d].refs == 0
    assert d not in _links(impl, repo)


def test_conversions_go_with_their_source(impl, repo):
    src, conv = _manifest(repo, "src"), _manifest(repo, "converted")
    impl.meta.put_manifest(src, "v1", [], [])
    impl.meta.put_derived(src.digest, "application/x-target", conv)
    assert impl.meta.get_manifest(repo, conv.digest) is not None
    assert impl.meta.delete_manifest(repo, src.digest)
    assert impl.meta.get_derived(repo, src.digest, "application/x-target") is None
    assert impl.meta.get_manifest(repo, conv.digest) is None


def test_a_conversion_never_replaces_a_pushed_manifest(impl, repo):
    d = _blob(impl, repo)
    src, pushed = _manifest(repo, "src2"), _manifest(repo, "pushed")
    impl.meta.put_manifest(src, None, [], [])
    impl.meta.put_manifest(pushed, None, [d], [])
    impl.meta.put_derived(src.digest, "application/x-target", pushed)
    assert impl.meta.get_derived(repo, src.digest, "application/x-target").digest == pushed.digest
    assert impl.meta.delete_manifest(repo, src.digest)
    assert impl.meta.get_manifest(repo, pushed.digest) is not None
    assert impl.meta.delete_manifest(repo, pushed.digest)
    assert _links(impl, repo)[d].mrefs == 0     # its reference was kept and is given back once
