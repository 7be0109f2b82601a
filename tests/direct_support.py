"""Helpers of the direct-upload tests (tests/integration/test_direct_upload*.py)."""
from __future__ import annotations

import dataclasses
import hashlib
from contextlib import contextmanager
from typing import Optional

import pytest
import requests

from client.direct import DirectUpload, sha256_b64
from support import Client

MIB = 1024 * 1024
OCI = "application/vnd.oci.image.manifest.v1+json"


@contextmanager
def settings(**changes):
    """Run with some registry settings changed (the local server is in this process)."""
    from chalicelib.http.inject import services

    reg = services().registry()
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
    from chalicelib.http.inject import services

    s3 = services().s3_client()
    resp = s3.list_objects_v2(Bucket=services().settings.bucket_name, Prefix=f"uploads/{upload_id}/")
    return [o["Key"] for o in resp.get("Contents", [])]


def upload_id(up: DirectUpload) -> str:
    return up.location.rsplit("/", 1)[-1]


def parts_of(data: bytes, part_size: int) -> list[bytes]:
    return [data[i:i + part_size] for i in range(0, len(data), part_size)]


@pytest.fixture(autouse=True)
def token(registry, client, repo):
    """Direct uploads need the strict S3 (moto checks no checksums); log in for the repo."""
    if getattr(registry, "backend", "memory") != "strict":
        pytest.skip("direct uploads are tested on the strict S3 only (moto checks no checksums)")
    client.login(repo)


def planned_parts(client: Client, repo: str, data: bytes, digest: Optional[str], part: int) -> DirectUpload:
    """A multipart session planned for `data` (with `digest`: completed in place at the close)
    whose parts S3 holds, not yet closed."""
    up = open_upload(client, repo)
    pieces = parts_of(data, part)
    plan = up.plan(len(data), digest, part, [(n, sha256_b64(p)) for n, p in enumerate(pieces, 1)])
    assert plan["method"] == "multipart", plan
    for p in plan["parts"]:
        assert put_part(up, p, pieces[p["number"] - 1]).status_code == 200
    return up
