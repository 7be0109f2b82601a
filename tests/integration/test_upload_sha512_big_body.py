"""Over HTTP, on both backends: an upload sent as one body of a part or more and closed
with a sha512 digest is checked against the stored bytes (chalicelib/domain/
registry_uploads.py `_verify_stored`): right digest 201 and the same bytes back, wrong
digest 400 DIGEST_INVALID and nothing linked."""
from __future__ import annotations

import hashlib
import os

import pytest
import requests

pytestmark = pytest.mark.backends("memory", "strict")
MIB = 1024 * 1024


def _push(client, repo: str, data: bytes, digest: str) -> requests.Response:
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    r = client.request("PATCH", r.headers["Location"], data=data, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202, r.text
    return client.request("PUT", r.headers["Location"], params={"digest": digest})


def test_sha512_close_of_one_big_body(client, repo):
    data = os.urandom(6 * MIB + 123)
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    r = _push(client, repo, data, digest)
    assert r.status_code == 201, r.text
    got = client.request("GET", f"/v2/{repo}/blobs/{digest}")
    if got.status_code == 307:
        got = requests.get(got.headers["Location"])
    assert got.status_code == 200 and got.content == data


def test_wrong_sha512_of_one_big_body_is_refused_and_leaves_nothing(client, repo):
    data = os.urandom(6 * MIB)
    wrong = "sha512:" + hashlib.sha512(data + b"x").hexdigest()
    r = _push(client, repo, data, wrong)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID", r.text
    assert client.request("HEAD", f"/v2/{repo}/blobs/{wrong}").status_code == 404
