"""Multipart direct uploads planned with the digest complete at the blob's own key
(If-None-Match: *), so the close copies nothing: an existing object there is never
replaced, bytes that do not hash to the digest never become visible, and retried or
concurrent closes still end in the blob. On the strict S3 (checksums, signatures,
conditional writes)."""
from __future__ import annotations

import os
import threading

import pytest
import requests

from client.direct import BytesSource, push_blob
from direct_support import (MIB, close, error, planned_parts, pull, settings, staged_objects, token,
                            upload_id)  # noqa: F401 (autouse fixture)
from support import Client, count_aws_calls, sha256

pytestmark = pytest.mark.backends("strict")

PART = 5 * MIB


@pytest.fixture(autouse=True)
def multipart_even_with_the_digest():
    with settings(direct_put_max=MIB):  # 11 MiB with its digest is planned as parts, not one PUT
        yield


def _blob_object(digest: str):
    """(size, SHA-256 checksum) of the object at the blob's key, or None."""
    from chalicelib.http.inject import services

    s3 = services().s3_client()
    try:
        head = s3.head_object(Bucket=services().settings.bucket_name, Key=_key(digest), ChecksumMode="ENABLED")
    except Exception:  # noqa: BLE001 - botocore's ClientError: no object
        return None
    return head["ContentLength"], head.get("ChecksumSHA256")


def _key(digest: str) -> str:
    from chalicelib.storage import keys

    return keys.blob_key(digest)


def _staged(client, repo, data: bytes, digest: str):
    """A session planned in place for `digest` whose parts (of `data`) S3 holds."""
    return planned_parts(client, repo, data, digest, PART)


def _close_until_done(client, up, digest) -> requests.Response:
    r = close(client, up, digest)
    while r.status_code == 202:
        r = close(client, up, digest)
    return r


def test_a_push_completes_at_the_blobs_key_without_a_copy(client, repo, capsys):
    data = os.urandom(11 * MIB)
    digest = sha256(data)
    with count_aws_calls() as aws:
        assert push_blob(client.http, client.base, repo, BytesSource(data), part_size=PART) == digest
    calls = dict(aws.calls)
    assert "s3.CopyObject" not in calls and "s3.DeleteObject" not in calls, calls
    assert calls == {"dynamodb.PutItem": 3, "dynamodb.GetItem": 3, "s3.CreateMultipartUpload": 1,
                     "s3.ListParts": 1, "s3.CompleteMultipartUpload": 1, "s3.GetObject": 1,
                     "dynamodb.TransactWriteItems": 1}, calls
    with capsys.disabled():
        print(f"\nAWS calls, 11 MiB direct multipart completed in place: {sum(calls.values())} {calls}")
    assert pull(client, repo, digest) == digest
    assert _blob_object(digest)[0] == len(data)


def test_wrong_bytes_planned_in_place_are_never_visible(client, repo):
    data = os.urandom(11 * MIB)
    claimed = sha256(os.urandom(11 * MIB))
    up = _staged(client, repo, data, claimed)  # S3 takes the parts: each matches its own checksum
    r = _close_until_done(client, up, claimed)
    assert r.status_code == 400 and error(r)["code"] == "DIGEST_INVALID", r.text
    assert client.request("HEAD", f"/v2/{repo}/blobs/{claimed}").status_code == 404
    assert _blob_object(claimed) is None  # the refused object is gone from the blob's key
    assert staged_objects(upload_id(up)) == []


def test_an_existing_blob_is_never_replaced(registry, client, repo):
    """Two sessions planned in place for one digest before either closed: the right bytes
    win; the other session's parts never replace them (412 at its completion)."""
    data = os.urandom(11 * MIB)
    digest = sha256(data)
    wrong = bytearray(data)
    wrong[-1] ^= 1
    other = Client(registry.url, auth=registry.admin)
    other.login(repo + "-b")
    good = _staged(client, repo, data, digest)
    bad = _staged(other, repo + "-b", bytes(wrong), digest)
    assert _close_until_done(client, good, digest).status_code == 201
    before = _blob_object(digest)
    r = _close_until_done(other, bad, digest)
    assert r.status_code == 400 and error(r)["code"] == "BLOB_UPLOAD_INVALID", r.text
    assert error(r)["detail"].get("pushAgain") is True
    assert _blob_object(digest) == before and pull(client, repo, digest) == digest
    assert other.request("HEAD", f"/v2/{repo}-b/blobs/{digest}").status_code == 404


def test_the_same_blob_pushed_in_place_twice_at_once(registry, client, repo):
    """Both sessions planned before either closed: the second finds the first's object,
    the same bytes part for part, and carries on with it; both repositories get the blob."""
    data = os.urandom(11 * MIB)
    digest = sha256(data)
    other = Client(registry.url, auth=registry.admin)
    other.login(repo + "-b")
    first = _staged(client, repo, data, digest)
    second = _staged(other, repo + "-b", data, digest)
    assert _close_until_done(client, first, digest).status_code == 201
    assert _close_until_done(other, second, digest).status_code == 201
    assert pull(client, repo, digest) == digest and pull(other, repo + "-b", digest) == digest


def test_concurrent_and_retried_closes_in_place(client, repo):
    data = os.urandom(11 * MIB)
    digest = sha256(data)
    up = _staged(client, repo, data, digest)
    statuses: list = []

    def closer() -> None:
        for _ in range(200):
            r = close(client, up, digest)
            statuses.append(r.status_code)
            if r.status_code != 202:
                return

    with settings(direct_put_max=MIB, direct_verify_seconds=0):  # many calls: more interleavings
        threads = [threading.Thread(target=closer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert 201 in statuses and set(statuses) <= {201, 202, 404}, statuses
    assert pull(client, repo, digest) == digest


def test_a_blob_the_registry_holds_is_staged_not_planned_in_place(client, repo):
    data = os.urandom(11 * MIB)
    digest = sha256(data)
    push_blob(client.http, client.base, repo, BytesSource(data), part_size=PART)
    before = _blob_object(digest)
    up = _staged(client, repo + "x", data, digest)
    assert _close_until_done(client, up, digest).status_code == 201
    assert _blob_object(digest) == before
