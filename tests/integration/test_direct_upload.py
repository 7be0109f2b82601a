"""Direct-to-S3 uploads (docs/direct-upload.md) over real HTTP, on the strict S3
(ministack: checks presigned signatures, expiry and x-amz-checksum-sha256)."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import threading
import time
from contextlib import contextmanager

import pytest
import requests

from client.direct import BytesSource, DirectUpload, FileSource, push_blob, sha256_b64
from support import Client, count_aws_calls, sha256

pytestmark = pytest.mark.backends("strict")
MIB = 1024 * 1024
OCI = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(autouse=True)
def token(registry, client, repo):
    if getattr(registry, "backend", "memory") != "strict":
        pytest.skip("direct uploads are tested on the strict S3 only (moto checks no checksums)")
    client.login(repo)


@contextmanager
def settings(**changes):
    """Run with some registry settings changed (the local server is in this process)."""
    from chalicelib import bootstrap

    reg = bootstrap.registry()
    old = reg.settings
    reg.settings = dataclasses.replace(old, **changes)
    try:
        yield
    finally:
        reg.settings = old


def open_upload(client: Client, repo: str) -> DirectUpload:
    up = DirectUpload(client.http, client.base, repo)
    assert up.open(), "POST /blobs/uploads/ must advertise OCI-Direct-Upload: v1"
    return up


def put_part(up: DirectUpload, plan_part: dict, data: bytes) -> requests.Response:
    return requests.put(plan_part["url"], data=data, headers=plan_part["headers"])


def close(client: Client, up: DirectUpload, digest: str) -> requests.Response:
    return client.request("PUT", up.location, params={"digest": digest}, data=b"")


def error(r: requests.Response) -> dict:
    return r.json()["errors"][0]


def blob_visible(client: Client, repo: str, digest: str) -> bool:
    return client.request("HEAD", f"/v2/{repo}/blobs/{digest}").status_code == 200


def pull(client: Client, repo: str, digest: str) -> str:
    """sha256 of the blob as served (307 to S3, streamed)."""
    r = client.request("GET", f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 307, r.text
    h = hashlib.sha256()
    with requests.get(r.headers["Location"], stream=True) as resp:
        assert resp.status_code == 200
        for chunk in resp.iter_content(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def staged_objects(upload_id: str) -> list:
    from chalicelib import bootstrap

    s3 = bootstrap.s3_client()
    resp = s3.list_objects_v2(Bucket=bootstrap.settings().bucket_name, Prefix=f"uploads/{upload_id}/")
    return [o["Key"] for o in resp.get("Contents", [])]


def upload_id(up: DirectUpload) -> str:
    return up.location.rsplit("/", 1)[-1]


def parts_of(data: bytes, part_size: int) -> list[bytes]:
    return [data[i:i + part_size] for i in range(0, len(data), part_size)]


def test_single_put_visible_only_after_close(client, repo):
    data = os.urandom(MIB + 7)
    digest = sha256(data)
    up = open_upload(client, repo)
    plan = up.plan(len(data), digest)
    assert plan["method"] == "put"
    assert plan["headers"]["x-amz-checksum-sha256"] == sha256_b64(data)
    assert "x-amz-checksum-sha256" in plan["url"].lower()  # the checksum is signed
    assert requests.put(plan["url"], data=data, headers=plan["headers"]).status_code == 200
    assert up.status()["uploaded"] is True
    assert not blob_visible(client, repo, digest)
    r = close(client, up, digest)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert pull(client, repo, digest) == digest
    assert staged_objects(upload_id(up)) == []


def test_multipart_of_three_parts(client, repo):
    data = os.urandom(12 * MIB + 5)
    up = open_upload(client, repo)
    pieces = parts_of(data, 5 * MIB)
    plan = up.plan(len(data), part_size=5 * MIB,
                   parts=[(n, sha256_b64(p)) for n, p in enumerate(pieces, 1)])
    assert plan["method"] == "multipart" and plan["partCount"] == 3 and len(plan["parts"]) == 3
    threads = [threading.Thread(target=put_part, args=(up, p, pieces[p["number"] - 1]))
               for p in plan["parts"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = up.status()["parts"]
    assert [(p["number"], p["size"]) for p in held] == [(1, 5 * MIB), (2, 5 * MIB), (3, 2 * MIB + 5)]
    assert up.close(sha256(data)) == sha256(data)
    assert pull(client, repo, sha256(data)) == sha256(data)


def test_corrupted_part_refused_by_s3_and_blob_never_visible(client, repo):
    data = os.urandom(11 * MIB)
    digest = sha256(data)
    pieces = parts_of(data, 5 * MIB)
    up = open_upload(client, repo)
    plan = up.plan(len(data), None, 5 * MIB, [(n, sha256_b64(p)) for n, p in enumerate(pieces, 1)])
    bad = bytearray(pieces[1])
    bad[1234] ^= 0xFF
    for p in plan["parts"]:
        body = bytes(bad) if p["number"] == 2 else pieces[p["number"] - 1]
        r = put_part(up, p, body)
        assert r.status_code == (400 if p["number"] == 2 else 200), r.text
    r = close(client, up, digest)
    assert r.status_code == 400 and error(r)["code"] == "BLOB_UPLOAD_INVALID"
    assert error(r)["detail"]["missing"] == [2]
    assert not blob_visible(client, repo, digest)
    # the session survives: the right bytes complete it
    assert put_part(up, plan["parts"][1], pieces[1]).status_code == 200
    assert up.close(digest) == digest
    assert pull(client, repo, digest) == digest


def test_single_put_with_bytes_not_matching_the_declared_digest_refused_by_s3(client, repo):
    data, other = os.urandom(4096), os.urandom(4096)
    up = open_upload(client, repo)
    plan = up.plan(len(data), sha256(other))
    r = requests.put(plan["url"], data=data, headers=plan["headers"])
    assert r.status_code == 400, r.text
    # without the checksum header (or with another one) the signature does not hold
    no_sum = {k: v for k, v in plan["headers"].items() if k != "x-amz-checksum-sha256"}
    assert requests.put(plan["url"], data=data, headers=no_sum).status_code == 403
    forged = {**plan["headers"], "x-amz-checksum-sha256": sha256_b64(data)}
    assert requests.put(plan["url"], data=data, headers=forged).status_code == 403
    r = close(client, up, sha256(other))
    assert r.status_code == 400 and error(r)["code"] == "BLOB_UPLOAD_INVALID"
    assert not blob_visible(client, repo, sha256(other)) and not blob_visible(client, repo, sha256(data))


def test_multipart_with_a_wrong_digest_is_never_visible(client, repo):
    data = os.urandom(6 * MIB)
    wrong = sha256(data + b"!")
    up = open_upload(client, repo)
    pieces = parts_of(data, 5 * MIB)
    plan = up.plan(len(data), part_size=5 * MIB, parts=[(n, sha256_b64(p)) for n, p in enumerate(pieces, 1)])
    for p in plan["parts"]:
        assert put_part(up, p, pieces[p["number"] - 1]).status_code == 200
    r = close(client, up, wrong)
    while r.status_code == 202:
        r = close(client, up, wrong)
    assert r.status_code == 400 and error(r)["code"] == "DIGEST_INVALID"
    assert error(r)["detail"]["actual"] == sha256(data)
    assert not blob_visible(client, repo, wrong) and not blob_visible(client, repo, sha256(data))
    assert client.request("GET", up.location).status_code == 404  # session discarded
    assert staged_objects(upload_id(up)) == []  # nothing left in S3


def test_two_clients_push_the_same_blob_at_once(registry, repo):
    data = os.urandom(11 * MIB)
    digest = sha256(data)
    repos = [repo, repo, repo + "-other"]
    results, errors = [], []

    def push(name):
        c = Client(registry.url, auth=registry.admin)
        c.login(name)
        try:
            results.append(push_blob(c.http, c.base, name, BytesSource(data), part_size=5 * MIB,
                                     single_put=False))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(name,)) for name in repos]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [digest] * 3
    for name in set(repos):
        c = Client(registry.url, auth=registry.admin)
        c.login(name)
        assert pull(c, name, digest) == digest


def test_resume_after_an_interruption(client, repo):
    data = os.urandom(4 * 5 * MIB + 1)
    digest = sha256(data)
    pieces = parts_of(data, 5 * MIB)
    up = open_upload(client, repo)
    plan = up.plan(len(data), part_size=5 * MIB, parts=[(n, sha256_b64(p)) for n, p in enumerate(pieces, 1)])
    for p in plan["parts"]:
        if p["number"] in (1, 3):
            assert put_part(up, p, pieces[p["number"] - 1]).status_code == 200
    # ... the client dies here; a new one resumes from the Location
    assert [p["number"] for p in up.status()["parts"]] == [1, 3]
    s3 = requests.Session()
    sent = []
    s3.hooks["response"].append(lambda r, **kw: sent.append(r.request.url))
    assert push_blob(client.http, client.base, repo, BytesSource(data), location=up.location, s3=s3) == digest
    assert sorted(int(u.split("partNumber=")[1].split("&")[0]) for u in sent) == [2, 4, 5]
    assert pull(client, repo, digest) == digest


def test_expired_url_refused(client, repo):
    data = os.urandom(5000)
    up = open_upload(client, repo)
    with settings(direct_url_ttl=1):
        plan = up.plan(len(data), sha256(data))
    assert plan["expiresAt"] <= time.time() + 1
    time.sleep(2.5)
    r = requests.put(plan["url"], data=data, headers=plan["headers"])
    assert r.status_code == 403, r.text
    fresh = up.plan(len(data), sha256(data))  # planning again is free and gives a live URL
    assert requests.put(fresh["url"], data=data, headers=fresh["headers"]).status_code == 200
    assert up.close(sha256(data)) == sha256(data)


def test_verification_spans_calls_and_manifests_wait_for_it(client, repo):
    """With no time budget each close hashes one slice: 202s with a growing Range; a
    manifest naming the blob meanwhile gets MANIFEST_BLOB_UNKNOWN saying why."""
    data = os.urandom(12 * MIB)
    digest = sha256(data)
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    cfg = client.push_blob(repo, config)
    manifest = {"schemaVersion": 2, "mediaType": OCI,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg,
                           "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": digest, "size": len(data)}]}
    up = open_upload(client, repo)
    pieces = parts_of(data, 5 * MIB)
    plan = up.plan(len(data), part_size=5 * MIB, parts=[(n, sha256_b64(p)) for n, p in enumerate(pieces, 1)])
    for p in plan["parts"]:
        assert put_part(up, p, pieces[p["number"] - 1]).status_code == 200
    ranges = []
    with settings(direct_verify_seconds=0):
        r = close(client, up, digest)
        assert r.status_code == 202 and r.headers["Retry-After"]
        ranges.append(r.headers["Range"])
        m = client.push_manifest(repo, "v1", manifest)
        assert m.status_code == 400 and error(m)["code"] == "MANIFEST_BLOB_UNKNOWN"
        assert error(m)["detail"]["verifying"] == [digest]
        assert up.status()["state"] == "verifying"
        while r.status_code == 202:
            r = close(client, up, digest)
            ranges.append(r.headers.get("Range"))
    assert r.status_code == 201, r.text
    assert len(ranges) >= 3
    assert client.push_manifest(repo, "v1", manifest).status_code == 201
    assert pull(client, repo, digest) == digest


BAD_PLANS = [
    (b"not json", "BLOB_UPLOAD_INVALID"),
    (b"[]", "BLOB_UPLOAD_INVALID"),
    (b"[" * 100000, "BLOB_UPLOAD_INVALID"),
    (json.dumps({}).encode(), "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": -1}).encode(), "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": "10"}).encode(), "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": True}).encode(), "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": 1.5}).encode(), "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": 6 * 1024 ** 4}).encode(), "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": 10, "surprise": 1}).encode(), "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": 10 * MIB, "partSize": MIB}).encode(), "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": 10 * MIB, "partSize": 5 * MIB + 0.5}).encode(), "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": 10 * MIB, "parts": [{"number": 0, "sha256": "A" * 43 + "="}]}).encode(),
     "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": 10 * MIB, "parts": [{"number": 1, "sha256": "A" * 43 + "=\n"}]}).encode(),
     "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": 10 * MIB, "parts": [{"number": 1, "sha256": "not base64"}]}).encode(),
     "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": 10 * MIB, "parts": [{"number": 1, "sha256": 7}]}).encode(), "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": 10 * MIB, "parts": {"number": 1}}).encode(), "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": 10 * MIB, "parts": [{"number": 1, "sha256": "A" * 43 + "="}] * 1001}).encode(),
     "BLOB_UPLOAD_INVALID"),
    (json.dumps({"size": 10, "digest": "sha512:" + "a" * 128}).encode(), "DIGEST_INVALID"),
    (json.dumps({"size": 10, "digest": "sha256:" + "a" * 64 + "\n"}).encode(), "DIGEST_INVALID"),
    (json.dumps({"size": 10, "digest": "md5:abc"}).encode(), "DIGEST_INVALID"),
    (json.dumps({"size": 0}).encode(), "BLOB_UPLOAD_INVALID"),
]


@pytest.mark.parametrize("body,code", BAD_PLANS)
def test_bad_plans_are_clear_4xx_and_change_nothing(client, repo, body, code):
    up = open_upload(client, repo)
    r = client.request("POST", f"{up.location}/direct", data=body,
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert error(r)["code"] == code and error(r)["detail"]
    assert up.status() == {"method": None, "state": "new"}


def test_misuse_of_a_direct_session(registry, client, repo):
    data = os.urandom(6 * MIB)
    up = open_upload(client, repo)
    plan = up.plan(len(data), part_size=5 * MIB, parts=[(2, sha256_b64(data[5 * MIB:]))])
    assert plan["parts"][0]["size"] == MIB
    cases = [
        client.request("POST", f"{up.location}/direct", json={"size": len(data) + 1}),  # contradicts
        client.request("POST", f"{up.location}/direct", json={"size": len(data), "partSize": 6 * MIB}),
        client.request("POST", f"{up.location}/direct",
                       json={"size": len(data), "parts": [{"number": 3, "sha256": "A" * 43 + "="}]}),
        client.request("POST", f"{up.location}/direct",
                       json={"size": len(data), "parts": [{"number": 1, "size": 1, "sha256": "A" * 43 + "="}]}),
        client.request("PATCH", up.location, data=b"chunk", headers={"Content-Type": "application/octet-stream"}),
        client.request("PUT", up.location, params={"digest": sha256(data)}, data=b"body"),
        client.request("PUT", up.location, params={"digest": "sha512:" + "a" * 128}),
    ]
    for r in cases:
        assert r.status_code == 400 and error(r)["code"] in ("BLOB_UPLOAD_INVALID", "DIGEST_INVALID"), r.text
    r = close(client, up, sha256(data))  # part 1 never sent
    assert r.status_code == 400 and error(r)["detail"]["missing"] == [1, 2]
    # a session belongs to its repository
    other = client.request("GET", up.location.replace(repo, repo + "x") + "/direct")
    assert other.status_code in (401, 403, 404)
    mine = Client(registry.url, auth=registry.admin)
    mine.login(repo + "x")
    r = mine.request("GET", up.location.replace(repo, repo + "x") + "/direct")
    assert r.status_code == 404 and error(r)["code"] == "BLOB_UPLOAD_UNKNOWN"
    # push is needed, as for every upload step
    anonymous = requests.post(client.url(f"{up.location}/direct"), json={"size": 1})
    assert anonymous.status_code == 401
    # a session that took a PATCH cannot turn direct
    chunked = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    client.request("PATCH", chunked.headers["Location"], data=b"abc",
                   headers={"Content-Type": "application/octet-stream"})
    r = client.request("POST", chunked.headers["Location"] + "/direct", json={"size": 10})
    assert r.status_code == 400 and error(r)["code"] == "BLOB_UPLOAD_INVALID"


def test_aws_calls_per_direct_push_beside_the_chunked_path(client, repo, capsys):
    """Held at the design minimum; printed beside the chunked path's for the report."""
    small = os.urandom(MIB)
    with count_aws_calls() as aws:
        push_blob(client.http, client.base, repo, BytesSource(small))
    single = dict(aws.calls)
    assert single == {"dynamodb.PutItem": 2, "dynamodb.GetItem": 3, "s3.HeadObject": 1,
                      "s3.CopyObject": 1, "dynamodb.TransactWriteItems": 1, "s3.DeleteObject": 1,
                      "dynamodb.DeleteItem": 1}
    data = os.urandom(12 * MIB)
    with count_aws_calls() as aws:
        push_blob(client.http, client.base, repo, BytesSource(data), part_size=5 * MIB, single_put=False)
    multipart = dict(aws.calls)
    assert multipart == {"dynamodb.PutItem": 3, "dynamodb.GetItem": 3, "s3.CreateMultipartUpload": 1,
                         "s3.ListParts": 1, "s3.CompleteMultipartUpload": 1, "s3.GetObject": 1,
                         "s3.CopyObject": 1, "dynamodb.TransactWriteItems": 1, "s3.DeleteObject": 1,
                         "dynamodb.DeleteItem": 1}
    chunked_data = os.urandom(12 * MIB)
    with count_aws_calls() as aws:
        r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
        loc = r.headers["Location"]
        for i in range(0, len(chunked_data), 4 * MIB):
            piece = chunked_data[i:i + 4 * MIB]
            r = client.request("PATCH", loc, data=piece, headers={
                "Content-Type": "application/octet-stream", "Content-Range": f"{i}-{i + len(piece) - 1}"})
            loc = r.headers["Location"]
        assert client.request("PUT", loc, params={"digest": sha256(chunked_data)}).status_code == 201
    chunked = dict(aws.calls)
    with capsys.disabled():
        print(f"\nAWS calls, 1 MiB direct single PUT: {sum(single.values())} {single}"
              f"\nAWS calls, 12 MiB direct multipart (3 parts): {sum(multipart.values())} {multipart}"
              f"\nAWS calls, 12 MiB chunked (3 PATCH of 4 MiB): {sum(chunked.values())} {chunked}")


