"""End-to-end: the oras Python SDK (oras-py) against the real local registry, with token auth.

Custom artifact and layer media types, referrers (`subject`) discovered with
the SDK's own authenticated session, chunked uploads (POST, several PATCH,
PUT) of a large blob, and a robot account created through the admin API
pushing and pulling in its own namespace.
"""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from urllib.parse import quote, urlsplit

import pytest

import requests

from e2e.clients import MT_OCI_INDEX, MT_OCI_MANIFEST, sha256
from e2e.helpers import server_log_on_failure

oras_client = pytest.importorskip("oras.client", reason="oras Python SDK not installed in the venv")
oras_oci = pytest.importorskip("oras.oci")

THING_CONFIG = "application/vnd.example.thing.config.v1+json"
THING_DATA = "application/vnd.example.data"
THING_DATA_GZ = "application/vnd.example.data.v2+gzip"
SIG_CONFIG = "application/vnd.example.signature.config.v1+json"
SIG_LAYER = "application/vnd.example.signature.v1"
SBOM_CONFIG = "application/vnd.example.sbom.config.v1+json"
SBOM_LAYER = "application/vnd.example.sbom.v1+json"

MiB = 1024 * 1024


def login(registry, tmp: Path, username: str, password: str, name: str = "oras-config.json"):
    """An SDK client logged in as `username` (credentials kept in its own config file)."""
    client = oras_client.OrasClient(hostname=registry.host, insecure=True)
    config = tmp / name
    client.login(username=username, password=password, hostname=registry.host, tls_verify=False,
                 config_path=str(config))
    return client, str(config)


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def raw_manifest(client, host: str, repo: str, ref: str) -> requests.Response:
    r = client.do_request(f"{client.prefix}://{host}/v2/{repo}/manifests/{ref}", "GET",
                          headers={"Accept": f"{MT_OCI_MANIFEST}, {MT_OCI_INDEX}"})
    assert r.status_code == 200, f"GET manifest {ref}: {r.status_code} {r.text}"
    return r


def referrers(client, host: str, repo: str, digest: str, artifact_type: str | None = None) -> requests.Response:
    """GET /referrers with the SDK's authenticated session (oras-py has no referrers call)."""
    url = f"{client.prefix}://{host}/v2/{repo}/referrers/{digest}"
    if artifact_type:
        url += f"?artifactType={quote(artifact_type, safe='')}"
    r = client.do_request(url, "GET", headers={"Accept": MT_OCI_INDEX})
    assert r.status_code == 200, f"GET referrers: {r.status_code} {r.text}"
    assert r.headers["Content-Type"].split(";")[0] == MT_OCI_INDEX
    body = r.json()
    assert body["schemaVersion"] == 2 and body["mediaType"] == MT_OCI_INDEX
    assert "Link" not in r.headers  # a handful of referrers fit one page
    return r


