"""The orphan sweep's storage steps (domain/gc_sweep.py) on every implementation: the
blobs/ listing, the record lookup, and the claim that only an absent record allows."""
from __future__ import annotations

import time
import uuid

import pytest

from chalicelib.storage import keys
from chalicelib.storage.gc_ports import BlobCollected, GarbageBlob
from support import sha256


def test_list_keys_pages_in_key_order_with_sizes_and_times(impl):
    prefix = f"sweeptest/{uuid.uuid4().hex}/"
    before = time.time() - 60
    for name, body in (("b", b"22"), ("a", b"1"), ("c", b"333")):
        impl.blobs.put(prefix + name, body)
    page, more = impl.blobs.list_keys(prefix, "", 2)
    assert [(k[len(prefix):], size) for k, size, _ in page] == [("a", 1), ("b", 2)] and more
    assert all(before < modified < time.time() + 60 for _, _, modified in page)
    page, more = impl.blobs.list_keys(prefix, page[-1][0], 2)
    assert [k[len(prefix):] for k, _, _ in page] == ["c"] and not more


def test_claim_orphan_only_while_no_record_then_links_of_older_bytes_are_refused(impl, repo):
    d = sha256(uuid.uuid4().bytes)
    written = time.time() - 30
    assert impl.gc.blob_records([d]) == set()
    now = int(time.time())
    assert impl.gc.claim_orphan(d, 5, keys.blob_key(d), now)
    assert impl.gc.blob_records([d, sha256(b"none" + uuid.uuid4().bytes)]) == {d}
    assert not impl.gc.claim_orphan(d, 5, keys.blob_key(d), now)     # a record exists now
    with pytest.raises(BlobCollected):                                # claimed: no link
        impl.meta.link_blob(repo, d, 5, keys.blob_key(d), written)
    assert impl.gc.drop_blob(GarbageBlob(d, 5, keys.blob_key(d), now), now, now)
    assert impl.meta.get_blob(d) is None                              # a tombstone
    with pytest.raises(BlobCollected):                                # bytes older than the delete
        impl.meta.link_blob(repo, d, 5, keys.blob_key(d), written)
    assert impl.gc.blob_records([d]) == {d}


def test_claim_orphan_loses_to_a_link(impl, repo):
    d = sha256(uuid.uuid4().bytes)
    assert impl.meta.link_blob(repo, d, 5, keys.blob_key(d), time.time())
    assert impl.gc.blob_records([d]) == {d}
    assert not impl.gc.claim_orphan(d, 5, keys.blob_key(d), int(time.time()))
    assert impl.meta.get_blob(d) is not None
