"""The push gateway's digest hints (client/gateway_hints.py)."""
from __future__ import annotations

from client.gateway_hints import Hints

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def test_one_missing_blob_is_the_hint_and_is_claimed_once():
    h = Hints()
    h.missing(f"/v2/team/app/blobs/{A}", now=0.0)
    assert h.take("team/other", now=1.0) is None
    assert h.take("team/app", now=1.0) == A
    assert h.take("team/app", now=1.0) is None


def test_several_missing_blobs_give_no_hint():
    h = Hints()
    h.missing(f"/v2/team/app/blobs/{A}", now=0.0)
    h.missing(f"/v2/team/app/blobs/{B}", now=0.0)
    assert h.take("team/app", now=1.0) is None


def test_stale_found_and_foreign_paths_give_no_hint():
    h = Hints(fresh_seconds=10)
    h.missing(f"/v2/team/app/blobs/{A}", now=0.0)
    assert h.take("team/app", now=11.0) is None  # stale
    h.missing(f"/v2/team/app/blobs/{A}", now=20.0)
    h.found(f"/v2/team/app/blobs/{A}")
    assert h.take("team/app", now=21.0) is None  # pushed by someone else meanwhile
    for path in (f"/v2/team/app/manifests/{A}", "/v2/team/app/blobs/sha512:" + "a" * 128,
                 f"/v2/team/app/blobs/{A}/extra", "/v2/team/app/blobs/uploads/x"):
        h.missing(path, now=30.0)
    assert h.take("team/app", now=31.0) is None


def test_a_nested_repository_name():
    h = Hints()
    h.missing(f"/v2/org/team/app/blobs/{A}", now=0.0)
    assert h.take("org/team/app", now=0.5) == A
