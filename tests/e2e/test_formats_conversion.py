"""End-to-end: conversion on read, with the images test_formats.py pushes.

- plain HTTP clients ask for formats the registry does not hold (Docker v2
  schema 2 only, signed schema 1 only) and get converted manifests whose
  blobs pull and whose digests are stable;
- a scripted Docker V1 client walks _ping -> tags -> ancestry -> json/layer.
"""
from __future__ import annotations

import json

import pytest

import requests

from e2e.clients import (
    MT_OCI_MANIFEST,
    sha256,
)
from e2e.helpers import server_log_on_failure

from format_support import (  # noqa: F401 - fixtures are imported for pytest to find by name
    EMPTY_LAYER, scratch, EMPTY_LAYER_BYTES, expected_fs_layers, follow_307, FORMATS, MT_DOCKER_CONFIG,
    MT_DOCKER_LAYER_GZIP, MT_S1_SIGNED, MT_V2, pushed_formats, schema1_key_id, V2Http)


# --------------------------------------------------------------------------
# 5. Docker v2 schema 2 only: conversion of an OCI image on read
# --------------------------------------------------------------------------


def test_docker_v2s2_only_client_gets_converted_manifest(local_registry, pushed_formats):
    layout = pushed_formats["layout"]
    http = V2Http(local_registry, pushed_formats["push"]["oci"]["repo"])
    with server_log_on_failure(local_registry):
        r = http.manifest("v1", MT_V2)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] == MT_V2
        digest = r.headers["Docker-Content-Digest"]
        assert digest == sha256(r.content), "Docker-Content-Digest is not sha256 of the body"
        assert digest != layout["manifest_digest"]
        doc = json.loads(r.content)
        assert doc["schemaVersion"] == 2 and doc["mediaType"] == MT_V2
        assert doc["config"] == {"mediaType": MT_DOCKER_CONFIG, "size": len(layout["config"]),
                                 "digest": layout["config_digest"]}
        assert [layer["digest"] for layer in doc["layers"]] == layout["layer_digests"]
        assert all(layer["mediaType"] == MT_DOCKER_LAYER_GZIP for layer in doc["layers"])
        for desc in [doc["config"], *doc["layers"]]:
            data = http.blob(desc["digest"])
            assert len(data) == desc["size"] and data == layout["blobs"][desc["digest"]]

        # the derived manifest is kept: by its digest, and by tag again, the same bytes
        for accept in (MT_V2, None):
            again = http.manifest(digest, accept)
            assert again.status_code == 200 and again.content == r.content
            assert again.headers["Docker-Content-Digest"] == digest and again.headers["Content-Type"] == MT_V2
        assert http.manifest("v1", MT_V2).content == r.content
        # clients that accept OCI still get the stored bytes
        stored = http.manifest("v1", f"{MT_OCI_MANIFEST}, {MT_V2}")
        assert stored.content == layout["manifest"] and stored.headers["Content-Type"] == MT_OCI_MANIFEST


# --------------------------------------------------------------------------
# 6. signed schema 1 only: conversion with the registry's key
# --------------------------------------------------------------------------


