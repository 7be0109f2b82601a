"""Open direct uploads (docs/direct-upload.md): a multipart plan without a size, for a
client that streams a blob of unknown length (the push gateway behind docker). Every
part but the last is partSize bytes; the last one's size comes with its plan; the close
takes the size from the parts S3 holds. On the strict S3 (checks signatures and checksums)."""
from __future__ import annotations

import os

import pytest

from client.direct import sha256_b64
from direct_support import (MIB, blob_visible, close, error, open_upload, parts_of, pull, put_part,
                            staged_objects, token, upload_id)  # noqa: F401 (autouse fixture)
from support import sha256

pytestmark = pytest.mark.backends("strict")


def _plan_parts(up, pieces, numbers, sized_last=True):
    parts = []
    for n in numbers:
        piece = pieces[n - 1]
        parts.append((n, sha256_b64(piece), len(piece)) if sized_last and n == len(pieces) else
                     (n, sha256_b64(piece)))
    return up.plan(None, parts=parts)


def test_open_upload_takes_its_size_at_the_close(client, repo):
    data = os.urandom(12 * MIB + 5)
    digest = sha256(data)
    pieces = parts_of(data, 5 * MIB)
    up = open_upload(client, repo)
    first = up.plan(None, part_size=5 * MIB)
    assert first["method"] == "multipart" and first["size"] is None and first["partCount"] is None
    assert up.status()["size"] is None
    plan = _plan_parts(up, pieces, [1, 2, 3])
    assert [p["size"] for p in plan["parts"]] == [5 * MIB, 5 * MIB, 2 * MIB + 5]
    for p in plan["parts"]:
        assert put_part(up, p, pieces[p["number"] - 1]).status_code == 200
    assert not blob_visible(client, repo, digest)
    assert up.close(digest) == digest
    assert pull(client, repo, digest) == digest
    assert staged_objects(upload_id(up)) == []


def test_open_upload_of_whole_parts_only(client, repo):
    data = os.urandom(10 * MIB)
    pieces = parts_of(data, 5 * MIB)
    up = open_upload(client, repo)
    up.plan(None, part_size=5 * MIB)
    for p in _plan_parts(up, pieces, [1, 2], sized_last=False)["parts"]:
        assert put_part(up, p, pieces[p["number"] - 1]).status_code == 200
    assert up.close(sha256(data)) == sha256(data)


def test_open_upload_refuses_gaps_short_middle_parts_and_a_size_later(client, repo):
    data = os.urandom(12 * MIB)
    digest = sha256(data)
    pieces = parts_of(data, 5 * MIB)
    up = open_upload(client, repo)
    up.plan(None, part_size=5 * MIB)
    # a size after an open first plan contradicts it
    r = client.request("POST", up.location + "/direct", json={"size": len(data)})
    assert r.status_code == 400 and error(r)["detail"]["planned"] == {"size": None}
    # nothing uploaded: the close names part 1
    r = close(client, up, digest)
    assert r.status_code == 400 and error(r)["detail"]["missing"] == [1]
    # parts 1 and 3 only: 2 is missing
    plan = _plan_parts(up, pieces, [1, 3])
    for p in plan["parts"]:
        assert put_part(up, p, pieces[p["number"] - 1]).status_code == 200
    r = close(client, up, digest)
    assert r.status_code == 400 and error(r)["detail"]["missing"] == [2]
    # part 2 sent short (as if it were the last): refused at the close, the session kept
    short = pieces[1][:MIB]
    plan = up.plan(None, parts=[(2, sha256_b64(short), len(short))])
    assert put_part(up, plan["parts"][0], short).status_code == 200
    r = close(client, up, digest)
    assert r.status_code == 400 and error(r)["detail"]["parts"] == [2]
    assert not blob_visible(client, repo, digest)
    # the right part 2 completes it
    assert put_part(up, _plan_parts(up, pieces, [2])["parts"][0], pieces[1]).status_code == 200
    assert up.close(digest) == digest
    assert pull(client, repo, digest) == digest


def test_open_upload_with_bytes_not_matching_the_digest_is_never_visible(client, repo):
    data = os.urandom(7 * MIB)
    pieces = parts_of(data, 5 * MIB)
    up = open_upload(client, repo)
    up.plan(None, part_size=5 * MIB)
    for p in _plan_parts(up, pieces, [1, 2])["parts"]:
        assert put_part(up, p, pieces[p["number"] - 1]).status_code == 200
    wrong = sha256(data + b"x")
    r = close(client, up, wrong)
    assert r.status_code == 400 and error(r)["code"] == "DIGEST_INVALID", r.text
    assert not blob_visible(client, repo, wrong) and not blob_visible(client, repo, sha256(data))
