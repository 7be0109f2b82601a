"""Over HTTP, on both backends: a PATCH body the local server sends on to S3 as it arrives
(local/prestage.py) is taken by the session only as its first body; every other body it
staged is deleted, nothing is left under the upload's keys, and what is pulled back is
what was pushed."""
from __future__ import annotations

import hashlib
import os
import socket
import threading
import uuid
from urllib.parse import urlsplit

import pytest
import requests

from tests.support import sha256

pytestmark = pytest.mark.backends("memory", "strict")
MIB = 1024 * 1024


@pytest.fixture
def counts(registry):
    prestager = registry.server.app.prestager
    assert prestager is not None, "the local server stages PATCH bodies unless told not to"
    before = dict(prestager.counts)
    return lambda: {k: v - before[k] for k, v in prestager.counts.items()}


def _leftovers(registry, upload_id: str) -> list:
    keys, _ = registry.services.blobs().list_keys(f"uploads/{upload_id}/", "", 100)
    return [k for k, _, _ in keys]


def _start(client, repo: str) -> str:
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    return r.headers["Location"]


def _upload_id(location: str) -> str:
    return urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]


def _pull(client, repo: str, digest: str) -> bytes:
    r = client.request("GET", f"/v2/{repo}/blobs/{digest}")
    if r.status_code == 307:
        r = requests.get(r.headers["Location"])
    assert r.status_code == 200, r.text
    return r.content


