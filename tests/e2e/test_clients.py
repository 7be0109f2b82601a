"""End-to-end: real OCI clients against the real local registry (`python -m local`).

Every test pushes to a fresh repository under ``e2e/<uniq>/`` and checks real
outcomes: manifest bytes, digests, tags and blob bytes. Failures carry the
tail of the server log.
"""
from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path


import pytest


from e2e.clients import (
    MT_OCI_MANIFEST,
    Buildah,
    Containerd,
    Podman,
    Skopeo,
    build_oci_layout,
    sha256,
)
from e2e.helpers import read_oci_layout, require_binaries, server_log_on_failure

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def assert_layout_round_trip(original: dict, out_dir: Path) -> None:
    """The layout skopeo wrote from the registry holds exactly the original blobs, byte for byte."""
    index, blobs = read_oci_layout(out_dir)
    manifests = index.get("manifests") or []
    assert len(manifests) == 1, f"pulled layout index.json: {index}"
    assert manifests[0]["digest"] == original["manifest_digest"], (
        f"pulled manifest digest {manifests[0]['digest']} != pushed {original['manifest_digest']}"
    )
    assert manifests[0]["size"] == len(original["manifest"])
    assert set(blobs) == set(original["blobs"]), (
        f"blob sets differ: missing {sorted(set(original['blobs']) - set(blobs))}, "
        f"extra {sorted(set(blobs) - set(original['blobs']))}"
    )
    for digest, data in original["blobs"].items():
        got = blobs[digest]
        assert got == data, f"blob {digest}: {len(got)} bytes pulled, {len(data)} pushed, contents differ"
        assert sha256(got) == digest


def build_large_layout(path: Path, size: int, seed: int = 7) -> dict:
    """An OCI layout with one layer: a tar.gz of ``size`` bytes of random (incompressible) data."""
    import random

    payload = random.Random(seed).randbytes(size)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("big.bin")
        info.size = len(payload)
        info.mode = 0o644
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    return build_oci_layout(path, seed=seed, layer_tars=[buf.getvalue()], compresslevel=1)


def chain_id(diff_ids: list[str]) -> str:
    """The OCI ChainID of a layer stack (the name containerd gives the top snapshot)."""
    chain = diff_ids[0]
    for diff_id in diff_ids[1:]:
        chain = sha256(f"{chain} {diff_id}".encode())
    return chain


@pytest.fixture
def pushed(local_registry, tmp, uniq):
    """A fresh 3-layer image pushed with skopeo to ``HOST/e2e/<uniq>/app:v1``."""
    require_binaries("skopeo")
    layout = build_oci_layout(tmp / "src", layers=3, seed=11)
    ref = f"{local_registry.host}/e2e/{uniq}/app:v1"
    with server_log_on_failure(local_registry):
        Skopeo(tmp / "skopeo-push", creds=local_registry.creds).copy(layout["ref"], ref)
    return {**layout, "remote": ref, "repo": f"{local_registry.host}/e2e/{uniq}/app"}


# --------------------------------------------------------------------------
# skopeo
# --------------------------------------------------------------------------


def test_skopeo_push_inspect_tags_pull_delete(local_registry, tmp, uniq):
    require_binaries("skopeo")
    host = local_registry.host
    repo = f"{host}/e2e/{uniq}/app"
    layout = build_oci_layout(tmp / "src", layers=3, seed=1)
    skopeo = Skopeo(tmp / "skopeo", creds=local_registry.creds)
    with server_log_on_failure(local_registry):
        skopeo.copy(layout["ref"], f"{repo}:v1")

        raw = skopeo.inspect(f"{repo}:v1", raw=True)
        assert raw == layout["manifest"], f"manifest bytes changed:\n{raw!r}\n!=\n{layout['manifest']!r}"
        info = skopeo.inspect(f"{repo}:v1")
        assert info["Digest"] == layout["manifest_digest"]
        assert info["Layers"] == layout["layer_digests"]
        by_digest = skopeo.inspect(f"{repo}@{layout['manifest_digest']}", raw=True)
        assert by_digest == layout["manifest"]
        config = skopeo.inspect(f"{repo}:v1", raw=True, config=True)
        assert config == layout["config"], "config blob bytes changed"

        assert skopeo.list_tags(repo) == ["v1"]
        skopeo.copy(layout["ref"], f"{repo}:v2")
        assert skopeo.list_tags(repo) == ["v1", "v2"]

        out = tmp / "pulled"
        skopeo.copy(f"{repo}:v1", f"oci:{out}:v1")
        assert_layout_round_trip(layout, out)

        skopeo.delete(f"{repo}:v1")
        anonymous = skopeo.run("inspect", "--tls-verify=false", "--raw", f"docker://{repo}:v2", check=False)
        assert anonymous.returncode != 0 and "unauthorized" in anonymous.stderr.lower(), anonymous.stderr
        gone = skopeo.run("inspect", "--tls-verify=false", *skopeo._creds(), "--raw", f"docker://{repo}:v1",
                          check=False)
        assert gone.returncode != 0, f"inspect after delete still succeeded:\n{gone.stdout[:500]}"
        assert "manifest unknown" in gone.stderr.lower(), f"unexpected inspect error:\n{gone.stderr}"
        gone = skopeo.run(
            "inspect", "--tls-verify=false", *skopeo._creds(), "--raw",
            f"docker://{repo}@{layout['manifest_digest']}", check=False
        )
        assert gone.returncode != 0 and "manifest unknown" in gone.stderr.lower(), (
            f"manifest still reachable by digest after delete (rc={gone.returncode}):\n{gone.stderr}"
        )