def test_oras_custom_artifact_and_layer_media_types(local_registry, tmp, uniq):
    host = local_registry.host
    repo = f"e2e/{uniq}/thing"
    client, cfg = login(local_registry, tmp, local_registry.username, local_registry.password)
    config = json.dumps({"kind": "thing", "version": 3}).encode()
    data = os.urandom(70_000)
    packed = bytes(range(256)) * 300
    conf_path = write(tmp / "thing-config.json", config)
    files = [write(tmp / "up" / "data.bin", data), write(tmp / "up" / "data.v2.gz", packed)]

    with server_log_on_failure(local_registry):
        resp = client.push(target=f"{host}/{repo}:1.0", config_path=cfg,
                           files=[f"{files[0]}:{THING_DATA}", f"{files[1]}:{THING_DATA_GZ}"],
                           manifest_config=f"{conf_path}:{THING_CONFIG}",
                           manifest_annotations={"org.opencontainers.image.description": "a thing"},
                           disable_path_validation=True, quiet=True)
        assert resp.status_code == 201, f"manifest PUT answered {resp.status_code}: {resp.text}"
        digest = resp.headers["Docker-Content-Digest"]
        assert "OCI-Subject" not in resp.headers

        out = tmp / "down"
        pulled = client.pull(target=f"{host}/{repo}:1.0", config_path=cfg, outdir=str(out))
        assert sorted(Path(p).name for p in pulled) == ["data.bin", "data.v2.gz"]
        assert (out / "data.bin").read_bytes() == data
        assert (out / "data.v2.gz").read_bytes() == packed

        # the stored manifest: exact bytes back, custom media types kept
        raw = raw_manifest(client, host, repo, "1.0")
        assert sha256(raw.content) == digest == raw.headers["Docker-Content-Digest"]
        assert raw.headers["Content-Type"] == MT_OCI_MANIFEST
        manifest = client.get_manifest(f"{host}/{repo}:1.0")
        assert manifest == json.loads(raw.content)
        assert manifest["mediaType"] == MT_OCI_MANIFEST
        assert manifest["config"] == {"mediaType": THING_CONFIG, "digest": sha256(config),
                                      "size": len(config)}
        assert [(l["mediaType"], l["digest"], l["size"]) for l in manifest["layers"]] == [
            (THING_DATA, sha256(data), len(data)),
            (THING_DATA_GZ, sha256(packed), len(packed)),
        ]
        assert manifest["annotations"] == {"org.opencontainers.image.description": "a thing"}

        # the config blob, fetched with the SDK, is the file pushed
        blob = client.get_blob(f"{host}/{repo}", manifest["config"]["digest"])
        assert blob.status_code == 200 and blob.content == config
        head = client.get_blob(f"{host}/{repo}", sha256(data), head=True)
        assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))
        assert client.get_tags(f"{host}/{repo}") == ["1.0"]


