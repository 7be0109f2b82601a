"""End-to-end: manifest formats with REAL clients (conversions on read: test_formats_conversion.py).

Against the real local registry (`python -m local`, token auth on):

- skopeo pushes one image as signed schema 1 (``--format v2s1``, signed by
  skopeo itself), Docker v2 schema 2 and OCI, and pulls each back;
- podman and buildah pull each of the three; containerd pulls each platform
  of a multi-platform OCI index.

Every blob is compared byte for byte with the OCI layout it came from.
"""
from __future__ import annotations

import json

import pytest


from e2e.clients import (
    MT_OCI_INDEX,
    Buildah,
    Containerd,
    Podman,
    Skopeo,
    sha256,
)
from e2e.helpers import read_oci_layout, require_binaries, server_log_on_failure

from format_support import (  # noqa: F401 - fixtures are imported for pytest to find by name
    chain_id, scratch, EMPTY_LAYER, EMPTY_LAYER_BYTES, expected_fs_layers, FORMATS, pushed_formats,
    pushed_index, read_dir_image, storage_diff_ids)


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
