"""Garbage collection over real HTTP (docs/lifecycle.md#garbage-collection): the admin
route and the CLI, dry run vs real run, S3 objects deleted, a run racing pushes, and a
collection's AWS calls.

`make test` runs this module apart, in pytest processes of its own: a collection with grace 0
is registry-wide and would take the in-flight blobs (uploaded, not yet in a manifest) of the
other modules sharing the session's registry."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from support import Client, count_aws_calls, sha256

ROOT = Path(__file__).resolve().parents[2]
OCI = "application/vnd.oci.image.manifest.v1+json"


def _gc(registry, **body) -> requests.Response:
    return requests.post(registry.url + "/admin/gc", json=body, auth=registry.admin, timeout=60)


def _in_s3(digest: str) -> bool:
    from chalicelib.http.inject import services
    from chalicelib.storage import keys

    s3 = services().s3_client()
    try:
        s3.head_object(Bucket=services().settings.bucket_name, Key=keys.blob_key(digest))
        return True
    except s3.exceptions.ClientError:
        return False


def _image(client, repo: str, tag: str, layers: list[bytes]) -> tuple[str, list[str]]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    blobs = [client.push_blob(repo, config)] + [client.push_blob(repo, data) for data in layers]
    doc = {"schemaVersion": 2, "mediaType": OCI,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blobs[0],
                      "size": len(config)},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": len(b)}
                      for d, b in zip(blobs[1:], layers)]}
    body = json.dumps(doc).encode()
    r = client.push_manifest(repo, tag, body)
    assert r.status_code == 201, r.text
    return sha256(body), blobs


def _status(client, repo: str, digest: str) -> int:
    return client.request("HEAD", f"/v2/{repo}/blobs/{digest}").status_code


def test_dry_run_then_cli_run_collect_only_the_deleted_images_blobs(registry, client, repo):
    client.login(repo)
    shared = b"shared layer " + repo.encode()
    a, a_blobs = _image(client, repo, "a", [shared, b"only in a " + repo.encode()])
    b, b_blobs = _image(client, repo, "b", [shared])
    assert client.request("DELETE", f"/v2/{repo}/manifests/{a}").status_code == 202
    unshared = [a_blobs[0], a_blobs[2]]

    kept = _gc(registry, dryRun=True, grace=3600)   # within the grace: nothing planned of ours
    assert kept.status_code == 200, kept.text
    plan = _gc(registry, dryRun=True, grace=0).json()
    assert plan["dryRun"] is True and plan["links"] >= 2 and plan["blobs"] >= 2
    assert plan["bytesFreed"] >= sum(len(x) for x in [b"only in a " + repo.encode()])
    assert all(_status(client, repo, d) == 200 and _in_s3(d) for d in unshared)   # a dry run writes nothing

    user, password = registry.admin
    out = subprocess.run([sys.executable, "-m", "client", "--user", user, "--password", password, "--json",
                          "gc", "--registry", registry.url, "--grace", "0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["dryRun"] is False and report["complete"] is True
    assert (report["links"], report["blobs"]) == (plan["links"], plan["blobs"])   # the plan was carried out
    assert report["awsCalls"]["s3"] == report["blobs"]
    for d in unshared:
        assert _status(client, repo, d) == 404 and not _in_s3(d)
    for d in b_blobs:   # the shared layer and the other image stay, byte-exact
        r = client.request("GET", f"/v2/{repo}/blobs/{d}", allow_redirects=True)
        assert r.status_code == 200 and sha256(r.content) == d
    assert client.request("GET", f"/v2/{repo}/manifests/b", headers={"Accept": OCI}).status_code == 200
    again = _gc(registry, grace=0).json()
    assert again["blobs"] == 0 and again["links"] == 0


def test_gc_needs_a_global_administrator(registry, repo):
    assert requests.post(registry.url + "/admin/gc", json={}, timeout=30).status_code == 401
    requests.post(registry.url + "/admin/users", json={"username": "gcuser", "password": "gc-user-password-1"},
                  auth=registry.admin, timeout=30)
    r = requests.post(registry.url + "/admin/gc", json={"dryRun": True}, auth=("gcuser", "gc-user-password-1"),
                      timeout=30)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
    bad = _gc(registry, grace=-1)
    assert bad.status_code == 400


def test_gc_racing_pushes_keeps_every_referenced_blob(registry, repo):
    """Pushers (blobs, then manifest; retried when a collection took a blob first) and
    deleters run while collections with grace 0 loop: every manifest that stands at the end
    has all its blobs, byte-exact."""
    stop = time.time() + 8
    pushed: dict[str, dict[str, bytes]] = {}
    errors: list = []

    def push_blob(c: Client, data: bytes) -> str:
        # A blob collected while its upload committed it is refused (BLOB_UPLOAD_UNKNOWN,
        # within a few seconds of the collection): the client uploads it again.
        for _ in range(20):
            r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
            r = c.request("PUT", r.headers["Location"], params={"digest": sha256(data)}, data=data)
            if r.status_code == 201:
                return sha256(data)
            assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN", r.text
            time.sleep(0.5)
        raise AssertionError("blob upload kept failing")

    def pusher(n: int) -> None:
        c = Client(registry.url, auth=registry.admin)
        c.login(repo)
        i = 0
        while time.time() < stop:
            i += 1
            layers = [f"shared {j}".encode() * 50 for j in range(2)] + [f"own {n} {i}".encode() * 50]
            for _ in range(5):
                blobs = {push_blob(c, data): data for data in layers}
                doc = {"schemaVersion": 2, "mediaType": OCI,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": next(iter(blobs)), "size": len(layers[0])},
                       "layers": [{"mediaType": "application/octet-stream", "digest": d, "size": len(b)}
                                  for d, b in list(blobs.items())[1:]]}
                r = c.push_manifest(repo, f"p{n}-{i}", json.dumps(doc).encode())
                if r.status_code == 201:
                    pushed[f"p{n}-{i}"] = blobs
                    if i % 3 == 0:   # delete some again: their unshared blobs become garbage
                        c.request("DELETE", f"/v2/{repo}/manifests/{r.headers['Docker-Content-Digest']}")
                        pushed.pop(f"p{n}-{i}")
                    break
                if r.json()["errors"][0]["code"] != "MANIFEST_BLOB_UNKNOWN":
                    errors.append(r.text)
                    return

    def collector() -> None:
        while time.time() < stop:
            r = _gc(registry, grace=0)
            if r.status_code != 200:
                errors.append(r.text)

    threads = [threading.Thread(target=pusher, args=(n,)) for n in range(2)] + [threading.Thread(target=collector)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert pushed   # progress is slow on purpose: grace 0 and a run after run (a real grace is a day)
    check = Client(registry.url, auth=registry.admin)
    check.login(repo)
    _gc(registry, grace=0)   # one more after the pushes stopped
    for tag, blobs in pushed.items():
        assert check.request("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI}).status_code == 200
        for d, data in blobs.items():
            r = check.request("GET", f"/v2/{repo}/blobs/{d}", allow_redirects=True)
            assert r.status_code == 200 and r.content == data, (tag, d)


def _settle() -> None:
    from chalicelib.http.inject import services

    services().events().wait_idle(10, retries=True)
    services().meter().flush()


def test_gc_calls_grow_with_the_garbage(client, repo, registry):
    """A collection: one Query per page of candidates, one transaction per link, and per blob
    a claim, its S3 DeleteObject and its tombstone; the report's awsCalls are these counts."""
    client.login(repo)

    digest, _ = client.push_image(repo, "v1", layers=2, seed=repo)   # blobs no other test has
    _settle()
    requests.post(f"{registry.url}/admin/gc", json={"grace": 0}, auth=registry.admin).raise_for_status()
    assert client.request("DELETE", f"/v2/{repo}/manifests/{digest}").status_code == 202
    _settle()
    with count_aws_calls() as aws:
        r = requests.post(f"{registry.url}/admin/gc", json={"grace": 0}, auth=registry.admin)
    report = r.json()
    assert (report["links"], report["blobs"]) == (3, 3), report   # the image's config and two layers
    # 2 Query pages (links, blobs) + 3 link transactions + 3 claims + 3 tombstones; the request
    # also logs the admin in and runs the tag lifecycle (its own calls, not the collection's)
    assert report["awsCalls"] == {"dynamodb": 14, "s3": 3}   # per link also a read of its namespace count
    assert aws.calls["s3.DeleteObject"] == 3
    assert aws.calls["dynamodb.UpdateItem"] == 6
    assert aws.calls["dynamodb.TransactWriteItems"] == 3 + 2   # + the login's attempt reserved and given back


