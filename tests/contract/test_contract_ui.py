"""UiReads contract (the web UI's own reads), on every implementation."""
from __future__ import annotations

import time

from chalicelib.storage.ports import ManifestRecord
from support import sha256


def _put(impl, repo: str, tag: str, seed: str) -> ManifestRecord:
    body = f'{{"seed":"{seed}"}}'.encode()
    m = ManifestRecord(repo=repo, digest=sha256(body), media_type="application/json", size=len(body), body=body)
    impl.meta.put_manifest(m, tag, [], [])
    return m


def test_tag_items_page_with_their_manifests(impl, repo):
    before = int(time.time())
    ms = {tag: _put(impl, repo, tag, tag) for tag in ("c", "a", "b")}
    page, nxt = impl.ui.tag_items(repo, 2, None)
    assert nxt == "b"
    assert [(t.tag, t.digest, t.body, t.size) for t in page] == [
        (tag, ms[tag].digest, ms[tag].body, ms[tag].size) for tag in ("a", "b")]
    assert all(t.pushed is not None and before <= t.pushed <= time.time() + 1 for t in page)
    page, nxt = impl.ui.tag_items(repo, 2, "b")
    assert ([t.tag for t in page], nxt) == (["c"], None)
    assert impl.ui.tag_items(f"{repo}-none", 5, None) == ([], None)


def test_visibility_and_last_pushes(impl, repo):
    pushed, hidden, never = f"{repo}-p", f"{repo}-h", f"{repo}-n"
    before = int(time.time())
    _put(impl, pushed, "t", "x")
    impl.accounts.set_public(hidden, True)                 # visibility set, nothing pushed
    assert impl.ui.repo_visibility(pushed) is False
    assert impl.ui.repo_visibility(hidden) is True
    assert impl.ui.repo_visibility(never) is None
    got = impl.ui.last_pushes([pushed, hidden, never, pushed])
    assert list(got) == [pushed] and before <= got[pushed] <= time.time() + 1
    assert impl.ui.last_pushes([]) == {}
