"""Cross-tenant probes: bob guesses digests, mounts, uses alice's upload session, lists the
catalog and referrers; none of it reaches or reveals alice's repository.
"""
from __future__ import annotations

import json

import pytest
import requests

from support import Client

from auth_matrix_support import (  # noqa: F401 - fixtures are imported for pytest to find by name
    _catalog_names, bearer, code_of, OCI, OCTET, SERVICE, show, snapshot, world, _forget_failed_logins)


# ---------------------------------------------------------------------------
# cross-tenant probes
# ---------------------------------------------------------------------------
@pytest.fixture
def bob(world) -> Client:
    return Client(world.url, auth=world.bob)


def test_digest_guessing(world, bob):
    """Knowing alice's digests gets bob nothing: under his own name they are unknown,
    under alice's he is denied."""
    w = world
    for method in ("GET", "HEAD"):
        r = bob.request(method, f"/v2/{w.bob_repo}/blobs/{w.layer}")
        assert r.status_code == 404, show(r)
        if method == "GET":
            assert code_of(r) == "BLOB_UNKNOWN"
        r = bob.request(method, f"/v2/{w.bob_repo}/manifests/{w.digest}")
        assert r.status_code == 404, show(r)
        if method == "GET":
            assert code_of(r) == "MANIFEST_UNKNOWN"
    for path in (f"/v2/{w.repo}/blobs/{w.layer}", f"/v2/{w.repo}/manifests/{w.digest}",
                 f"/v2/{w.repo}/manifests/v1", f"/v2/{w.repo}/blobs/{w.config}"):
        r = Client(w.url, auth=w.bob).request("GET", path)
        assert r.status_code == 403 and code_of(r) == "DENIED", show(r)
    # an index in bob's repository naming alice's manifest cannot pull it in
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [{"mediaType": OCI, "digest": w.digest, "size": 10}]}).encode()
    r = bob.push_manifest(w.bob_repo, "steal", index, media_type="application/vnd.oci.image.index.v1+json")
    assert r.status_code == 400 and code_of(r) in ("MANIFEST_BLOB_UNKNOWN", "MANIFEST_UNKNOWN"), show(r)
    # nor can a manifest referencing alice's blobs
    r = bob.push_manifest(w.bob_repo, "steal", w.new_manifest)
    assert r.status_code == 400 and code_of(r) == "MANIFEST_BLOB_UNKNOWN", show(r)
    assert bob.request("GET", f"/v2/{w.bob_repo}/tags/list").json()["tags"] == ["v1"]


def test_mount_across_tenants_is_a_normal_upload(world, bob):
    w = world
    before = snapshot(w)
    # even with pull on alice's repository asked for (and refused) in the token
    c = Client(w.url, auth=w.bob)
    tok = requests.get(f"{w.url}/token", auth=w.bob, params=[
        ("service", SERVICE), ("scope", f"repository:{w.bob_repo}:pull,push"), ("scope", f"repository:{w.repo}:pull")])
    token = tok.json()["token"]
    for query in (f"mount={w.layer}&from={w.repo}", f"mount={w.layer}", f"mount={w.config}&from={w.repo}"):
        r = requests.post(f"{w.url}/v2/{w.bob_repo}/blobs/uploads/?{query}", headers=bearer(token))
        assert r.status_code == 202, f"{query}: {show(r)}"
        assert "Docker-Upload-UUID" in r.headers
    for d in (w.layer, w.config):
        assert c.request("HEAD", f"/v2/{w.bob_repo}/blobs/{d}").status_code == 404
    # controls: mounting works where the source is readable ...
    r = requests.post(f"{w.url}/v2/{w.bob_repo}-copy/blobs/uploads/?mount={w.bob_layer}&from={w.bob_repo}",
                      headers=bearer(requests.get(f"{w.url}/token", auth=w.bob, params=[
                          ("service", SERVICE), ("scope", f"repository:{w.bob_repo}-copy:pull,push"),
                          ("scope", f"repository:{w.bob_repo}:pull")]).json()["token"]))
    assert r.status_code == 201, show(r)
    # ... and alice's blob is mountable for someone who may read it (alice herself)
    r = requests.post(f"{w.url}/v2/{w.alice[0]}/copy/blobs/uploads/?mount={w.layer}&from={w.repo}",
                      headers=bearer(requests.get(f"{w.url}/token", auth=w.alice, params=[
                          ("service", SERVICE), ("scope", f"repository:{w.alice[0]}/copy:pull,push"),
                          ("scope", f"repository:{w.repo}:pull")]).json()["token"]))
    assert r.status_code == 201, show(r)
    # bob mounting into alice's namespace: denied outright
    r = Client(w.url, auth=w.bob).request("POST", f"/v2/{w.repo}/blobs/uploads/?mount={w.bob_layer}&from={w.bob_repo}")
    assert r.status_code == 403 and code_of(r) == "DENIED"
    assert snapshot(w) == before


