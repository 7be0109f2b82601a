"""The repository's `stored` byte counter (linking adds a blob's size, unlinking subtracts
it) and UiReads.repo_stats, on every implementation."""
from __future__ import annotations

import time

import pytest


def _d(c: str) -> str:
    return "sha256:" + c * 64


def test_stored_follows_links(impl, repo):
    other = f"{repo}-other"
    assert impl.meta.link_blob(repo, _d("a"), 100, "blobs/a")
    assert impl.meta.link_blob(repo, _d("b"), 23, "blobs/b")
    assert impl.meta.link_blob(repo, _d("a"), 100, "blobs/a") is False     # once per link
    assert impl.meta.link_blob(other, _d("a"), 100, "blobs/a")              # counted per repository
    stats = impl.ui.repo_stats([repo, other, f"{repo}-none"])
    assert {k: v.stored for k, v in stats.items()} == {repo: 123, other: 100}
    assert all(v.pushed and v.pushed <= time.time() + 1 for v in stats.values())
    assert impl.meta.unlink_blob(repo, _d("a")) is True
    assert impl.meta.unlink_blob(repo, _d("a")) is False                    # nothing subtracted twice
    assert impl.ui.repo_stats([repo])[repo].stored == 23
    assert impl.meta.unlink_blob(repo, _d("b")) is True
    assert impl.ui.repo_stats([repo])[repo].stored == 0
    assert impl.ui.repo_stats([]) == {}


def test_repository_created_before_the_counter_has_no_size(impl, repo):
    if impl.name == "fake":
        pytest.skip("the fake has no items written before the counter existed")
    from chalicelib.storage import dynamo, keys

    old = int(time.time()) - 86400
    it = dynamo.RepoItem(keys.repo_pk(repo), keys.REPO_META_SK, created=old, pushed=old)
    it.gsi2pk, it.gsi2sk = keys.CATALOG_PK, repo
    it.save()
    impl.meta.link_blob(repo, _d("c"), 7, "blobs/c")    # counts from now on, but misses the past
    st = impl.ui.repo_stats([repo])[repo]
    assert st.stored is None and st.pushed >= old


def test_tag_pages_skip_expired_tags_without_losing_the_next_page(impl, repo):
    """Pages of 3 over t00..t09 where t01..t05 have expired: every live tag appears once,
    in order, and `more` is right on every page."""
    from chalicelib.storage.ports import ManifestRecord, TagWrite
    from support import sha256

    past, future = int(time.time()) - 60, int(time.time()) + 3600
    for i in range(10):
        body = f'{{"i":{i}}}'.encode()
        m = ManifestRecord(repo=repo, digest=sha256(body), media_type="application/json", size=len(body), body=body)
        exp = past if 1 <= i <= 5 else (future if i == 9 else None)
        impl.meta.put_manifest(m, f"t{i:02d}", [], [], TagWrite(expires_at=exp))
    seen, last, pages = [], None, 0
    while True:
        page, last = impl.ui.tag_items(repo, 3, last)
        pages += 1
        seen += [(t.tag, t.expires_at) for t in page]
        if last is None:
            break
    assert seen == [("t00", None), ("t06", None), ("t07", None), ("t08", None), ("t09", future)]
    assert pages == 2


def test_a_long_run_of_expired_tags_ends_the_page_early_with_a_cursor(impl, repo):
    """Pages of 2 read at most 4 × 3 items: t01..t30 expired cut the first page short (t00
    alone, going on from the 12th tag read), a page may be empty, and paging on still finds every
    live tag."""
    from chalicelib.storage.ports import TAG_PAGE_READ_FACTOR, ManifestRecord, TagWrite
    from support import sha256

    assert TAG_PAGE_READ_FACTOR == 4
    past = int(time.time()) - 60
    for i in range(35):
        body = f'{{"j":{i}}}'.encode()
        m = ManifestRecord(repo=repo, digest=sha256(body), media_type="application/json", size=len(body), body=body)
        impl.meta.put_manifest(m, f"t{i:02d}", [], [], TagWrite(expires_at=past if 1 <= i <= 30 else None))
    page, nxt = impl.ui.tag_items(repo, 2, None)
    assert ([t.tag for t in page], nxt) == (["t00"], "t11")
    page, nxt = impl.ui.tag_items(repo, 2, nxt)
    assert ([t.tag for t in page], nxt) == ([], "t23")      # nothing live in this stretch
    page, nxt = impl.ui.tag_items(repo, 2, nxt)
    assert ([t.tag for t in page], nxt) == (["t31", "t32"], "t32")
    page, nxt = impl.ui.tag_items(repo, 2, nxt)
    assert ([t.tag for t in page], nxt) == (["t33", "t34"], None)
