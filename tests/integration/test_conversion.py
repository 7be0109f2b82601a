"""Conversion on read (by tag only), derived content, schema 1 push, and refusals."""
from __future__ import annotations

import hashlib
import json

import pytest

from support import sha256

OCI = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
V2 = "application/vnd.docker.distribution.manifest.v2+json"
LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
S1 = "application/vnd.docker.distribution.manifest.v1+json"
S1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
EMPTY_LAYER = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"


def push_oci_image(client, repo, tag, arch="amd64", layers=2):
    layer_descs, diff_ids = [], []
    for i in range(layers):
        data = f"{repo} {arch} layer {i}".encode() * 20
        layer_descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": client.push_blob(repo, data), "size": len(data)})
        diff_ids.append(sha256(data + b"uncompressed"))
    history = [{"created": "2026-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ENV A=1", "empty_layer": True}]
    history += [{"created": "2026-01-02T00:00:00Z", "created_by": f"/bin/sh -c step {i}"} for i in range(layers)]
    config = json.dumps({"architecture": arch, "os": "linux", "created": "2026-01-02T00:00:00Z",
                         "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history}).encode()
    cfg = client.push_blob(repo, config)
    doc = {"schemaVersion": 2, "mediaType": OCI,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": len(config)},
           "layers": layer_descs}
    body = json.dumps(doc).encode()
    assert client.push_manifest(repo, tag or sha256(body), body).status_code == 201
    return sha256(body), body, doc


def get(client, repo, ref, *accept):
    """GET a manifest with an Accept list (one header, comma separated)."""
    headers = {"Accept": ", ".join(accept)} if accept else {}
    return client.request("GET", f"/v2/{repo}/manifests/{ref}", headers=headers)


def test_no_accept_and_by_digest_return_stored_bytes(client, repo):
    digest, body, _ = push_oci_image(client, repo, "v1")
    r = client.request("GET", f"/v2/{repo}/manifests/v1")
    assert r.content == body and r.headers["Content-Type"] == OCI
    r = get(client, repo, digest, V2)
    assert r.status_code == 200 and r.content == body and r.headers["Docker-Content-Digest"] == digest


def test_oci_to_docker_v2_by_tag(client, repo):
    digest, body, doc = push_oci_image(client, repo, "v1")
    r = get(client, repo, "v1", V2)
    assert r.status_code == 200 and r.headers["Content-Type"] == V2
    converted = json.loads(r.content)
    assert converted["mediaType"] == V2
    assert converted["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert [l["digest"] for l in converted["layers"]] == [l["digest"] for l in doc["layers"]]
    assert all(l["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip" for l in converted["layers"])
    d = r.headers["Docker-Content-Digest"]
    assert d == sha256(r.content) and d != digest
    # derived content: the digest it was served under returns the identical bytes, stably
    again = client.request("GET", f"/v2/{repo}/manifests/{d}")
    assert again.status_code == 200 and again.content == r.content and again.headers["Content-Type"] == V2
    assert get(client, repo, "v1", V2).content == r.content
    for l in converted["layers"] + [converted["config"]]:
        assert client.request("HEAD", f"/v2/{repo}/blobs/{l['digest']}").status_code == 200


@pytest.mark.parametrize("accept,media_type", [(S1_SIGNED, S1_SIGNED), (S1, S1)])
def test_schema1_from_oci(client, repo, accept, media_type):
    digest, body, doc = push_oci_image(client, repo, "v1", layers=2)
    r = get(client, repo, "v1", accept)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == media_type
    m = json.loads(r.content)
    assert m["schemaVersion"] == 1 and m["name"] == repo and m["tag"] == "v1"
    sums = [f["blobSum"] for f in m["fsLayers"]]
    # top layer first; the ENV step became the empty layer at the bottom
    assert sums == [doc["layers"][1]["digest"], doc["layers"][0]["digest"], EMPTY_LAYER]
    assert len(m["history"]) == 3
    d = r.headers["Docker-Content-Digest"]
    if media_type == S1_SIGNED:
        from chalicelib.manifests import jws
        payload = jws.verify(r.content)  # every signature checks
        assert d == "sha256:" + hashlib.sha256(payload).hexdigest()
    else:
        assert d == sha256(r.content)
    # every listed layer can be fetched, the empty layer included
    for blob in set(sums):
        head = client.request("HEAD", f"/v2/{repo}/blobs/{blob}")
        assert head.status_code == 200, blob
    assert client.request("GET", f"/v2/{repo}/manifests/{d}").content == r.content


def test_index_resolves_to_default_platform(client, repo):
    amd, amd_body, _ = push_oci_image(client, repo, None, arch="amd64")
    arm, _, _ = push_oci_image(client, repo, None, arch="arm64")
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI, "digest": arm, "size": 1, "platform": {"os": "linux", "architecture": "arm64"}},
        {"mediaType": OCI, "digest": amd, "size": len(amd_body), "platform": {"os": "linux", "architecture": "amd64"}}]}
    body = json.dumps(index).encode()
    assert client.push_manifest(repo, "multi", body, OCI_INDEX).status_code == 201
    r = get(client, repo, "multi", OCI)
    assert r.status_code == 200 and r.content == amd_body and r.headers["Docker-Content-Digest"] == amd
    r = get(client, repo, "multi", V2)  # child, then converted
    assert r.status_code == 200 and r.headers["Content-Type"] == V2
    assert get(client, repo, "multi", OCI_INDEX, OCI).content == body


def test_artifact_without_docker_equivalent_is_manifest_unknown(client, repo):
    cfg = client.push_blob(repo, b"{}")
    layer = client.push_blob(repo, b"sbom")
    doc = {"schemaVersion": 2, "mediaType": OCI, "artifactType": "application/spdx+json",
           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": 2},
           "layers": [{"mediaType": "application/spdx+json", "digest": layer, "size": 4}]}
    assert client.push_manifest(repo, "sbom", doc).status_code == 201
    r = get(client, repo, "sbom", V2)
    assert r.status_code == 404
    err = r.json()["errors"][0]
    assert err["code"] == "MANIFEST_UNKNOWN" and "no representation" in err["detail"]["reason"]


def test_signed_schema1_push_and_pull(client, repo):
    from chalicelib.manifests import jws
    layer = client.push_blob(repo, b"schema1 layer")
    payload = {"schemaVersion": 1, "name": repo, "tag": "old", "architecture": "amd64",
               "fsLayers": [{"blobSum": layer}],
               "history": [{"v1Compatibility": json.dumps({"id": "a" * 64, "created": "2020-01-01T00:00:00Z"})}]}
    signed = jws.sign(payload, jws.generate_key())
    r = client.push_manifest(repo, "old", signed, S1_SIGNED)
    assert r.status_code == 201, r.text
    digest = r.headers["Docker-Content-Digest"]
    assert digest == "sha256:" + hashlib.sha256(jws.payload_of(signed)).hexdigest()
    got = get(client, repo, "old", S1_SIGNED)
    assert got.content == signed and got.headers["Docker-Content-Digest"] == digest
    assert client.request("GET", f"/v2/{repo}/manifests/{digest}").content == signed
    tampered = signed.replace(b'"amd64"', b'"arm64"')
    r = client.push_manifest(repo, "bad", tampered, S1_SIGNED)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "MANIFEST_INVALID"
    assert client.request("GET", f"/v2/{repo}/manifests/bad").status_code == 404


@pytest.mark.parametrize("media_type,body", [
    (OCI, b'{"schemaVersion": 2, "layers": []}'),
    (OCI_INDEX, b'{"schemaVersion": 2, "manifests": {}}'),
    (V2, b'{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}'),
    (LIST, b'{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json"}'),
    (S1, b'{"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": []}'),
    (S1_SIGNED, b'{"schemaVersion": 1, "name": "x", "tag": "y", "architecture": "amd64", "fsLayers": [], "history": []}'),
])
def test_malformed_manifests_of_every_format(client, repo, media_type, body):
    r = client.push_manifest(repo, "broken", body, media_type)
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert err["code"] == "MANIFEST_INVALID" and err["detail"]["reason"]
    assert client.request("GET", f"/v2/{repo}/manifests/broken").status_code == 404
    assert client.request("GET", f"/v2/{repo}/manifests/{sha256(body)}").status_code == 404
