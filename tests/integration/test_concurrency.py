"""Concurrent pushes on both embedded backends: no 5xx, no acknowledged write lost.

moto (the memory backend) once raised `dictionary changed size during iteration`
under 50 concurrent pushes of one tag and the registry answered 500; the strict
backend must hold too."""
from __future__ import annotations

import os

import pytest
import requests

from concurrency_support import pushes_of_one_tag_and_one_blob_at_once
from support import Client, sha256

pytestmark = pytest.mark.backends("memory", "strict")


def test_50_pushes_of_one_tag_and_20_of_one_blob_at_once(registry, repo):
    pushes_of_one_tag_and_one_blob_at_once(registry.url, registry.admin, repo)


def test_create_upload_retried_after_a_lost_response_is_not_an_error(registry, repo):
    """Under load the SDK times out and retries; when the first PutItem had landed, the retry
    fails its `attribute_not_exists` condition. For a fresh upload id that is our own write
    (it answered 500 under the 50-push test before)."""
    import time
    import uuid

    from chalicelib.http.inject import services
    from chalicelib.storage.ports import UploadSession

    meta = services().metadata()
    session = UploadSession(upload_id=str(uuid.uuid4()), repo=repo, expires=int(time.time()) + 600)
    meta.create_upload(session)
    meta.create_upload(session)  # the retry
    assert meta.get_upload(session.upload_id).repo == repo


def test_concurrent_closes_of_one_chunked_upload(registry, repo):
    """Retried closing PUTs of one chunked upload whose bytes went into S3 parts: one
    completes the parts and copies; the others find the parts gone and must answer from
    the blob (201) or the ended session (404), never a 5xx."""
    import threading

    admin = Client(registry.url, auth=registry.admin)
    admin.login(repo)
    data = os.urandom(11 * 1024 * 1024)
    digest = sha256(data)
    r = admin.request("POST", f"/v2/{repo}/blobs/uploads/")
    loc = r.headers["Location"]
    for i in range(0, len(data), 6 * 1024 * 1024):  # two PATCHes: the first becomes an S3 part
        piece = data[i:i + 6 * 1024 * 1024]
        r = admin.request("PATCH", loc, data=piece, headers={
            "Content-Type": "application/octet-stream", "Content-Range": f"{i}-{i + len(piece) - 1}"})
        assert r.status_code == 202, r.text
        loc = r.headers["Location"]
    statuses: list = []
    start = threading.Barrier(4)

    def closer() -> None:
        start.wait()
        statuses.append(admin.request("PUT", loc, params={"digest": digest}).status_code)

    threads = [threading.Thread(target=closer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 201 in statuses and set(statuses) <= {201, 404}, statuses
    got = admin.request("GET", f"/v2/{repo}/blobs/{digest}")
    if got.status_code == 307:  # S3 serves the bytes
        got = requests.get(got.headers["Location"])
    assert got.status_code == 200 and sha256(got.content) == digest
