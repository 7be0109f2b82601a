"""A lifecycle run survives one repository's unusable stored policy (docs/security.md):
that repository is reported under `failed`, every other one is still handled, and the
single-repository call answers a clear 409, never a 500."""
from __future__ import annotations

import uuid

import requests

from chalicelib.http.inject import services


def _retention(registry, body: dict) -> requests.Response:
    return requests.post(f"{registry.url}/admin/retention", json=body, auth=registry.admin, timeout=60)


def test_a_bad_stored_policy_is_skipped_and_reported(registry, client):
    bad, good = f"test/rbad-{uuid.uuid4().hex[:8]}", f"test/rgood-{uuid.uuid4().hex[:8]}"
    client.push_image(bad, "v1")
    client.push_image(good, "keep", seed="a")
    client.push_image(good, "old", seed="b")
    r = requests.put(f"{registry.url}/admin/policies", auth=registry.admin, json={
        "repository": good, "policy": {"retention": [{"rule": "keep-last", "tags": "*", "count": 1}]}})
    assert r.status_code == 200, r.text
    # stored by an older version or by hand: shapes the API refuses today
    services().tag_rules().store.put_policy(bad, {"retention": [{"rule": "keep-last", "tags": 5, "count": "x"}]})

    r = _retention(registry, {})
    assert r.status_code == 200, r.text
    report = r.json()
    assert [f["repository"] for f in report["failed"]] == [bad]
    assert "unusable" in report["failed"][0]["reason"]
    assert any(x["repository"] == good and len(x["tags"]) == 1 for x in report["retention"]), report
    tags = client.request("GET", f"/v2/{good}/tags/list").json()["tags"]
    assert len(tags) == 1  # the good repository's rules were applied despite the bad one

    r = _retention(registry, {"repository": bad, "dryRun": True})
    assert r.status_code == 409, r.text
    err = r.json()["errors"][0]
    assert err["code"] == "UNSUPPORTED" and "set it again" in err["detail"]["reason"]
    assert client.request("GET", f"/v2/{bad}/manifests/v1").status_code == 200  # untouched

    for doc in ([1, 2], {"retention": "x"}, {"retention": [{"rule": "expire-tags", "tags": "*", "days": "1"}]}):
        services().tag_rules().store.put_policy(bad, doc)
        assert _retention(registry, {"repository": bad}).status_code == 409, doc
    services().tag_rules().store.put_policy(bad, None)


def test_a_push_under_a_bad_stored_policy_is_409_not_500(registry, client, repo):
    client.push_image(repo, "v1")
    services().tag_rules().store.put_policy(repo, {"immutableTags": [5]})
    services().tag_rules().forget(repo)
    try:
        r = client.request("PUT", f"/v2/{repo}/manifests/v2", data=client.request(
            "GET", f"/v2/{repo}/manifests/v1").content,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 409 and "set it again" in r.json()["errors"][0]["detail"]["reason"], r.text
        r = requests.put(f"{registry.url}/admin/policies", auth=registry.admin,  # the way out
                         json={"repository": repo, "policy": None})
        assert r.status_code == 200, r.text
        r = client.request("PUT", f"/v2/{repo}/manifests/v2", data=client.request(
            "GET", f"/v2/{repo}/manifests/v1").content,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 201, r.text
    finally:
        services().tag_rules().store.put_policy(repo, None)
