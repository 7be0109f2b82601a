"""Direct uploads (docs/direct-upload.md): bad input, misuse, concurrent closes, AWS calls;
on the strict S3."""
from __future__ import annotations

import json
import os
import threading

import pytest
import requests

from client.direct import BytesSource, push_blob, sha256_b64
from direct_support import MIB, close, error, open_upload, pull, put_part, parts_of, token  # noqa: F401 (autouse fixture)
from support import Client, count_aws_calls, sha256

pytestmark = pytest.mark.backends("strict")


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
                      "s3.CopyObject": 1, "dynamodb.TransactWriteItems": 1, "s3.DeleteObject": 1}
    data = os.urandom(12 * MIB)
    with count_aws_calls() as aws:
        push_blob(client.http, client.base, repo, BytesSource(data), part_size=5 * MIB, single_put=False)
    multipart = dict(aws.calls)
    assert multipart == {"dynamodb.PutItem": 3, "dynamodb.GetItem": 3, "s3.CreateMultipartUpload": 1,
                         "s3.ListParts": 1, "s3.CompleteMultipartUpload": 1, "s3.GetObject": 1,
                         "s3.CopyObject": 1, "dynamodb.TransactWriteItems": 1, "s3.DeleteObject": 1}
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
