"""End-to-end: the local server's read cache (local/read_cache.py) never serves a value a
write has replaced: every acknowledged tag move or delete is what the next read sees, on
another connection, while other clients keep reading the same tag the whole time; and
50 pushes of one tag with 20 of one blob at once lose nothing through `python -m local`."""
from __future__ import annotations

import json
import threading

from concurrency_support import pushes_of_one_tag_and_one_blob_at_once
from e2e.conftest import ADMIN_PASSWORD, ADMIN_USER
from support import Client, sha256

OCI = "application/vnd.oci.image.manifest.v1+json"


def _image(config: str, n: int) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": OCI, "annotations": {"n": str(n)},
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
           "layers": []}
    return json.dumps(doc).encode()


def test_every_acknowledged_tag_move_is_read_back_while_readers_hammer_the_tag(local_registry, uniq):
    repo = f"{ADMIN_USER}/cache-{uniq}"
    writer, checker = (Client(local_registry.url, auth=(ADMIN_USER, ADMIN_PASSWORD)) for _ in range(2))
    writer.login(repo)
    checker.login(repo)
    config = writer.push_blob(repo, b"{}")
    stop = threading.Event()
    seen: list[int] = []

    def read() -> None:   # keeps GetItem answers for the tag arriving before, during, after each write
        reader = Client(local_registry.url, auth=(ADMIN_USER, ADMIN_PASSWORD))
        reader.login(repo)
        while not stop.is_set():
            seen.append(reader.request("HEAD", f"/v2/{repo}/manifests/moving",
                                       headers={"Accept": OCI}).status_code)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    try:
        for n in range(40):
            body = _image(config, n)
            r = writer.push_manifest(repo, "moving", body)
            assert r.status_code == 201, r.text
            got = checker.request("HEAD", f"/v2/{repo}/manifests/moving", headers={"Accept": OCI})
            assert got.status_code == 200 and got.headers["Docker-Content-Digest"] == sha256(body), n
            if n % 10 == 9:   # a delete is a write too: the tag is gone at once, then comes back
                assert writer.request("DELETE", f"/v2/{repo}/manifests/moving").status_code == 202
                assert checker.request("HEAD", f"/v2/{repo}/manifests/moving",
                                       headers={"Accept": OCI}).status_code == 404
    finally:
        stop.set()
        for t in readers:
            t.join(30)
    assert seen and set(seen) <= {200, 404}   # no 5xx from the readers either


def test_a_manifest_deleted_by_digest_is_gone_for_every_reader(local_registry, uniq):
    repo = f"{ADMIN_USER}/cache-del-{uniq}"
    a, b = (Client(local_registry.url, auth=(ADMIN_USER, ADMIN_PASSWORD)) for _ in range(2))
    a.login(repo)
    b.login(repo)
    digest, _ = a.push_image(repo, "v1")
    for _ in range(3):   # read it often enough to be cached
        assert b.request("GET", f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI}).status_code == 200
    assert a.request("DELETE", f"/v2/{repo}/manifests/{digest}").status_code == 202
    assert b.request("GET", f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI}).status_code == 404
    assert b.request("HEAD", f"/v2/{repo}/manifests/v1", headers={"Accept": OCI}).status_code == 404


def test_50_pushes_of_one_tag_and_20_of_one_blob_through_the_local_server(local_registry, uniq):
    pushes_of_one_tag_and_one_blob_at_once(local_registry.url, (ADMIN_USER, ADMIN_PASSWORD),
                                           f"{ADMIN_USER}/race-{uniq}")
