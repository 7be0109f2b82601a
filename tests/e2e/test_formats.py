"""End-to-end: manifest formats and conversion on read, with REAL clients.

Against the real local registry (`python -m local`, token auth on):

- skopeo pushes one image as signed schema 1 (``--format v2s1``, signed by
  skopeo itself), Docker v2 schema 2 and OCI, and pulls each back;
- podman and buildah pull each of the three; containerd pulls each platform
  of a multi-platform OCI index;
- plain HTTP clients ask for formats the registry does not hold (Docker v2
  schema 2 only, signed schema 1 only) and get converted manifests whose
  blobs pull and whose digests are stable;
- a scripted Docker V1 client walks _ping -> tags -> ancestry -> json/layer.

Every blob is compared byte for byte with the OCI layout it came from.
"""
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
    MT_OCI_INDEX,
    MT_OCI_MANIFEST,
    REPO_ROOT,
    Buildah,
    Containerd,
    Podman,
    Skopeo,
    build_oci_index_layout,
    build_oci_layout,
    sha256,
)
from e2e.helpers import read_oci_layout, require_binaries, server_log_on_failure

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


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """A short module-wide scratch directory."""
    path = Path(tempfile.mkdtemp(prefix="e2e-fmt-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def pushed_index(local_registry, scratch) -> dict:
    """A linux/amd64 + linux/arm64 OCI index pushed with ``skopeo copy --all``."""
    require_binaries("skopeo")
    layout = build_oci_index_layout(scratch / "multi", layers=2, seed=51)
    repo = f"e2e/{uuid.uuid4().hex[:12]}/multi"
    ref = f"{local_registry.host}/{repo}:v1"
    with server_log_on_failure(local_registry):
        Skopeo(scratch / "skopeo-multi", creds=local_registry.creds).copy(layout["ref"], ref, "--all")
    return {**layout, "repo": repo, "remote": ref}


# --------------------------------------------------------------------------
# 1. skopeo --format v2s1: signed schema 1 push and pull back
# --------------------------------------------------------------------------


def test_skopeo_v2s1_push_is_signed_schema1_and_pulls_back(local_registry, tmp, pushed_formats):
    from chalicelib.manifests import jws

    layout = pushed_formats["layout"]
    push = pushed_formats["push"]["v2s1"]
    skopeo = Skopeo(tmp / "skopeo", creds=local_registry.creds)
    with server_log_on_failure(local_registry):
        raw = skopeo.inspect(push["ref"], raw=True)
        doc = json.loads(raw)
        assert doc["schemaVersion"] == 1 and doc.get("signatures"), f"not a signed schema 1 manifest:\n{raw[:600]!r}"
        payload = jws.verify(raw)  # every signature (skopeo's own) checks
        signed = json.loads(payload)
        assert signed == {k: v for k, v in doc.items() if k != "signatures"}, "content outside the signed payload"
        assert signed["name"] == push["repo"] and signed["tag"] == "v1"
        assert signed["architecture"] == "amd64"
        sums = [f["blobSum"] for f in signed["fsLayers"]]
        assert sums == expected_fs_layers(layout), f"fsLayers {sums}"
        assert len(signed["history"]) == len(sums)
        info = skopeo.inspect(push["ref"])
        assert info["Digest"] == sha256(payload), "schema 1 digest is not that of the signed payload"
        # by digest: the same signed bytes
        assert skopeo.inspect(f"{local_registry.host}/{push['repo']}@{info['Digest']}", raw=True) == raw

        # pull back as is (dir: keeps the manifest) -- every blob byte for byte
        out = tmp / "dir"
        skopeo.copy(push["ref"], f"dir:{out}")
        manifest, blobs = read_dir_image(out)
        assert manifest == raw, "pulled schema 1 manifest differs from the registry's bytes"
        assert set(blobs) == set(sums), f"dir: holds {sorted(blobs)}, manifest lists {sorted(set(sums))}"
        for digest in set(sums):
            want = EMPTY_LAYER_BYTES if digest == EMPTY_LAYER else layout["blobs"][digest]
            assert blobs[digest] == want, f"layer {digest} differs after the round trip"

        # pull back into a new OCI layout (skopeo converts): the layers are the layout's
        oci_out = tmp / "oci"
        skopeo.copy(push["ref"], f"oci:{oci_out}:v1")
        index, oci_blobs = read_oci_layout(oci_out)
        manifest = json.loads(oci_blobs[index["manifests"][0]["digest"]])
        assert [layer["digest"] for layer in manifest["layers"]] == layout["layer_digests"]
        for digest in layout["layer_digests"]:
            assert oci_blobs[digest] == layout["blobs"][digest], f"layer {digest} differs in the OCI copy"
        config = json.loads(oci_blobs[manifest["config"]["digest"]])
        assert config["rootfs"]["diff_ids"] == layout["diff_ids"]


# --------------------------------------------------------------------------
# 2. skopeo --format v2s2 / oci: byte-identical round trips
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["v2s2", "oci"])
def test_skopeo_format_push_round_trip(local_registry, tmp, pushed_formats, fmt):
    layout = pushed_formats["layout"]
    push = pushed_formats["push"][fmt]
    skopeo = Skopeo(tmp / "skopeo", creds=local_registry.creds)
    # What skopeo sends for this format (its conversion is deterministic): convert locally.
    local = tmp / "local"
    skopeo.copy(layout["ref"], f"dir:{local}", "--format", fmt)
    expected, _ = read_dir_image(local)
    if fmt == "oci":
        assert expected == layout["manifest"]
    with server_log_on_failure(local_registry):
        raw = skopeo.inspect(push["ref"], raw=True)
        assert raw == expected, f"registry holds other bytes than skopeo pushed:\n{raw!r}\n!=\n{expected!r}"
        doc = json.loads(raw)
        assert doc["mediaType"] == FORMATS[fmt]
        info = skopeo.inspect(push["ref"])
        assert info["Digest"] == sha256(raw)
        assert info["Layers"] == layout["layer_digests"]
        assert skopeo.inspect(push["ref"], raw=True, config=True) == layout["config"]
        assert doc["config"]["digest"] == layout["config_digest"]

        if fmt == "oci":
            out = tmp / "pulled"
            skopeo.copy(push["ref"], f"oci:{out}:v1")
            index, blobs = read_oci_layout(out)
            assert [m["digest"] for m in index["manifests"]] == [layout["manifest_digest"]]
            assert blobs == layout["blobs"], "pulled OCI layout differs from the pushed one"
        else:
            out = tmp / "pulled"
            skopeo.copy(push["ref"], f"dir:{out}")
            manifest, blobs = read_dir_image(out)
            assert manifest == raw
            wanted = {d: b for d, b in layout["blobs"].items() if d != layout["manifest_digest"]}
            assert blobs == wanted, "pulled v2s2 blobs differ from the layout's"


# --------------------------------------------------------------------------
# 3. podman / buildah pull of every pushed format
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_podman_pull_each_format(local_registry, tmp, pushed_formats, fmt):
    require_binaries("podman")
    layout = pushed_formats["layout"]
    push = pushed_formats["push"][fmt]
    digest = Skopeo(tmp / "skopeo", creds=local_registry.creds).inspect(push["ref"])["Digest"]
    podman = Podman(tmp / "podman", creds=local_registry.creds)
    with server_log_on_failure(local_registry):
        image_id = podman.pull(push["ref"])
        info = podman.inspect(push["ref"])
        assert info["Id"] == image_id and info["Digest"] == digest
        assert info["Architecture"] == "amd64" and info["Os"] == "linux"
        assert info["Config"]["Cmd"] == ["/bin/sh"]
        # what podman unpacked: the layout's layers (schema 1's empty layers skipped)
        stored = storage_diff_ids(podman, image_id)
        assert stored == layout["diff_ids"], f"{fmt}: podman stored diff ids {stored} != layout {layout['diff_ids']}"
        if fmt == "v2s1":
            # Schema 1 carries no config; the one podman synthesises has no diff ids
            # (containers/image: "the RootFS data is really not present" for schema1,
            # podman#20747), so RootFS.Layers is one "" per layer.
            assert len(info["RootFS"]["Layers"]) == len(layout["diff_ids"])
        else:
            assert image_id == layout["config_digest"].split(":", 1)[1]
            assert info["RootFS"]["Layers"] == layout["diff_ids"], (
                f"{fmt}: podman diff ids {info['RootFS']['Layers']} != layout {layout['diff_ids']}"
            )


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_buildah_pull_each_format(local_registry, tmp, pushed_formats, fmt):
    require_binaries("buildah")
    layout = pushed_formats["layout"]
    push = pushed_formats["push"][fmt]
    digest = Skopeo(tmp / "skopeo", creds=local_registry.creds).inspect(push["ref"])["Digest"]
    buildah = Buildah(tmp / "buildah", creds=local_registry.creds)
    with server_log_on_failure(local_registry):
        image_id = buildah.pull(push["ref"])
        info = buildah.inspect(push["ref"])
        assert info["FromImageDigest"] == digest
        assert info["FromImageID"] == image_id
        stored = storage_diff_ids(buildah, image_id)
        assert stored == layout["diff_ids"], f"{fmt}: buildah stored diff ids {stored} != layout {layout['diff_ids']}"
        if fmt != "v2s1":  # schema 1: the synthesised config has no diff ids (see the podman test)
            assert image_id == layout["config_digest"].split(":", 1)[1]
            assert info["OCIv1"]["rootfs"]["diff_ids"] == layout["diff_ids"], (
                f"{fmt}: buildah diff ids {info['OCIv1']['rootfs']['diff_ids']} != layout {layout['diff_ids']}"
            )


# --------------------------------------------------------------------------
# 4. containerd: each platform of a multi-platform OCI index
# --------------------------------------------------------------------------


def test_multi_platform_index_pushed_intact(local_registry, tmp, pushed_index):
    skopeo = Skopeo(tmp / "skopeo", creds=local_registry.creds)
    with server_log_on_failure(local_registry):
        assert skopeo.inspect(pushed_index["remote"], raw=True) == pushed_index["index"]
        for image in pushed_index["images"].values():
            ref = f"{local_registry.host}/{pushed_index['repo']}@{image['manifest_digest']}"
            assert skopeo.inspect(ref, raw=True) == image["manifest"]


@pytest.mark.parametrize("arch", ["arm64", "amd64"])
def test_containerd_pulls_platform_child(local_registry, tmp, pushed_index, arch):
    require_binaries("containerd", "ctr")
    want = pushed_index["images"][f"linux/{arch}"]
    other = next(img for key, img in pushed_index["images"].items() if key != f"linux/{arch}")
    with Containerd(tmp / "ctrd") as ctrd, server_log_on_failure(local_registry):
        ctrd.pull(pushed_index["remote"], plain_http=True, platform=f"linux/{arch}", user=local_registry.creds)
        listed = {img["ref"]: img for img in ctrd.images_list()}
        assert pushed_index["remote"] in listed, f"`ctr images ls`: {sorted(listed)}"
        assert listed[pushed_index["remote"]]["digest"] == pushed_index["index_digest"]
        assert listed[pushed_index["remote"]]["type"] == MT_OCI_INDEX

        # the chosen child: manifest, config (with the right architecture) and layers, byte for byte
        for digest in [want["manifest_digest"], want["config_digest"], *want["layer_digests"]]:
            got = ctrd.ctr("content", "get", digest, text=False).stdout
            assert got == want["blobs"][digest], f"content {digest} differs in containerd"
        config = json.loads(ctrd.ctr("content", "get", want["config_digest"], text=False).stdout)
        assert config["architecture"] == arch
        # the other platform's config and layers were not fetched
        for digest in [other["config_digest"], *other["layer_digests"]]:
            probe = ctrd.ctr("content", "get", digest, check=False, text=False)
            assert probe.returncode != 0, f"{digest} of the other platform was fetched too"
        # unpacked: the snapshot of the chosen child's layer chain is committed
        top = chain_id(want["diff_ids"])
        snap = ctrd.ctr("snapshots", "--snapshotter", ctrd.snapshotter, "info", top, check=False)
        assert snap.returncode == 0, f"no snapshot {top} after unpack:\n{snap.stderr}\n{ctrd.log_tail(20)}"
        assert json.loads(snap.stdout)["Kind"] == "Committed"


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