def test_skopeo_large_layer_round_trip(local_registry, tmp, uniq):
    require_binaries("skopeo")
    repo = f"{local_registry.host}/e2e/{uniq}/big"
    layout = build_large_layout(tmp / "src", size=24 * 1024 * 1024)
    layer = layout["blobs"][layout["layer_digests"][0]]
    assert len(layer) > 16 * 1024 * 1024 + 5 * 1024 * 1024  # > one 16 MiB piece + a 5 MiB part
    skopeo = Skopeo(tmp / "skopeo", creds=local_registry.creds)
    with server_log_on_failure(local_registry):
        offset = local_registry.log_offset()
        skopeo.copy(layout["ref"], f"{repo}:v1", timeout=600)
        # The embedded S3 logs its requests: when it does, the push must have
        # gone through an S3 multipart upload (CreateMultipartUpload = POST ...?uploads).
        s3_log = local_registry.log_since(offset)
        if "INFO werkzeug:" in s3_log:
            assert re.search(r'"POST /[^ ]+\?uploads HTTP', s3_log), (
                "24 MiB layer pushed without any S3 CreateMultipartUpload"
            )
        assert skopeo.inspect(f"{repo}:v1", raw=True) == layout["manifest"]
        out = tmp / "pulled"
        skopeo.copy(f"{repo}:v1", f"oci:{out}:v1", timeout=600)
        assert_layout_round_trip(layout, out)


def test_skopeo_copy_between_repositories(local_registry, tmp, uniq):
    require_binaries("skopeo")
    host = local_registry.host
    src_repo, dst_repo = f"{host}/e2e/{uniq}/src", f"{host}/e2e/{uniq}/dst"
    layout = build_oci_layout(tmp / "src", layers=3, seed=3)
    # One blob-info cache for both commands: the second copy knows the blobs
    # live in src_repo of this registry and asks for cross-repo mounts.
    skopeo = Skopeo(tmp / "skopeo", reuse_blob_cache=True, creds=local_registry.creds)
    with server_log_on_failure(local_registry):
        skopeo.copy(layout["ref"], f"{src_repo}:v1")
        proc = skopeo.run(
            "--debug", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
            *skopeo._creds("--src-creds"), *skopeo._creds("--dest-creds"),
            f"docker://{src_repo}:v1", f"docker://{dst_repo}:v1",
        )
        tried = proc.stderr.count("Trying to mount")
        mounted = proc.stderr.count("mount OK")
        assert tried >= 1, "skopeo attempted no cross-repo mount; the path under test was not exercised"
        assert mounted == tried, (
            f"{tried} mount attempts but {mounted} succeeded:\n"
            + "\n".join(line for line in proc.stderr.splitlines() if "mount" in line.lower())
        )

        assert skopeo.inspect(f"{dst_repo}:v1", raw=True) == layout["manifest"]
        assert skopeo.list_tags(dst_repo) == ["v1"]
        out = tmp / "pulled"
        Skopeo(tmp / "skopeo-pull", creds=local_registry.creds).copy(f"{dst_repo}:v1", f"oci:{out}:v1")
        assert_layout_round_trip(layout, out)


# --------------------------------------------------------------------------
# podman / buildah
# --------------------------------------------------------------------------


def test_podman_pull(local_registry, tmp, pushed):
    require_binaries("podman")
    podman = Podman(tmp / "podman", creds=local_registry.creds)
    with server_log_on_failure(local_registry):
        image_id = podman.pull(pushed["remote"])
        config_hex = pushed["config_digest"].split(":", 1)[1]
        assert image_id == config_hex, f"podman image id {image_id} != config digest {pushed['config_digest']}"
        info = podman.inspect(pushed["remote"])
        assert info["Digest"] == pushed["manifest_digest"]
        assert f"{pushed['repo']}@{pushed['manifest_digest']}" in info["RepoDigests"]
        assert info["RootFS"]["Layers"] == pushed["diff_ids"]
        listed = [img for img in podman.images() if img["Id"] == config_hex]
        assert listed, f"pulled image not in `podman images`: {podman.images()}"
        assert f"{pushed['repo']}:v1" in (listed[0].get("Names") or [])


