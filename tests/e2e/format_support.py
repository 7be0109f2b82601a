"""Helpers and images of the format tests (test_formats*.py): reading pulled images, schema 1\nexpectations, a plain HTTP v2 client, and one image pushed by skopeo in each format plus a\nmulti-platform index (session-wide: pushed once per worker for both modules)."""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import urljoin

import pytest

import requests

from e2e.clients import (
    MT_OCI_MANIFEST,
    REPO_ROOT,
    Skopeo,
    build_oci_index_layout,
    build_oci_layout,
    sha256,
)
from e2e.helpers import require_binaries, server_log_on_failure


MT_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MT_S1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

# The gzipped empty tar Docker (and containers/image) use for layer-less history steps.
EMPTY_LAYER = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
EMPTY_LAYER_BYTES = bytes([31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 98, 24, 5, 163, 96, 20, 140, 88, 0,
                           8, 0, 0, 255, 255, 46, 175, 181, 239, 0, 4, 0, 0])
assert sha256(EMPTY_LAYER_BYTES) == EMPTY_LAYER

# skopeo --format value -> media type the registry must then hold.
FORMATS = {"v2s1": MT_S1_SIGNED, "v2s2": MT_V2, "oci": MT_OCI_MANIFEST}


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def read_dir_image(path: Path) -> tuple[bytes, dict[str, bytes]]:
    """(manifest.json bytes, {digest: bytes}) of a skopeo ``dir:`` image."""
    manifest = (path / "manifest.json").read_bytes()
    blobs = {}
    for f in path.iterdir():
        if re.fullmatch(r"[0-9a-f]{64}", f.name):
            blobs["sha256:" + f.name] = f.read_bytes()
    return manifest, blobs


def chain_id(diff_ids: list[str]) -> str:
    """The OCI ChainID of a layer stack (the name containerd gives the top snapshot)."""
    chain = diff_ids[0]
    for diff_id in diff_ids[1:]:
        chain = sha256(f"{chain} {diff_id}".encode())
    return chain


def storage_diff_ids(client, image_id: str) -> list[str]:
    """Uncompressed digests of the layers podman/buildah actually stored for an image, bottom first.

    Read from containers/storage's own records (vfs-images/images.json,
    vfs-layers/layers.json), which hold the digest computed while unpacking.
    """
    images = json.loads((client.root / "vfs-images" / "images.json").read_text())
    layers = {layer["id"]: layer for layer in json.loads((client.root / "vfs-layers" / "layers.json").read_text())}
    image = next((img for img in images if img["id"] == image_id), None)
    assert image is not None, f"image {image_id} not in containers/storage: {[i['id'] for i in images]}"
    chain, layer_id = [], image.get("layer")
    while layer_id:
        chain.append(layers[layer_id]["diff-digest"])
        layer_id = layers[layer_id].get("parent")
    return chain[::-1]


def add_empty_steps(layout: dict) -> dict:
    """Rewrite a ``build_oci_layout`` image so its history has layer-less steps.

    Like a real Dockerfile build: an ENV step below the first layer, a LABEL
    step between the first and second layers, a CMD step on top. Config,
    manifest and index.json are rewritten; the returned dict has the same
    keys as ``build_oci_layout``'s plus ``history``.
    """
    root = Path(layout["path"])
    blob_dir = root / "blobs" / "sha256"
    blobs = dict(layout["blobs"])
    for old in (layout["config_digest"], layout["manifest_digest"]):
        blobs.pop(old)
        (blob_dir / old.split(":", 1)[1]).unlink()

    def put(data: bytes) -> str:
        digest = sha256(data)
        (blob_dir / digest.split(":", 1)[1]).write_bytes(data)
        blobs[digest] = data
        return digest

    def empty(created_by: str) -> dict:
        return {"created": "1970-01-01T00:00:00Z", "created_by": created_by, "empty_layer": True}

    config = json.loads(layout["config"])
    steps = config["history"]
    config["history"] = [
        empty("/bin/sh -c #(nop) ENV E2E=1"),
        steps[0],
        empty("/bin/sh -c #(nop) LABEL e2e=formats"),
        *steps[1:],
        empty('/bin/sh -c #(nop)  CMD ["/bin/sh"]'),
    ]
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_digest = put(config_bytes)
    manifest = json.loads(layout["manifest"])
    manifest["config"] = {**manifest["config"], "digest": config_digest, "size": len(config_bytes)}
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    manifest_digest = put(manifest_bytes)
    index = json.loads((root / "index.json").read_text())
    index["manifests"][0].update({"digest": manifest_digest, "size": len(manifest_bytes)})
    (root / "index.json").write_text(json.dumps(index, separators=(",", ":")))
    return {
        **layout,
        "manifest_digest": manifest_digest,
        "manifest": manifest_bytes,
        "manifest_size": len(manifest_bytes),
        "config_digest": config_digest,
        "config": config_bytes,
        "blobs": blobs,
        "history": config["history"],
    }


