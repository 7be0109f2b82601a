"""Concurrent pushes of one tag and of one blob, checked the same way against an in-process
server on either embedded backend (tests/integration/test_concurrency.py) and against
`python -m local` with its keep-alive server and read cache (tests/e2e/test_local_read_cache.py)."""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import requests

from support import Client, retrying, sha256

TAG_PUSHES = int(os.environ.get("CONCURRENCY_TAG_PUSHES", "50"))
BLOB_PUSHES = int(os.environ.get("CONCURRENCY_BLOB_PUSHES", "20"))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _ok_or_retryable(r: requests.Response) -> bool:
    """A success, a client error, or a 503 that says when to retry; never another 5xx."""
    return r.status_code < 500 or (r.status_code == 503 and "Retry-After" in r.headers)


def pushes_of_one_tag_and_one_blob_at_once(base: str, auth: tuple, repo: str) -> None:
    """TAG_PUSHES manifest pushes of one tag and BLOB_PUSHES pushes of one blob at once against
    the registry at `base`: no 5xx but a 503 with Retry-After, every acknowledged manifest
    readable by digest, the tag on one of them, the blob whole."""
    admin = Client(base, auth=auth)
    admin.login(repo)
    token = admin.http.auth.token
    layer = b"one layer shared by every push " * 64
    layer_digest = admin.push_blob(repo, layer)
    manifests = []
    for i in range(TAG_PUSHES):
        config = json.dumps({"architecture": "amd64", "os": "linux", "n": i}).encode()
        cfg = admin.push_blob(repo, config)
        manifests.append(json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg,
                       "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_digest, "size": len(layer)}]}).encode())
    blob = os.urandom(4096)

    def call(method: str, url: str, **kw) -> requests.Response:
        with requests.Session() as s:
            s.headers["Authorization"] = f"Bearer {token}"
            return s.request(method, url if url.startswith("http") else base + url,
                             allow_redirects=False, **kw)

    def push_manifest(body: bytes) -> tuple[bytes, requests.Response]:
        return body, call("PUT", f"/v2/{repo}/manifests/latest", data=body,
                          headers={"Content-Type": OCI_MANIFEST})

    def push_blob(_: int) -> list[requests.Response]:
        start = call("POST", f"/v2/{repo}/blobs/uploads/")
        if start.status_code != 202:
            return [start]
        return [start, call("PUT", start.headers["Location"], params={"digest": sha256(blob)}, data=blob,
                            headers={"Content-Type": "application/octet-stream"})]

    with ThreadPoolExecutor(max_workers=TAG_PUSHES + BLOB_PUSHES) as pool:
        tag_futures = [pool.submit(push_manifest, m) for m in manifests]
        blob_futures = [pool.submit(push_blob, i) for i in range(BLOB_PUSHES)]
        tag_results = [f.result() for f in tag_futures]
        blob_pushes = [f.result() for f in blob_futures]
    blob_results = [r for push in blob_pushes for r in push]

    bad = [(r.status_code, r.text[:200]) for _, r in tag_results if not _ok_or_retryable(r)]
    bad += [(r.status_code, r.text[:200]) for r in blob_results if not _ok_or_retryable(r)]
    assert not bad, bad
    accepted = [body for body, r in tag_results if r.status_code == 201]
    assert accepted, [r.status_code for _, r in tag_results]
    for body in accepted:  # every acknowledged manifest is there, byte for byte
        r = retrying(lambda: call("GET", f"/v2/{repo}/manifests/{sha256(body)}",
                                  headers={"Accept": OCI_MANIFEST}))
        assert r.status_code == 200 and r.content == body, (r.status_code, r.text[:200])
    latest = retrying(lambda: call("GET", f"/v2/{repo}/manifests/latest", headers={"Accept": OCI_MANIFEST}))
    assert latest.status_code == 200 and latest.content in accepted
    if any(r.status_code == 201 for r in blob_results):
        got = retrying(lambda: call("GET", f"/v2/{repo}/blobs/{sha256(blob)}"))
        if got.status_code == 307:
            got = requests.get(got.headers["Location"])
        assert got.status_code == 200 and got.content == blob
    # each push ends created or told to retry; a concurrent twin is never an error of the client's
    assert all(push[-1].status_code in (201, 503) for push in blob_pushes), \
        [(p[-1].status_code, p[-1].text[:200]) for p in blob_pushes]
    assert all(r.status_code in (201, 503) for _, r in tag_results), \
        [(r.status_code, r.text[:200]) for _, r in tag_results]