def test_buildah_pull(local_registry, tmp, pushed):
    require_binaries("buildah")
    buildah = Buildah(tmp / "buildah", creds=local_registry.creds)
    with server_log_on_failure(local_registry):
        image_id = buildah.pull(pushed["remote"])
        config_hex = pushed["config_digest"].split(":", 1)[1]
        assert image_id == config_hex, f"buildah image id {image_id} != config digest {pushed['config_digest']}"
        info = buildah.inspect(pushed["remote"])
        assert info["FromImageDigest"] == pushed["manifest_digest"]
        assert info["FromImageID"] == config_hex
        manifest = json.loads(info["Manifest"])
        assert [layer["digest"] for layer in manifest["layers"]] == pushed["layer_digests"]
        # `buildah images --json` shows a 12-character id
        listed = [img for img in buildah.images() if config_hex.startswith(img["id"])]
        assert listed, f"pulled image not in `buildah images`: {buildah.images()}"
        assert listed[0]["digest"] == pushed["manifest_digest"]
        assert f"{pushed['repo']}:v1" in listed[0]["names"]


# --------------------------------------------------------------------------
# containerd
# --------------------------------------------------------------------------


def test_containerd_pull(local_registry, tmp, pushed):
    require_binaries("containerd", "ctr")
    with Containerd(tmp / "ctrd") as ctrd, server_log_on_failure(local_registry):
        ctrd.pull(pushed["remote"], plain_http=True, user=local_registry.creds)

        listed = {img["ref"]: img for img in ctrd.images_list()}
        assert pushed["remote"] in listed, f"`ctr images ls` after pull: {sorted(listed)}"
        assert listed[pushed["remote"]]["digest"] == pushed["manifest_digest"]
        assert listed[pushed["remote"]]["type"] == MT_OCI_MANIFEST

        # every blob is in the content store, byte for byte
        for digest, data in pushed["blobs"].items():
            got = ctrd.ctr("content", "get", digest, text=False).stdout
            assert got == data, f"content {digest}: {len(got)} bytes in containerd, {len(data)} pushed"

        # unpacked: the snapshot for the whole layer chain exists and is committed
        top = chain_id(pushed["diff_ids"])
        snap = ctrd.ctr("snapshots", "--snapshotter", ctrd.snapshotter, "info", top, check=False)
        assert snap.returncode == 0, f"no snapshot {top} after unpack:\n{snap.stderr}\n{ctrd.log_tail(20)}"
        assert json.loads(snap.stdout)["Kind"] == "Committed"
        check = ctrd.ctr("images", "check").stdout
        line = next((ln for ln in check.splitlines() if ln.startswith(pushed["remote"] + " ")), "")
        assert line, f"image missing from `ctr images check`:\n{check}"
        fields = line.split()
        assert fields[3] == "complete", f"image content incomplete:\n{check}"
        assert fields[-1] == "true", f"image not unpacked:\n{check}"


# --------------------------------------------------------------------------
# oras (Python SDK)
# --------------------------------------------------------------------------


def test_oras_sdk_push_pull(local_registry, tmp, uniq):
    oras_client = pytest.importorskip("oras.client", reason="oras Python SDK not installed in the venv")
    host = local_registry.host
    target = f"{host}/e2e/{uniq}/artifact:v1"
    src = tmp / "upload" / "notes.txt"
    src.parent.mkdir()
    content = "".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(80)).encode()
    src.write_bytes(content)

    client = oras_client.OrasClient(hostname=host, insecure=True)
    client.login(username=local_registry.username, password=local_registry.password,
                 hostname=host, tls_verify=False, config_path=str(tmp / "oras-config.json"))
    with server_log_on_failure(local_registry):
        resp = client.push(target=target, files=[str(src)], disable_path_validation=True, quiet=True)
        assert resp.status_code == 201, f"manifest PUT answered {resp.status_code}: {resp.text}"
        pushed_digest = resp.headers.get("Docker-Content-Digest")

        out = tmp / "download"
        out.mkdir()
        files = client.pull(target=target, outdir=str(out))
        assert [Path(f).name for f in files] == ["notes.txt"], files
        assert Path(files[0]).read_bytes() == content

        manifest = client.get_manifest(target)
        assert manifest["mediaType"] == MT_OCI_MANIFEST
        assert len(manifest["layers"]) == 1
        layer = manifest["layers"][0]
        assert layer["annotations"]["org.opencontainers.image.title"] == "notes.txt"
        assert layer["digest"] == sha256(content)
        assert layer["size"] == len(content)
        assert client.get_tags(f"{host}/e2e/{uniq}/artifact") == ["v1"]
        if pushed_digest:
            got = client.do_request(
                f"http://{host}/v2/e2e/{uniq}/artifact/manifests/v1", "GET",
                headers={"Accept": MT_OCI_MANIFEST},
            )
            assert got.status_code == 200
            assert sha256(got.content) == pushed_digest == got.headers.get("Docker-Content-Digest")