def test_one_body_is_staged_and_taken_as_it_lies(client, repo, registry, counts):
    data = os.urandom(6 * MIB + 7)
    loc = _start(client, repo)
    r = client.request("PATCH", loc, data=data, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202 and r.headers["Range"] == f"0-{len(data) - 1}", r.text
    assert counts() == {"staged": 1, "adopted": 1, "deleted": 0}
    assert client.request("GET", r.headers["Location"]).headers["Range"] == f"0-{len(data) - 1}"
    r = client.request("PUT", r.headers["Location"], params={"digest": sha256(data)})
    assert r.status_code == 201, r.text
    assert _pull(client, repo, sha256(data)) == data
    assert _leftovers(registry, _upload_id(loc)) == []


def test_a_later_body_is_read_back_and_its_staged_copy_deleted(client, repo, registry, counts):
    first, second = os.urandom(5 * MIB), os.urandom(6 * MIB + 1)
    loc = _start(client, repo)
    r = client.request("PATCH", loc, data=first)
    assert r.status_code == 202, r.text
    # No Content-Range: the server cannot tell it is not the first; the session can.
    r = client.request("PATCH", r.headers["Location"], data=second)
    assert r.status_code == 202 and r.headers["Range"] == f"0-{len(first) + len(second) - 1}", r.text
    assert counts() == {"staged": 2, "adopted": 1, "deleted": 1}
    whole = first + second
    r = client.request("PUT", r.headers["Location"], params={"digest": "sha512:" + hashlib.sha512(whole).hexdigest()})
    assert r.status_code == 201, r.text
    assert _pull(client, repo, "sha512:" + hashlib.sha512(whole).hexdigest()) == whole
    assert _leftovers(registry, _upload_id(loc)) == []


def test_a_chunk_that_does_not_start_at_zero_is_not_staged(client, repo, counts):
    first, second = os.urandom(5 * MIB), os.urandom(5 * MIB)
    loc = _start(client, repo)
    r = client.request("PATCH", loc, data=first, headers={"Content-Range": f"0-{len(first) - 1}"})
    assert r.status_code == 202, r.text
    r = client.request("PATCH", r.headers["Location"], data=second,
                       headers={"Content-Range": f"{len(first)}-{len(first) + len(second) - 1}"})
    assert r.status_code == 202, r.text
    assert counts() == {"staged": 1, "adopted": 1, "deleted": 0}
    r = client.request("PUT", r.headers["Location"], params={"digest": sha256(first + second)})
    assert r.status_code == 201, r.text
    assert _pull(client, repo, sha256(first + second)) == first + second


def test_unknown_session_and_no_credentials_leave_nothing(client, repo, registry, counts):
    client.login(repo)   # the first PATCH carries a token: no 401 round first
    ghost = str(uuid.uuid4())
    r = client.request("PATCH", f"/v2/{repo}/blobs/uploads/{ghost}", data=os.urandom(5 * MIB))
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN", r.text
    assert _leftovers(registry, ghost) == []
    loc = _start(client, repo)
    anonymous = requests.patch(client.url(loc), data=os.urandom(5 * MIB))
    assert anonymous.status_code == 401, anonymous.text
    assert _leftovers(registry, _upload_id(loc)) == []
    assert counts() == {"staged": 2, "adopted": 0, "deleted": 2}
    assert client.request("GET", loc).headers["Range"] == "0-0"   # the session never moved


def test_a_token_sent_by_a_client_names_nothing(client, repo, counts):
    data = os.urandom(64 * 1024)
    loc = _start(client, repo)
    r = client.request("PATCH", loc, data=data, headers={"X-Registry-Staged-Body": "guessed-token"})
    assert r.status_code == 202 and r.headers["Range"] == f"0-{len(data) - 1}", r.text
    r = client.request("PUT", r.headers["Location"], params={"digest": sha256(data)})
    assert r.status_code == 201, r.text
    assert counts()["staged"] == 0


def test_two_first_bodies_at_once_one_wins_the_other_is_deleted(client, repo, registry, counts):
    loc = _start(client, repo)
    bodies = [os.urandom(5 * MIB), os.urandom(5 * MIB)]
    answers: list = [None, None]
    client.request("GET", loc)   # a token for this repository before the threads share it
    barrier = threading.Barrier(2)

    def patch(i: int) -> None:
        barrier.wait()
        answers[i] = client.request("PATCH", loc, data=bodies[i])

    threads = [threading.Thread(target=patch, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(a.status_code for a in answers)
    assert codes in ([202, 202], [202, 416]), [a.text for a in answers]
    assert counts()["staged"] == 2
    status = client.request("GET", loc).headers["Range"]
    if codes == [202, 416]:
        winner = bodies[[a.status_code for a in answers].index(202)]
        loser = answers[[a.status_code for a in answers].index(416)]
        assert loser.headers["Range"] == f"0-{len(winner) - 1}"   # the session as the winner left it
        assert counts() == {"staged": 2, "adopted": 1, "deleted": 1}
        whole = winner
    else:   # one after the other: the second was a later body
        assert counts() == {"staged": 2, "adopted": 1, "deleted": 1}
        whole = None
    if whole is not None:
        assert status == f"0-{len(whole) - 1}"
        r = client.request("PUT", loc, params={"digest": sha256(whole)})
        assert r.status_code == 201, r.text
        assert _pull(client, repo, sha256(whole)) == whole
        assert _leftovers(registry, _upload_id(loc)) == []


def test_a_body_cut_short_stores_nothing(client, repo, registry, counts):
    loc = _start(client, repo)
    token = client.http.auth.token
    host, port = urlsplit(registry.url).hostname, urlsplit(registry.url).port
    with socket.create_connection((host, port)) as s:
        s.sendall(f"PATCH {urlsplit(client.url(loc)).path} HTTP/1.1\r\nHost: {host}\r\n"
                  f"Authorization: Bearer {token}\r\nContent-Length: {6 * MIB}\r\n\r\n".encode())
        s.sendall(os.urandom(MIB))
        s.shutdown(socket.SHUT_WR)   # and no more
        s.settimeout(30)
        answer = s.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 400"), answer[:200]
    assert _leftovers(registry, _upload_id(loc)) == []
    assert client.request("GET", loc).headers["Range"] == "0-0"
    assert counts()["adopted"] == 0


def test_an_s3_that_fails_while_a_body_streams_is_503_with_retry_after(registry, repo):
    import boto3
    from botocore.config import Config

    from tests.support import Client

    dead = boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="y",
                        config=Config(retries={"max_attempts": 1}, connect_timeout=1, s3={"addressing_style": "path"}))
    with registry.variant(clients={"s3": dead}) as url:
        client = Client(url, auth=registry.admin)
        loc = _start(client, repo)
        r = client.request("PATCH", loc, data=os.urandom(5 * MIB))
        assert r.status_code == 503 and r.headers.get("Retry-After") == "1", r.text
        assert r.json()["errors"][0]["code"] == "UNKNOWN"
        assert client.request("GET", loc).headers["Range"] == "0-0"   # nothing moved