def test_bytes_a_quota_refused_are_collected(registry):
    """A blob commit refused by its namespace's quota leaves its bytes in S3 as a garbage
    candidate: a collection deletes them (docs/lifecycle.md#quotas)."""
    import uuid

    ns = f"q{uuid.uuid4().hex[:10]}"
    repo = f"{ns}/app"
    r = requests.put(f"{registry.url}/admin/quotas/{ns}", json={"quota": 10}, auth=registry.admin, timeout=30)
    assert r.status_code == 200
    c = Client(registry.url, auth=registry.admin)
    c.login(repo)
    data = uuid.uuid4().bytes * 4
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, data=data)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
    assert _in_s3(sha256(data))
    report = _gc(registry, grace=0).json()
    assert report["blobs"] >= 1 and not _in_s3(sha256(data))


@pytest.mark.backends("strict")   # direct uploads need the strict S3 (checksums)
def test_sweep_deletes_an_abandoned_in_place_upload_and_keeps_blobs(registry, client, repo):
    """A direct upload planned with its digest completes at the blob's key; abandoned before
    its digest was proven, no blob record names the object. The sweep (opt-in) deletes it
    once older than max(grace, upload TTL); a pushed blob stays."""
    from chalicelib.http.inject import services
    from direct_support import MIB, close, planned_parts, settings

    client.login(repo)
    _, kept = _image(client, repo, "kept", [b"kept layer " + repo.encode()])
    data = os.urandom(17 * MIB)   # over one hashing piece: a close with no budget answers 202
    digest, part = sha256(data), 5 * MIB
    gc = services().gc()
    ttl = gc.upload_ttl
    with settings(upload_ttl=3, direct_put_max=MIB, direct_verify_seconds=0):
        up = planned_parts(client, repo, data, digest, part)
        assert close(client, up, digest).status_code == 202   # completed in place, not yet proven
    assert _in_s3(digest) and _status(client, repo, digest) == 404
    try:
        gc.upload_ttl = 3
        young = _gc(registry, grace=0, sweepOrphans=True).json()
        assert _in_s3(digest), young   # younger than the upload TTL: its session may still close
        time.sleep(4.5)
        user, password = registry.admin
        out = subprocess.run([sys.executable, "-m", "client", "--user", user, "--password", password, "--json",
                              "gc", "--registry", registry.url, "--grace", "0", "--dry-run", "--sweep-orphans"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, out.stderr
        plan_ = json.loads(out.stdout)
        assert plan_["orphans"] >= 1 and plan_["orphanBytes"] >= len(data) and _in_s3(digest)
        done = _gc(registry, grace=0, sweepOrphans=True).json()
        assert done["orphans"] >= 1 and done["orphanBytes"] >= len(data) and done["complete"], done
        assert done["awsCalls"]["s3"] >= 2   # a listing page and the DeleteObject at least
    finally:
        gc.upload_ttl = ttl
    assert not _in_s3(digest) and _status(client, repo, digest) == 404
    for d in kept:   # referenced blobs stay, byte-exact
        r = client.request("GET", f"/v2/{repo}/blobs/{d}", allow_redirects=True)
        assert r.status_code == 200 and sha256(r.content) == d and _in_s3(d)
    assert "orphans" not in _gc(registry, grace=0).json()   # no sweep unless asked
