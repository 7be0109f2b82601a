"""Errors, throttling, concurrency and all-or-nothing writes."""
from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager

import pytest
from botocore.exceptions import ClientError

from support import sha256

OCI = "application/vnd.oci.image.manifest.v1+json"


@contextmanager
def aws_fault(operation: str, exc: Exception):
    """Make one DynamoDB operation fail the way AWS would (moto cannot throttle)."""
    from chalicelib.http.inject import services

    client = services().dynamodb_client()

    def fail(**kwargs):
        raise exc

    event = f"before-call.dynamodb.{operation}"
    client.meta.events.register(event, fail)
    try:
        yield
    finally:
        client.meta.events.unregister(event, fail)


def test_throttling_becomes_429_with_retry_after(client, repo):
    client.push_image(repo, "v1")
    err = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                      "GetItem")
    with aws_fault("GetItem", err):
        r = client.request("GET", f"/v2/{repo}/manifests/v1")
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"
    assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"


def test_unexpected_failure_is_500_without_stack_trace(client, repo, caplog):
    client.push_image(repo, "v1")
    with aws_fault("GetItem", RuntimeError("boom in storage")):
        r = client.request("GET", f"/v2/{repo}/manifests/v1")
    assert r.status_code == 500
    body = r.json()
    assert body["errors"][0]["code"] == "UNKNOWN"
    assert "requestId" in body["errors"][0]["detail"]
    assert "Traceback" not in r.text and "boom" not in r.text


def test_manifest_with_missing_blob_leaves_nothing(client, repo):
    cfg = client.push_blob(repo, b"{}")
    missing = sha256(b"never uploaded")
    doc = {"schemaVersion": 2, "mediaType": OCI,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": 2},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": missing,
                       "size": 14}]}
    body = json.dumps(doc).encode()
    r = client.push_manifest(repo, "v1", body)
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert err["code"] == "MANIFEST_BLOB_UNKNOWN" and missing in json.dumps(err["detail"])
    assert client.request("GET", f"/v2/{repo}/manifests/v1").status_code == 404
    assert client.request("GET", f"/v2/{repo}/manifests/{sha256(body)}").status_code == 404
    assert client.request("GET", f"/v2/{repo}/tags/list").json()["tags"] == []


def test_concurrent_patches_have_one_winner(client, repo):
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    loc = r.headers["Location"]
    results = []
    barrier = threading.Barrier(6)

    def patch(i):
        barrier.wait()
        resp = client.request("PATCH", loc, data=f"chunk-{i}".encode() * 3,
                              headers={"Content-Range": "0-20", "Content-Type": "application/octet-stream"})
        results.append(resp.status_code)

    threads = [threading.Thread(target=patch, args=(i,)) for i in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results).count(202) == 1, results
    assert all(s in (202, 416) for s in results)
    status = client.request("GET", loc)
    assert status.status_code == 204 and status.headers["Range"] == "0-20"


def test_concurrent_tag_pushes_leave_one_consistent_winner(client, repo):
    images = [client.push_image(repo, None, seed=f"s{i}") for i in range(5)]
    barrier = threading.Barrier(len(images))

    def push(body):
        barrier.wait()
        assert client.push_manifest(repo, "race", body).status_code == 201

    threads = [threading.Thread(target=push, args=(b,)) for _, b in images]
    [t.start() for t in threads]
    [t.join() for t in threads]
    r = client.request("GET", f"/v2/{repo}/manifests/race")
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == sha256(r.content)
    assert r.content in [b for _, b in images]


def test_chunked_upload_through_s3_multipart(client, repo):
    """4 MiB chunks (below S3's 5 MiB part minimum) are buffered into valid parts."""
    data = os.urandom(4 * 1024 * 1024) * 3 + b"tail"
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert int(r.headers["OCI-Chunk-Min-Length"]) >= 5 * 1024 * 1024
    loc, offset = r.headers["Location"], 0
    step = 4 * 1024 * 1024
    while offset < len(data):
        chunk = data[offset:offset + step]
        r = client.request("PATCH", loc, data=chunk, headers={
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
            "Content-Type": "application/octet-stream"})
        assert r.status_code == 202, r.text
        offset += len(chunk)
        assert r.headers["Range"] == f"0-{offset - 1}"
        loc = r.headers["Location"]
    r = client.request("PUT", loc, params={"digest": sha256(data)})
    assert r.status_code == 201, r.text
    head = client.request("HEAD", f"/v2/{repo}/blobs/{sha256(data)}")
    assert int(head.headers["Content-Length"]) == len(data)
    got = client.http.get(client.request("GET", f"/v2/{repo}/blobs/{sha256(data)}").headers["Location"])
    assert got.content == data


