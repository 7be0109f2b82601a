"""Races on one item: exactly one winner where the port promises one, and no lost write.

Threads start together at a barrier; each implementation must hold the
invariant with its own means (a lock in the fakes, conditional writes and
transactions in the adapters).
"""
from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest

from chalicelib.storage.ports import ManifestRecord, UploadSession
from support import sha256

THREADS = 8


def _race(fn: Callable[[int], Any]) -> list:
    barrier = threading.Barrier(THREADS)

    def run(i: int) -> Any:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def test_one_winner_on_an_upload_offset(impl, repo):
    s = UploadSession(upload_id=uuid.uuid4().hex, repo=repo, expires=int(time.time()) + 600)
    impl.meta.create_upload(s)

    def advance(i: int) -> bool:
        mine = UploadSession(upload_id=s.upload_id, repo=repo, offset=100 + i, expires=s.expires,
                             hash_state=bytes([i]))
        return impl.meta.save_upload(mine, expected_offset=0)

    won = _race(advance)
    assert won.count(True) == 1
    winner = won.index(True)
    got = impl.meta.get_upload(s.upload_id)
    assert (got.offset, got.hash_state) == (100 + winner, bytes([winner]))   # the winner's whole write


def test_one_winner_on_a_link(impl, repo):
    digest = sha256(repo.encode())
    won = _race(lambda i: impl.meta.link_blob(repo, digest, 3, f"blobs/{i}"))
    assert won.count(True) == 1
    assert impl.meta.get_blob_link(repo, digest).s3_key == f"blobs/{won.index(True)}"
    # one link: it unlinks exactly once
    assert _race(lambda i: impl.meta.unlink_blob(repo, digest)).count(True) == 1


def test_links_in_many_repositories_all_land(impl, repo):
    digest = sha256(repo.encode())
    assert all(_race(lambda i: impl.meta.link_blob(f"{repo}-{i}", digest, 3, "blobs/x")))
    found = [impl.meta.get_blob_link(f"{repo}-{i}", digest) for i in range(THREADS)]
    assert all(f is not None for f in found)
    assert impl.meta.get_blob(digest).size == 3


def test_one_tag_many_pushes_no_lost_write(impl, repo):
    def push(i: int) -> str:
        body = f'{{"n":{i}}}'.encode()
        m = ManifestRecord(repo=repo, digest=sha256(body), media_type="application/json", size=len(body),
                           body=body)
        impl.meta.put_manifest(m, "latest", [], [])
        return m.digest

    digests = _race(push)
    assert all(impl.meta.get_manifest(repo, d) is not None for d in digests)   # every manifest kept
    tag = impl.meta.get_tag(repo, "latest")
    assert tag.digest in digests
    assert tag.body == impl.meta.get_manifest(repo, tag.digest).body          # tag and copy agree
    assert impl.meta.list_tags(repo, 10, None) == (["latest"], False)


def test_one_winner_on_an_account_name(impl):
    name = f"race{uuid.uuid4().hex[:10]}"
    won = _race(lambda i: impl.accounts.create_account(name, f"hash{i}"))
    assert won.count(True) == 1
    assert impl.accounts.get_account(name).password_hash == f"hash{won.index(True)}"


def test_one_winner_on_a_namespace(impl):
    ns = f"ns{uuid.uuid4().hex[:10]}"
    assert _race(lambda i: impl.accounts.create_namespace(ns, f"o{i}")).count(True) == 1


def test_reservations_never_exceed_the_limit(impl):
    key = f"ip:{uuid.uuid4().hex[:10]}"
    start = int(time.time()) // 300 * 300
    got = _race(lambda i: impl.accounts.reserve_attempts({key: 3}, start, start + 300))
    # a contended transaction may refuse too (never over-admit): at most 3 winners
    assert 1 <= got.count(None) <= 3
    assert impl.accounts.reserve_attempts({key: 3}, start, start + 300) == (key if got.count(None) == 3 else None)


def test_delete_by_digest_never_takes_a_tag_moved_meanwhile(impl, repo, request):
    """Deleting manifest A while its tags move to B: A is gone when the delete says so,
    and every moved tag survives, pointing at B. Rounds until a race shows (at most 10)."""
    for round_ in range(10):
        broken = _delete_while_retagging(impl, f"{repo}-{round_}")
        if broken:
            break
    assert not broken


def _delete_while_retagging(impl, repo: str) -> list:
    def record(seed: str) -> ManifestRecord:
        body = f'{{"seed":"{seed}"}}'.encode()
        return ManifestRecord(repo=repo, digest=sha256(body), media_type="application/json",
                              size=len(body), body=body)

    a, b = record("a"), record("b")
    tags = [f"t{i}" for i in range(THREADS - 1)]
    for tag in tags:
        impl.meta.put_manifest(a, tag, [], [])
    impl.meta.put_manifest(b, None, [], [])

    def act(i: int) -> object:
        if i == 0:
            return impl.meta.delete_manifest(repo, a.digest)
        return impl.meta.put_manifest(b, tags[i - 1], [], [])

    deleted = _race(act)[0]
    broken = []
    if deleted is not True or impl.meta.get_manifest(repo, a.digest) is not None:
        broken.append(f"manifest A: delete said {deleted}, still there: "
                      f"{impl.meta.get_manifest(repo, a.digest) is not None}")
    moved = [t for t in tags if (impl.meta.get_tag(repo, t) or a).digest != b.digest]
    if moved:
        broken.append(f"tags lost or not moved: {moved}")
    return broken


def test_one_chart_wins_a_download_file_name(impl):
    """Eight charts whose name and version spell the same file: one entry, its owner's."""
    from chalicelib.storage.helm_ports import ChartEntry, ChartFileTaken

    ns = f"ns{uuid.uuid4().hex[:10]}"
    parts = ["x"] + [str(i) for i in range(1, THREADS + 1)]      # x-1-2-...-8

    def put(i: int) -> bool:
        name, version = "-".join(parts[:i + 1]), "-".join(parts[i + 1:])
        try:
            impl.helm.put_entry(ChartEntry(namespace=ns, repo=f"{ns}/{name}", name=name, version=version,
                                           digest=sha256(name.encode()), chart_digest=sha256(b"c"),
                                           chart_size=1, metadata={"name": name}))
            return True
        except ChartFileTaken:
            return False

    won = _race(put)
    assert won.count(True) == 1
    entries = list(impl.helm.entries(ns))
    assert len(entries) == 1 and entries[0].name == "-".join(parts[:won.index(True) + 1])