def expected_fs_layers(layout: dict) -> list[str]:
    """Schema 1 blobSums of an image: one per history step, top first, empty steps -> EMPTY_LAYER."""
    layers = iter(layout["layer_digests"])
    sums = [EMPTY_LAYER if step.get("empty_layer") else next(layers) for step in layout["history"]]
    return sums[::-1]


def schema1_key_id() -> str | None:
    """libtrust key id of the key the local server signs schema 1 with, when it can be found."""
    from chalicelib.manifests import jws

    pem = os.environ.get("REGISTRY_SCHEMA1_KEY", "").encode()
    if not pem:
        path = Path(os.environ.get("REGISTRY_SCHEMA1_KEY_FILE") or REPO_ROOT / ".local-data" / "schema1-key.pem")
        if not path.is_file():
            return None
        pem = path.read_bytes()
    return jws.key_id(jws.key_from_pem(pem).public_key())


class V2Http:
    """A minimal V2 client over requests: the Docker token flow with the admin's Basic creds."""

    def __init__(self, registry, repo: str):
        self.registry = registry
        self.repo = repo
        self.token = self._token()

    def _token(self) -> str:
        r = requests.get(f"{self.registry.url}/v2/{self.repo}/tags/list", timeout=30)
        assert r.status_code == 401, f"anonymous request answered {r.status_code}: {r.text[:300]}"
        challenge = r.headers.get("WWW-Authenticate", "")
        assert challenge.lower().startswith("bearer "), f"not a Bearer challenge: {challenge!r}"
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        query = {"scope": f"repository:{self.repo}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        t = requests.get(params["realm"], params=query,
                         auth=(self.registry.username, self.registry.password), timeout=30)
        assert t.status_code == 200, f"/token answered {t.status_code}: {t.text[:300]}"
        return t.json()["token"]

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def manifest(self, ref: str, accept: str | None) -> requests.Response:
        headers = self._headers(**({"Accept": accept} if accept else {}))
        return requests.get(f"{self.registry.url}/v2/{self.repo}/manifests/{ref}", headers=headers, timeout=30)

    def blob(self, digest: str) -> bytes:
        """GET the blob: a 307 to presigned storage, followed without the registry's token."""
        url = f"{self.registry.url}/v2/{self.repo}/blobs/{digest}"
        r = requests.get(url, headers=self._headers(), allow_redirects=False, timeout=30)
        assert r.status_code == 307, f"GET blob {digest} answered {r.status_code}: {r.text[:300]}"
        got = requests.get(urljoin(url, r.headers["Location"]), timeout=60)
        assert got.status_code == 200, f"presigned GET of {digest} answered {got.status_code}: {got.text[:300]}"
        return got.content


def follow_307(session: requests.Session, url: str) -> bytes:
    """GET ``url`` expecting a 307, then GET its Location with no credentials."""
    r = session.get(url, allow_redirects=False, timeout=30)
    assert r.status_code == 307, f"GET {url} answered {r.status_code}: {r.text[:300]}"
    got = requests.get(urljoin(url, r.headers["Location"]), timeout=60)
    assert got.status_code == 200, f"GET {r.headers['Location']} answered {got.status_code}"
    return got.content


# --------------------------------------------------------------------------
# fixtures: one image pushed in each format, one multi-platform index
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def scratch() -> Iterator[Path]:
    """A short scratch directory for the images both format modules pull."""
    path = Path(tempfile.mkdtemp(prefix="e2e-fmt-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pushed_formats(local_registry, scratch) -> dict:
    """One 3-layer image with layer-less history steps, pushed by skopeo in each format.

    ``{"layout": ..., "host": ..., "push": {fmt: {"repo", "ref", "proc"}}}``;
    repositories ``e2e/<uniq>/fmt-<fmt>``, tag ``v1``.
    """
    require_binaries("skopeo")
    layout = add_empty_steps(build_oci_layout(scratch / "src", layers=3, seed=41))
    uniq = uuid.uuid4().hex[:12]
    host = local_registry.host
    skopeo = Skopeo(scratch / "skopeo-push", creds=local_registry.creds)
    push = {}
    with server_log_on_failure(local_registry):
        for fmt in FORMATS:
            repo = f"e2e/{uniq}/fmt-{fmt}"
            ref = f"{host}/{repo}:v1"
            proc = skopeo.copy(layout["ref"], ref, "--format", fmt)
            push[fmt] = {"repo": repo, "ref": ref, "proc": proc}
    return {"layout": layout, "host": host, "push": push}


@pytest.fixture(scope="session")
def pushed_index(local_registry, scratch) -> dict:
    """A linux/amd64 + linux/arm64 OCI index pushed with ``skopeo copy --all``."""
    require_binaries("skopeo")
    layout = build_oci_index_layout(scratch / "multi", layers=2, seed=51)
    repo = f"e2e/{uuid.uuid4().hex[:12]}/multi"
    ref = f"{local_registry.host}/{repo}:v1"
    with server_log_on_failure(local_registry):
        Skopeo(scratch / "skopeo-multi", creds=local_registry.creds).copy(layout["ref"], ref, "--all")
    return {**layout, "repo": repo, "remote": ref}