def test_schema1_only_client_gets_signed_schema1(local_registry, pushed_formats):
    from chalicelib.manifests import jws

    layout = pushed_formats["layout"]
    repo = pushed_formats["push"]["oci"]["repo"]
    http = V2Http(local_registry, repo)
    with server_log_on_failure(local_registry):
        r = http.manifest("v1", MT_S1_SIGNED)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] == MT_S1_SIGNED
        payload = jws.verify(r.content)
        digest = r.headers["Docker-Content-Digest"]
        assert digest == sha256(payload)
        doc = json.loads(r.content)
        assert json.loads(payload) == {k: v for k, v in doc.items() if k != "signatures"}
        assert doc["schemaVersion"] == 1 and doc["name"] == repo and doc["tag"] == "v1"
        assert doc["architecture"] == "amd64"
        sums = [f["blobSum"] for f in doc["fsLayers"]]
        assert sums == expected_fs_layers(layout), f"fsLayers {sums}"
        # v1 ids chain from the bottom up; throwaway marks the empty steps
        entries = [json.loads(h["v1Compatibility"]) for h in doc["history"]]
        for upper, lower in zip(entries, entries[1:]):
            assert upper["parent"] == lower["id"]
        assert "parent" not in entries[-1]
        empty = [bool(e.get("throwaway")) for e in entries]
        assert empty == [s == EMPTY_LAYER for s in sums]
        top_config = json.loads(layout["config"])
        assert entries[0]["config"] == top_config["config"] and entries[0]["architecture"] == "amd64"
        kid = schema1_key_id()
        if kid is not None:
            assert [s["header"]["jwk"]["kid"] for s in doc["signatures"]] == [kid], "not signed with the registry key"
        # every blobSum pulls, the empty layer included
        for blob in dict.fromkeys(sums):
            want = EMPTY_LAYER_BYTES if blob == EMPTY_LAYER else layout["blobs"][blob]
            assert http.blob(blob) == want

        # by its digest the same signed bytes; by the OCI digest the stored OCI bytes
        again = http.manifest(digest, MT_S1_SIGNED)
        assert again.status_code == 200 and again.content == r.content
        assert again.headers["Docker-Content-Digest"] == digest
        stored = http.manifest(layout["manifest_digest"], MT_S1_SIGNED)
        assert stored.status_code == 200 and stored.content == layout["manifest"]
        assert stored.headers["Content-Type"] == MT_OCI_MANIFEST
        assert stored.headers["Docker-Content-Digest"] == layout["manifest_digest"]
        # stable: asking again by tag gives the kept manifest
        assert http.manifest("v1", MT_S1_SIGNED).content == r.content


# --------------------------------------------------------------------------
# 7. a scripted Docker V1 client, for every pushed format
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_v1_client_pulls_every_layer(local_registry, pushed_formats, fmt):
    layout = pushed_formats["layout"]
    repo = pushed_formats["push"][fmt]["repo"]
    base = local_registry.url
    s = requests.Session()
    s.auth = (local_registry.username, local_registry.password)
    with server_log_on_failure(local_registry):
        ping = s.get(f"{base}/v1/_ping", timeout=30)
        assert ping.status_code == 200 and ping.headers.get("X-Docker-Registry-Version"), ping.text
        tags = s.get(f"{base}/v1/repositories/{repo}/tags", timeout=60)
        assert tags.status_code == 200, tags.text
        assert set(tags.json()) == {"v1"}
        top = tags.json()["v1"]
        assert s.get(f"{base}/v1/repositories/{repo}/tags/v1", timeout=30).json() == top
        ancestry = s.get(f"{base}/v1/images/{top}/ancestry", timeout=30)
        assert ancestry.status_code == 200, ancestry.text
        ids = ancestry.json()
        assert ids[0] == top and len(ids) == len(set(ids)) == len(layout["history"])
        layers = []
        for i, image_id in enumerate(ids):
            meta = s.get(f"{base}/v1/images/{image_id}/json", timeout=30)
            assert meta.status_code == 200, meta.text
            v1 = meta.json()
            assert v1["id"] == image_id
            assert v1.get("parent", "") == (ids[i + 1] if i + 1 < len(ids) else "")
            data = follow_307(s, f"{base}/v1/images/{image_id}/layer")
            assert int(meta.headers["X-Docker-Size"]) == len(data)
            layers.append(sha256(data))
            want = EMPTY_LAYER_BYTES if layers[-1] == EMPTY_LAYER else layout["blobs"].get(layers[-1])
            assert data == want, f"layer of {image_id} is none of the layout's blobs"
        assert layers == expected_fs_layers(layout), f"V1 layers top first {layers}"
        images = s.get(f"{base}/v1/repositories/{repo}/images", timeout=30).json()
        assert {"id": top} in images
