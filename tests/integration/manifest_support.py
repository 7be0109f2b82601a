"""Helpers of the manifest-hardening tests (test_robustness_manifests.py,\ntest_robustness_descriptors.py): media types, the Accept lists real clients send, an image\nto reference, and manifest documents built on it."""
from __future__ import annotations

import json

import pytest

from support import sha256


OCI = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
V2 = "application/vnd.docker.distribution.manifest.v2+json"
LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
S1 = "application/vnd.docker.distribution.manifest.v1+json"
S1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

# The Accept headers each client sends for a pull by tag (one list entry per header line).
ACCEPT_LISTS = {
    "docker": [V2, LIST, OCI, OCI_INDEX, S1_SIGNED, "application/json"],
    "containerd": [", ".join([V2, LIST, OCI, OCI_INDEX, "*/*"])],
    "podman-skopeo": [OCI, V2, S1_SIGNED, S1, LIST, OCI_INDEX],
    "oras": [", ".join([V2, LIST, OCI_INDEX, OCI])],
    "helm": [OCI],
}
# Clients that cannot read schema 1 at all (and the registry cannot upgrade it).
NO_SCHEMA1 = {"oras", "helm"}


def error_of(r) -> dict:
    assert r.headers["Content-Type"] == "application/json", r.text
    return r.json()["errors"][0]


def put(client, repo, ref, body, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    return client.request("PUT", f"/v2/{repo}/manifests/{ref}", data=body, headers=headers)


@pytest.fixture
def image(client, repo):
    """Blobs for one linux/amd64 image in `repo`: (config descriptor, layer descriptor)."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha256(b"layer-tar")]},
                         "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "x"}]}).encode()
    layer = b"layer bytes" * 7
    return ({"digest": client.push_blob(repo, config), "size": len(config)},
            {"digest": client.push_blob(repo, layer), "size": len(layer)})


def oci_doc(image, declared=True, **extra) -> dict:
    cfg, layer = image
    doc = {"schemaVersion": 2, "config": {"mediaType": OCI_CONFIG, **cfg}, "layers": [{"mediaType": LAYER, **layer}]}
    if declared:
        doc = {"schemaVersion": 2, "mediaType": OCI, **{k: v for k, v in doc.items() if k != "schemaVersion"}}
    doc.update(extra)
    return doc


def v2_doc(image) -> dict:
    cfg, layer = image
    return {"schemaVersion": 2, "mediaType": V2, "config": {"mediaType": DOCKER_CONFIG, **cfg},
            "layers": [{"mediaType": DOCKER_LAYER, **layer}]}