def test_oras_subject_and_referrers_discovery(local_registry, tmp, uniq):
    host = local_registry.host
    repo = f"e2e/{uniq}/app"
    client, cfg = login(local_registry, tmp, local_registry.username, local_registry.password)

    with server_log_on_failure(local_registry):
        # the "image": an image-like artifact (OCI config media type, a layer)
        image_conf = write(tmp / "image-config.json",
                           b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
        layer = write(tmp / "img" / "rootfs.tar", os.urandom(4096))
        resp = client.push(target=f"{host}/{repo}:v1", config_path=cfg,
                           files=[f"{layer}:application/vnd.oci.image.layer.v1.tar"],
                           manifest_config=f"{image_conf}:application/vnd.oci.image.config.v1+json",
                           disable_path_validation=True, quiet=True)
        assert resp.status_code == 201, resp.text
        image_digest = resp.headers["Docker-Content-Digest"]

        # the SDK's own way to build a subject; it re-serialises the manifest, so
        # it only names the right digest if the registry returned the exact bytes
        subject = oras_oci.Subject.from_manifest(client.get_manifest(f"{host}/{repo}:v1"))
        raw = raw_manifest(client, host, repo, image_digest)
        assert (subject.digest, subject.size, subject.mediaType) == (image_digest, len(raw.content), MT_OCI_MANIFEST)

        # nothing refers to it yet
        empty = referrers(client, host, repo, image_digest)
        assert empty.json()["manifests"] == [] and "OCI-Filters-Applied" not in empty.headers

        # a signature and an SBOM attached with `subject`
        pushed = {}
        for kind, conf_type, layer_type, annotations in (
            ("sig", SIG_CONFIG, SIG_LAYER, {"org.example.signer": "e2e", "org.example.algo": "ed25519"}),
            ("sbom", SBOM_CONFIG, SBOM_LAYER, None),
        ):
            conf = write(tmp / f"{kind}-config.json", json.dumps({"kind": kind}).encode())
            payload = write(tmp / kind / f"{kind}.json", json.dumps({"of": image_digest, "kind": kind}).encode())
            resp = client.push(target=f"{host}/{repo}:{kind}", config_path=cfg,
                               files=[f"{payload}:{layer_type}"], manifest_config=f"{conf}:{conf_type}",
                               manifest_annotations=annotations, subject=subject,
                               disable_path_validation=True, quiet=True)
            assert resp.status_code == 201, resp.text
            assert resp.headers.get("OCI-Subject") == image_digest
            d = resp.headers["Docker-Content-Digest"]
            manifest = raw_manifest(client, host, repo, d)
            assert json.loads(manifest.content)["subject"] == {
                "mediaType": MT_OCI_MANIFEST, "digest": image_digest, "size": len(raw.content)}
            pushed[kind] = (d, len(manifest.content), conf_type, annotations)

        expected = sorted(
            ({"mediaType": MT_OCI_MANIFEST, "digest": d, "size": size, "artifactType": at,
              **({"annotations": ann} if ann else {})} for d, size, at, ann in pushed.values()),
            key=lambda desc: desc["digest"])

        # unfiltered: both, in digest order, artifactType from the config media type
        r = referrers(client, host, repo, image_digest)
        assert r.json()["manifests"] == expected
        assert "OCI-Filters-Applied" not in r.headers

        # filtered on each artifact type
        for kind in ("sig", "sbom"):
            d, _, at, _ = pushed[kind]
            r = referrers(client, host, repo, image_digest, at)
            assert [m["digest"] for m in r.json()["manifests"]] == [d]
            assert r.headers.get("OCI-Filters-Applied") == "artifactType"
        r = referrers(client, host, repo, image_digest, "application/vnd.example.nothing")
        assert r.json()["manifests"] == [] and r.headers.get("OCI-Filters-Applied") == "artifactType"

        # the signature pulls back like any artifact; the image is untouched
        out = tmp / "sig-out"
        files = client.pull(target=f"{host}/{repo}:sig", config_path=cfg, outdir=str(out))
        assert [Path(f).name for f in files] == ["sig.json"]
        assert json.loads(Path(files[0]).read_text()) == {"of": image_digest, "kind": "sig"}
        assert raw_manifest(client, host, repo, "v1").content == raw.content
        assert sorted(client.get_tags(f"{host}/{repo}")) == ["sbom", "sig", "v1"]


@pytest.mark.parametrize("chunk_mib", [6, 2], ids=["6MiB-chunks", "2MiB-chunks-below-min"])
def test_oras_chunked_upload_of_a_large_blob(local_registry, tmp, uniq, chunk_mib):
    host = local_registry.host
    repo = f"e2e/{uniq}/big"
    client, cfg = login(local_registry, tmp, local_registry.username, local_registry.password)
    size = 24 * MiB + 12_345  # not a multiple of the chunk size: a short last PATCH
    chunk = chunk_mib * MiB
    data = os.urandom(size)
    path = write(tmp / "up" / "big.bin", data)

    seen: list[tuple[str, str, int]] = []

    def record(resp, *args, **kwargs):
        seen.append((resp.request.method, urlsplit(resp.request.url).path, resp.status_code))

    client.session.hooks["response"].append(record)
    with server_log_on_failure(local_registry):
        resp = client.push(target=f"{host}/{repo}:large", config_path=cfg,
                           files=[f"{path}:application/vnd.example.data"],
                           do_chunked=True, chunk_size=chunk, disable_path_validation=True, quiet=True)
        assert resp.status_code == 201, resp.text

        # the data blob went POST, one PATCH per chunk, then PUT ?digest= (oras-py
        # uploads the config monolithically: POST, PUT); every request answered
        # (after the token dance) with success
        uploads = [(m, p, s) for m, p, s in seen if "/blobs/uploads/" in p and s not in (401, 403)]
        methods = [m for m, _, _ in uploads]
        n_chunks = -(-size // chunk)
        assert n_chunks >= 4
        assert methods == ["POST"] + ["PATCH"] * n_chunks + ["PUT", "POST", "PUT"], uploads
        assert all(s == 202 for m, _, s in uploads if m in ("POST", "PATCH")), uploads
        assert all(s == 201 for m, _, s in uploads if m == "PUT"), uploads
        session = {p for m, p, _ in uploads[1:n_chunks + 2]}
        assert len(session) == 1, f"chunks went to more than one session: {session}"

        manifest = client.get_manifest(f"{host}/{repo}:large")
        assert manifest["layers"][0]["digest"] == sha256(data)
        assert manifest["layers"][0]["size"] == size
        head = client.get_blob(f"{host}/{repo}", sha256(data), head=True)
        assert head.status_code == 200 and head.headers["Content-Length"] == str(size)

        out = tmp / "down"
        files = client.pull(target=f"{host}/{repo}:large", config_path=cfg, outdir=str(out))
        assert [Path(f).name for f in files] == ["big.bin"]
        got = Path(files[0]).read_bytes()
        assert len(got) == size and sha256(got) == sha256(data)


def test_oras_robot_account_pushes_and_pulls(local_registry, tmp, uniq):
    host = local_registry.host
    ns = f"ci{uniq}"
    admin = (local_registry.username, local_registry.password)
    base = local_registry.url

    r = requests.post(f"{base}/admin/namespaces", json={"name": ns}, auth=admin, timeout=30)
    assert r.status_code == 201, r.text
    r = requests.post(f"{base}/admin/namespaces/{ns}/robots", json={"name": "ci"}, auth=admin, timeout=30)
    assert r.status_code == 201, r.text
    robot = r.json()
    assert robot["username"] == f"{ns}+ci" and robot["secret"]
    r = requests.put(f"{base}/admin/grants", json={"account": robot["username"], "role": "write", "namespace": ns},
                     auth=admin, timeout=30)
    assert r.status_code == 204, r.text

    client, cfg = login(local_registry, tmp, robot["username"], robot["secret"], "robot-config.json")
    content = b"built by CI\n" * 500
    artifact = write(tmp / "ci" / "build.log", content)
    conf = write(tmp / "ci-config.json", b'{"pipeline":"e2e"}')
    with server_log_on_failure(local_registry):
        resp = client.push(target=f"{host}/{ns}/tool:1.0", config_path=cfg,
                           files=[f"{artifact}:text/plain"], manifest_config=f"{conf}:{THING_CONFIG}",
                           disable_path_validation=True, quiet=True)
        assert resp.status_code == 201, resp.text
        digest = resp.headers["Docker-Content-Digest"]

        files = client.pull(target=f"{host}/{ns}/tool:1.0", config_path=cfg, outdir=str(tmp / "down"))
        assert [Path(f).name for f in files] == ["build.log"]
        assert Path(files[0]).read_bytes() == content
        assert sha256(raw_manifest(client, host, f"{ns}/tool", "1.0").content) == digest
        assert client.get_tags(f"{host}/{ns}/tool") == ["1.0"]
        # the SDK's current token was issued to the robot, for its repository
        claims = jwt_claims(client.auth.token)
        assert claims["sub"] == robot["username"]
        assert {"type": "repository", "name": f"{ns}/tool"} in [
            {k: a[k] for k in ("type", "name")} for a in claims["access"]]

        # `write` on its namespace only: no pushing elsewhere, no deleting
        other, other_cfg = login(local_registry, tmp, robot["username"], robot["secret"], "robot2-config.json")
        with pytest.raises(ValueError) as refused:
            other.push(target=f"{host}/e2e/{uniq}/elsewhere:1.0", config_path=other_cfg,
                       files=[f"{artifact}:text/plain"], disable_path_validation=True, quiet=True)
        assert "DENIED" in str(refused.value), refused.value
        denied = client.do_request(f"{client.prefix}://{host}/v2/{ns}/tool/manifests/{digest}", "DELETE")
        assert denied.status_code == 403, denied.text
        assert raw_manifest(client, host, f"{ns}/tool", "1.0").status_code == 200