def test_upload_session_of_another_tenant(world, bob):
    """Alice's upload id used under bob's repository is unknown; under hers, denied."""
    w = world
    before = snapshot(w)
    for method, kw in (("GET", {}), ("PATCH", {"data": b"evil", "headers": OCTET}),
                       ("PUT", {"params": {"digest": w.session_final_digest}, "data": w.session_tail}),
                       ("DELETE", {})):
        r = bob.request(method, f"/v2/{w.bob_repo}/blobs/uploads/{w.session}", **kw)
        assert r.status_code == 404 and code_of(r) == "BLOB_UPLOAD_UNKNOWN", f"{method}: {show(r)}"
        r = Client(w.url, auth=w.bob).request(method, f"/v2/{w.repo}/blobs/uploads/{w.session}", **kw)
        assert r.status_code == 403 and code_of(r) == "DENIED", f"{method}: {show(r)}"
    assert snapshot(w) == before


def test_catalog_across_tenants(world):
    w = world
    alices = {w.repo, f"{w.alice[0]}/robot-made"}
    for creds, visible, hidden in ((w.bob, {w.bob_repo}, alices), (w.alice, alices, {w.bob_repo}),
                                   (w.reader, alices, {w.bob_repo})):
        tok = requests.get(f"{w.url}/token", auth=creds, params={"service": SERVICE,
                                                                 "scope": "registry:catalog:*"})
        r = requests.get(f"{w.url}/v2/_catalog?n=1000", headers=bearer(tok.json()["token"]))
        assert r.status_code == 200, show(r)
        names = set(_catalog_names(w, r))
        assert visible <= names and not hidden & names, (creds[0], sorted(names))


def test_referrers_across_tenants(world, bob):
    w = world
    r = bob.request("GET", f"/v2/{w.bob_repo}/referrers/{w.digest}")
    assert r.status_code == 200 and r.json()["manifests"] == [], show(r)
    r = Client(w.url, auth=w.bob).request("GET", f"/v2/{w.repo}/referrers/{w.digest}")
    assert r.status_code == 403 and code_of(r) == "DENIED"
    r = Client(w.url, auth=w.bob).request("GET", f"/v2/{w.repo}/referrers/{w.digest}",
                                          params={"artifactType": "application/vnd.example.signature"})
    assert r.status_code == 403


def test_denials_do_not_reveal_existence(world):
    """Bob is refused the same way for alice's repository and for a name in her
    namespace that does not exist."""
    w = world
    for suffix in ("manifests/v1", f"manifests/{w.digest}", f"blobs/{w.layer}", "tags/list",
                   f"referrers/{w.digest}"):
        a = Client(w.url, auth=w.bob).request("GET", f"/v2/{w.repo}/{suffix}")
        b = Client(w.url, auth=w.bob).request("GET", f"/v2/{w.missing}/{suffix}")
        assert a.status_code == b.status_code == 403, (show(a), show(b))
        da, db = a.json(), b.json()
        assert da["errors"][0]["code"] == db["errors"][0]["code"] == "DENIED"
        assert json.dumps(da).replace(w.repo, "NAME") == json.dumps(db).replace(w.missing, "NAME")
        assert set(a.headers) == set(b.headers)