@pytest.fixture
def lambda_front(registry):
    """A second front door on the same registry with Lambda's limits
    (REGISTRY_LAMBDA_LIMITS=1: 6 MB events, 29 s), recording what it received."""
    from werkzeug.serving import make_server

    import app as chalice_app
    from local.server import LambdaGateway

    class Recording(LambdaGateway):
        def __init__(self) -> None:
            super().__init__(chalice_app.app, lambda_limits=True)
            self.received: list = []   # (method, path, body bytes, event bytes, seconds)

        def invoke(self, event: dict) -> dict:
            started = time.monotonic()
            out = super().invoke(event)
            body = base64.b64decode(event["body"]) if event.get("body") else b""
            self.received.append((event["httpMethod"], event["path"], len(body), len(json.dumps(event)),
                                  time.monotonic() - started))
            return out

    gateway = Recording()
    server = make_server("127.0.0.1", 0, gateway, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with settings(lambda_limits=True):
        yield f"http://127.0.0.1:{server.port}", gateway
    server.shutdown()
    server.server_close()


def test_200_mib_blob_under_lambda_limits_no_request_over_6_mb(registry, repo, lambda_front, tmp_path):
    url, gateway = lambda_front
    path = tmp_path / "layer.bin"
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(200):
            chunk = os.urandom(MIB)
            h.update(chunk)
            f.write(chunk)
    digest = "sha256:" + h.hexdigest()
    c = Client(url, auth=registry.admin)
    c.login(repo)
    source = FileSource(str(path))
    try:
        assert push_blob(c.http, url, repo, source) == digest
    finally:
        source.close()
    assert pull(c, repo, digest) == digest
    assert gateway.received, "the pushes went through the Lambda-limits front door"
    biggest = max(r[3] for r in gateway.received)
    slowest = max(r[4] for r in gateway.received)
    # Lambda limits: an event over 6 MB would be a 413 and a call over 29 s a 504, so the
    # push succeeding proves both; the sizes are checked here too, the times only printed.
    assert biggest <= 6 * 1000 * 1000, gateway.received
    print(f"\n200 MiB direct push: {len(gateway.received)} registry requests, largest event "
          f"{biggest} bytes, slowest {slowest:.2f} s")


def test_large_blobs_are_promoted_by_part_copies_across_calls(client, repo, monkeypatch):
    """Above COPY_ONE_CALL the proven object is copied part by part, resumably, so no
    call waits for one long CopyObject (scaled down here: 5 MiB copy parts)."""
    from chalicelib.domain import direct

    monkeypatch.setattr(direct, "COPY_ONE_CALL", 5 * MIB)
    monkeypatch.setattr(direct, "COPY_PART", 5 * MIB)
    monkeypatch.setattr(direct, "COPY_THREADS", 1)
    monkeypatch.setattr(direct, "COPY_MARGIN_S", 0.0)
    data = os.urandom(16 * MIB + 3)
    digest = sha256(data)
    up = open_upload(client, repo)
    pieces = parts_of(data, 8 * MIB)
    plan = up.plan(len(data), part_size=8 * MIB, parts=[(n, sha256_b64(p)) for n, p in enumerate(pieces, 1)])
    for p in plan["parts"]:
        assert put_part(up, p, pieces[p["number"] - 1]).status_code == 200
    calls = 0
    with settings(direct_verify_seconds=0):
        r = close(client, up, digest)
        while r.status_code == 202:
            calls += 1
            assert up.status()["state"] in ("verifying", "copying")
            r = close(client, up, digest)
    assert r.status_code == 201, r.text
    assert calls >= 4  # hashing slices, then one copy part per call
    assert pull(client, repo, digest) == digest
    assert staged_objects(upload_id(up)) == []


def test_concurrent_closes_of_one_session(client, repo):
    """Clients retry: several closing PUTs of the same session at once all end in 201
    (or 202 then 201), never a 5xx, and the blob is right."""
    data = os.urandom(11 * MIB)
    digest = sha256(data)
    up = open_upload(client, repo)
    pieces = parts_of(data, 5 * MIB)
    plan = up.plan(len(data), part_size=5 * MIB, parts=[(n, sha256_b64(p)) for n, p in enumerate(pieces, 1)])
    for p in plan["parts"]:
        assert put_part(up, p, pieces[p["number"] - 1]).status_code == 200
    statuses: list = []

    def closer():
        for _ in range(200):
            r = close(client, up, digest)
            statuses.append(r.status_code)
            if r.status_code != 202:
                return

    threads = [threading.Thread(target=closer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(s < 500 for s in statuses), statuses
    assert 201 in statuses
    # a close that comes after another one committed finds no session: 404, nothing else
    assert set(statuses) <= {201, 202, 404}, statuses
    assert pull(client, repo, digest) == digest
