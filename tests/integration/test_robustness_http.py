"""HTTP-core hardening (issue 14): routes, Content-Range, and path values that become keys."""
from __future__ import annotations

import uuid

import pytest

from support import Client, sha256


def error_of(r) -> dict:
    assert r.headers["Content-Type"] == "application/json", r.text
    return r.json()["errors"][0]


def test_upload_start_without_trailing_slash(client, repo):
    r = client.request("POST", f"/v2/{repo}/blobs/uploads")
    assert r.status_code == 202, r.text
    data = b"no slash"
    r = client.request("PUT", r.headers["Location"], params={"digest": sha256(data)}, data=data,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201
    r = client.request("POST", f"/v2/{repo}/blobs/uploads", params={"digest": sha256(b"mono")}, data=b"mono",
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    r = client.request("GET", f"/v2/{repo}/blobs/uploads")
    assert r.status_code == 405 and "POST" in r.headers["Allow"]


def _open(client, repo, first: bytes = b"") -> str:
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    loc = r.headers["Location"]
    if first:
        r = client.request("PATCH", loc, data=first, headers={
            "Content-Range": f"0-{len(first) - 1}", "Content-Type": "application/octet-stream"})
        assert r.status_code == 202, r.text
        loc = r.headers["Location"]
    return loc


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize("value", ["5-100", "bytes=abc", "-5-0", "0-99999999999999999999", "20-10",
                                   "10-14", "10-20", "bytes=10-19/5", "10-19,20-29"])
def test_bad_content_range_is_416(client, repo, method, value):
    """Refused alike by the registry and by the local gateway that splits big bodies."""
    first = b"0123456789"
    loc = _open(client, repo, first)
    chunk = b"abcdefghij"  # 10 bytes that would start at 10
    params = {"digest": sha256(first + chunk)} if method == "PUT" else {}
    r = client.request(method, loc, data=chunk, params=params,
                       headers={"Content-Range": value, "Content-Type": "application/octet-stream"})
    assert r.status_code == 416, (value, r.status_code, r.text)
    assert error_of(r)["code"] == "BLOB_UPLOAD_INVALID"
    assert r.headers["Range"] == "0-9"
    status = client.request("GET", loc)
    assert status.status_code == 204 and status.headers["Range"] == "0-9"  # nothing was taken
    r = client.request("PUT", loc, data=chunk, params={"digest": sha256(first + chunk)}, headers={
        "Content-Range": "10-19", "Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text


def test_good_content_range_forms(client, repo):
    first = b"0123456789"
    for i, form in enumerate(("10-19", "bytes=10-19", "bytes 10-19/*")):
        loc = _open(client, f"{repo}{i}", first)
        r = client.request("PATCH", loc, data=b"x" * 10, headers={
            "Content-Range": form, "Content-Type": "application/octet-stream"})
        assert r.status_code == 202 and r.headers["Range"] == "0-19", (form, r.text)


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
@pytest.mark.parametrize("upload_id", ["x" * 3000, "not-a-uuid", "0B8B7C8E-2F0C-4C4E-9D55-3A1F6A0D9E11",
                                       "0b8b7c8e-2f0c-4c4e-9d55-3a1f6a0d9e11%0d"])
def test_upload_ids_that_are_not_ours_are_unknown(client, repo, method, upload_id):
    """Refused before any read: DynamoDB keys are capped (2048 bytes), and ours are UUIDs."""
    from support import count_aws_calls

    client.login(repo)
    with count_aws_calls() as calls:
        r = client.request(method, f"/v2/{repo}/blobs/uploads/{upload_id}", params={"digest": sha256(b"")},
                           data=b"", headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 404, (upload_id[:40], r.status_code, r.text[:200])
    assert not calls.calls, dict(calls.calls)
    if method != "HEAD":
        assert error_of(r)["code"] in ("BLOB_UPLOAD_UNKNOWN", "UNSUPPORTED")


def test_long_path_and_query_values_never_reach_storage_keys(client, repo):
    client.push_image(repo, "v1")
    long = "a" * 3000
    checks = [
        ("GET", f"/v2/{repo}/manifests/{long}", {}, (404,)),
        ("PUT", f"/v2/{repo}/manifests/{long}", {}, (400,)),
        ("DELETE", f"/v2/{repo}/manifests/{long}", {}, (400, 404)),
        ("GET", f"/v2/{repo}/manifests/sha256:{long}", {}, (400,)),
        ("HEAD", f"/v2/{repo}/blobs/sha256:{long}", {}, (400,)),
        ("GET", f"/v2/{repo}/blobs/sha256:{long}", {}, (400,)),
        ("DELETE", f"/v2/{repo}/blobs/sha256:{long}", {}, (400,)),
        ("GET", f"/v2/{repo}/referrers/sha256:{long}", {}, (400,)),
        ("POST", f"/v2/{repo}/blobs/uploads/", {"mount": f"sha256:{long}", "from": long}, (202,)),
        ("POST", f"/v2/{repo}/blobs/uploads/", {"digest": f"sha256:{long}"}, (400,)),
    ]
    for method, path, params, statuses in checks:
        r = client.request(method, path, params=params, data=b"{}" if method == "PUT" else b"",
                           headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code in statuses, (method, path[:80], params.keys(), r.status_code, r.text[:200])
    digest = sha256(b"x")
    for path in (f"/v2/{repo}/tags/list", f"/v2/{repo}/referrers/{digest}", "/v2/_catalog"):
        r = client.request("GET", path, params={"last": long, "n": "5"})
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
    tags = client.request("GET", f"/v2/{repo}/tags/list", params={"last": "v0" + "z" * 3000})
    assert tags.json()["tags"] == ["v1"]  # the cut `last` keeps the order exact


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("upload_id", ["x" * 3000, "not-a-uuid"])
def test_direct_upload_ids_that_are_not_ours_are_unknown(client, repo, method, upload_id):
    """The direct-upload extension names sessions like the standard path: same check, no read."""
    from support import count_aws_calls

    client.login(repo)
    with count_aws_calls() as calls:
        r = client.request(method, f"/v2/{repo}/blobs/uploads/{upload_id}/direct",
                           json={"size": 1} if method == "POST" else None)
    assert r.status_code == 404, (upload_id[:40], r.status_code, r.text[:200])
    assert error_of(r)["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert not calls.calls, dict(calls.calls)


def test_v1_image_ids_that_cannot_exist_are_unknown(registry, client, repo):
    import requests

    from support import count_aws_calls

    for image_id in ("a" * 3000, "A" * 64, "zz"):
        with count_aws_calls() as calls:
            r = requests.get(f"{registry.url}/v1/images/{image_id}/json", auth=registry.admin)
        # (a 3000-character id used to reach a V1IMG# key: DynamoDB refused it, a 5xx)
        assert r.status_code == 404, (image_id[:20], r.status_code, r.text[:200])
        assert error_of(r)["code"] == "BLOB_UNKNOWN"
        assert calls.calls["dynamodb.Query"] == 1, dict(calls.calls)  # the login's account read only


@pytest.mark.parametrize("value", ["bytes=abc", "-5-0", "20-10"])
def test_bad_content_range_with_an_empty_body_is_416(client, repo, value):
    """An empty PATCH is not split, so the local gateway must hand the client's own
    Content-Range to the registry (it used to drop it and answer 202)."""
    first = b"0123456789"
    loc = _open(client, repo, first)
    r = client.request("PATCH", loc, data=b"", headers={"Content-Range": value,
                                                       "Content-Type": "application/octet-stream"})
    assert r.status_code == 416, (value, r.status_code, r.text)
    assert error_of(r)["code"] == "BLOB_UPLOAD_INVALID" and r.headers["Range"] == "0-9"


@pytest.mark.backends("memory", "strict")   # DynamoDB Local enforces the key size limit
@pytest.mark.parametrize("last", ["x" * 1025, "\U0001F600" * 300, "v0\u00e9" + "z" * 400, "a\x7f" * 600])
def test_long_or_non_ascii_last_lists_as_a_cut_last_would(client, repo, last):
    client.push_image(repo, "v1")
    digest = sha256(b"x")
    for path in (f"/v2/{repo}/tags/list", f"/v2/{repo}/referrers/{digest}", "/v2/_catalog"):
        r = client.request("GET", path, params={"last": last, "n": "5"})
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
    # every key is ASCII: "v0é…" sorts after "v0" and before "v1" (UTF-8 byte order)
    expect = ["v1"] if last.startswith("v0") or last < "v1" else []
    assert client.request("GET", f"/v2/{repo}/tags/list", params={"last": last}).json()["tags"] == expect


@pytest.mark.backends("memory", "strict")
def test_catalog_last_of_a_non_admin_is_cut_too(registry, repo):
    import requests

    user = "u" + uuid.uuid4().hex[:10]
    r = requests.post(registry.url + "/admin/users", json={"username": user, "password": "catalog-pass-123"},
                      auth=registry.admin)
    assert r.status_code == 201, r.text
    c = Client(registry.url, auth=(user, "catalog-pass-123"))
    for last in ("x" * 1025, "\U0001F600" * 300):
        r = c.request("GET", "/v2/_catalog", params={"last": last})
        assert r.status_code == 200 and r.json()["repositories"] == [], r.text[:200]


@pytest.mark.parametrize("content_range, status", [("0-9", 416), (None, 202)])
def test_an_empty_patch_matches_no_range(client, repo, content_range, status):
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    headers = {"Content-Range": content_range} if content_range else {}
    r = client.request("PATCH", r.headers["Location"], data=b"", headers=headers)
    assert r.status_code == status, r.text
    if status == 416:
        assert r.headers["Range"] == "0-0"


@pytest.mark.parametrize("path", ["/v2/a%0ab/tags/list", "/v2/a%0a/b/manifests/x"])
def test_a_newline_in_a_name_is_name_invalid(client, path):
    r = client.request("GET", path)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "NAME_INVALID", r.text


@pytest.mark.parametrize("n", ["+2", " 2", "\uff12", "2.0", "-1", "0x2"])
def test_n_is_ascii_digits_only(client, repo, n):
    client.push_image(repo, "v1")
    r = client.request("GET", f"/v2/{repo}/tags/list", params={"n": n})
    assert r.status_code == 400, r.text


def test_a_body_larger_than_any_s3_object_is_refused_before_it_is_sent(registry, client, repo):
    import socket
    from urllib.parse import urlsplit

    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    path = urlsplit(client.url(r.headers["Location"])).path
    u = urlsplit(registry.url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(f"PATCH {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {10 ** 23}\r\n\r\n".encode())
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