def test_digest_mismatch_discards_upload(client, repo):
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    loc = r.headers["Location"]
    client.request("PATCH", loc, data=b"abc")
    wrong = sha256(b"something else")
    r = client.request("PUT", loc, params={"digest": wrong})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert client.request("HEAD", f"/v2/{repo}/blobs/{wrong}").status_code == 404
    assert client.request("HEAD", f"/v2/{repo}/blobs/{sha256(b'abc')}").status_code == 404
    assert client.request("GET", loc).status_code == 404


@pytest.fixture(scope="module")
def limited(registry):
    """A second gateway, on the same embedded AWS, that enforces Lambda's limits."""
    from support import Client

    with registry.variant(lambda_limits=True) as url:
        yield Client(url, auth=registry.admin)


def test_lambda_limits_refuse_large_bodies_and_advertise_small_chunks(registry, limited, repo):
    r = limited.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202
    assert int(r.headers["OCI-Chunk-Min-Length"]) == 4 * 1024 * 1024
    loc = r.headers["Location"]
    big = os.urandom(5 * 1024 * 1024)  # 6.7 MB once base64-encoded
    r = limited.request("PATCH", loc, data=big, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 413
    err = r.json()["errors"][0]
    assert err["code"] == "SIZE_INVALID" and "6 MB" in err["message"]
    # a chunk of the advertised size fits, and the upload still completes
    data = os.urandom(4 * 1024 * 1024)
    r = limited.request("PATCH", loc, data=data, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202, r.text
    r = limited.request("PUT", r.headers["Location"], params={"digest": sha256(data)})
    assert r.status_code == 201


def test_referrer_with_huge_annotations_is_stored(client, repo):
    subject, _ = client.push_image(repo, "base")
    big = {f"k{i}": "v" * 10_000 for i in range(20)}  # 200 KB of annotations
    digest, body = client.push_image(repo, None, seed="sig", extra={
        "subject": {"mediaType": OCI, "digest": subject, "size": 1}, "annotations": big})
    assert client.request("GET", f"/v2/{repo}/manifests/{digest}").content == body
    small = {"org.example": "kept"}
    d2, _ = client.push_image(repo, None, seed="sig2", extra={
        "subject": {"mediaType": OCI, "digest": subject, "size": 1}, "annotations": small})
    refs = {m["digest"]: m for m in client.request("GET", f"/v2/{repo}/referrers/{subject}").json()["manifests"]}
    assert set(refs) == {digest, d2}
    assert "annotations" not in refs[digest]  # over the 64 KiB index limit (documented)
    assert refs[d2]["annotations"] == small


def test_media_type_allow_list(client, repo):
    """REGISTRY_ALLOWED_MEDIA_TYPES refuses other config/layer/artifact types, clearly."""
    from dataclasses import replace

    from chalicelib.http.inject import services

    reg = services().registry()
    original = reg.settings
    reg.settings = replace(original, allowed_media_types=("application/vnd.oci.image.*", "application/vnd.cncf.helm.*"))
    try:
        ok, _ = client.push_image(repo, "image")  # OCI config and layer types: allowed
        cfg = client.push_blob(repo, b"{}")
        doc = {"schemaVersion": 2, "mediaType": OCI, "artifactType": "application/x-evil",
               "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": 2},
               "layers": []}
        r = client.push_manifest(repo, "evil", doc)
        assert r.status_code == 400
        err = r.json()["errors"][0]
        assert err["code"] == "MANIFEST_INVALID"
        assert err["detail"]["refused"] == ["application/vnd.oci.empty.v1+json", "application/x-evil"]
        assert client.request("GET", f"/v2/{repo}/manifests/evil").status_code == 404
    finally:
        reg.settings = original
    assert client.push_manifest(repo, "evil", doc).status_code == 201  # open by default
