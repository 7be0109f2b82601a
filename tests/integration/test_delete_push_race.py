"""Over HTTP, on both backends: a manifest deleted by digest while it is being pushed under
new tags ends in one of the two orders, never in a tag that names a deleted manifest (the
delete read the tags, a push added one, the delete went on: storage/dynamo_manifests.py
conditions the delete on the manifest's revision)."""
from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.backends("memory", "strict")
OCI = "application/vnd.oci.image.manifest.v1+json"


def test_deletes_racing_pushes_leave_no_dangling_tag(client, repo):
    digest, body = client.push_image(repo, "base", seed="race")
    dangling, statuses = [], []
    for round_ in range(8):
        tags = [f"t{round_}-{i}" for i in range(6)]
        barrier = threading.Barrier(len(tags) + 1)

        def push(tag: str) -> None:
            barrier.wait()
            statuses.append(client.request("PUT", f"/v2/{repo}/manifests/{tag}", data=body,
                                           headers={"Content-Type": OCI}).status_code)

        def delete() -> None:
            barrier.wait()
            statuses.append(client.request("DELETE", f"/v2/{repo}/manifests/{digest}").status_code)

        threads = [threading.Thread(target=push, args=(t,)) for t in tags] + [threading.Thread(target=delete)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        by_digest = client.request("GET", f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI}).status_code
        for tag in tags:
            by_tag = client.request("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI}).status_code
            if by_tag == 200 and by_digest != 200:
                dangling.append(tag)
    assert dangling == [], dangling
    assert set(statuses) <= {201, 202, 404}, statuses   # never a 5xx
