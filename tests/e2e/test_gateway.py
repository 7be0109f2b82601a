"""End-to-end: stock clients push through the local push gateway (`python -m client gateway`)
to a registry under Lambda's limits (REGISTRY_LAMBDA_LIMITS=1: a body over 6 MB is a 413),
unchanged: skopeo with a 200 MiB layer, helm with a chart over 4.4 MiB, podman, oras.

The gateway's peak RSS and the skopeo push time through the gateway are printed; with
`GATEWAY_METRICS=<file>` they are appended there, with the time of skopeo pushing the same
image straight to a registry without limits. Measurements for the report, not asserts.
"""
from __future__ import annotations

import io
import json
import os
import random
import tarfile
import time
from pathlib import Path

import pytest

from e2e.clients import Podman, Skopeo, build_oci_layout, run
from e2e.direct_registry import ADMIN, Gateway
from e2e.gateway_support import MiB, assert_streamed_then_readable, gateway, gateway_log, limited  # noqa: F401
from e2e.helpers import require_binaries, server_log_on_failure



def _layout_with_layer(path: Path, size: int, seed: int) -> dict:
    """An OCI layout whose one layer is a stored (level 0) gzip of `size` random bytes."""
    payload = random.Random(seed).randbytes(size)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("big.bin")
        info.size, info.mode, info.mtime = len(payload), 0o644, 0
        tar.addfile(info, io.BytesIO(payload))
    del payload
    return build_oci_layout(path, seed=seed, layer_tars=[buf.getvalue()], compresslevel=0)


def _record(**metrics: float) -> None:
    print("\nGATEWAY METRICS " + json.dumps(metrics))
    target = os.environ.get("GATEWAY_METRICS")
    if target:
        with open(target, "a") as fh:
            fh.write(json.dumps(metrics) + "\n")


def test_skopeo_pushes_a_200_mib_layer_through_the_gateway(limited, gateway, local_registry, tmp, uniq):
    require_binaries("skopeo")
    layout = _layout_with_layer(tmp / "src", 200 * MiB, seed=11)
    layer = layout["layer_digests"][0]
    assert len(layout["blobs"][layer]) > 200 * MiB
    skopeo = Skopeo(tmp / "skopeo", creds=limited.creds)
    with server_log_on_failure(limited):
        # straight to the limited registry, a stock client cannot push it
        refused = skopeo.run("copy", "--dest-tls-verify=false", "--dest-creds", limited.creds, layout["ref"],
                             f"docker://{limited.host}/admin/{uniq}-straight:v1", check=False, timeout=600)
        assert refused.returncode != 0 and "too large" in refused.stderr, refused.stderr[-2000:]
        # and the refusal names both ways out (issue 9: the CLI and the gateway)
        assert "client push" in refused.stderr and "gateway" in refused.stderr, refused.stderr[-2000:]
        # through the gateway it can, unchanged (the gateway forwards its credentials)
        started = time.monotonic()
        skopeo.copy(layout["ref"], f"{gateway.host}/admin/{uniq}:v1", timeout=900)
        through = time.monotonic() - started
        rss = gateway.peak_rss_mib()
        log = gateway_log(gateway)
        assert any(e.get("digest") == layer and e.get("size") == len(layout["blobs"][layer]) for e in log), log
        # skopeo announces the layer's length: its parts went to S3 while skopeo was still sending
        assert [e.get("how") for e in log if e.get("digest") == layer] == ["streamed"], log
        # skopeo asked for the layer first (HEAD, 404): planned with its digest, completed in place
        assert [e.get("hinted") for e in log if e.get("digest") == layer] == [True], log
        # pulled back from the registry itself, byte-identical
        out = tmp / "pulled"
        skopeo.copy(f"{limited.host}/admin/{uniq}:v1", f"oci:{out}:v1", timeout=900)
        pulled = (out / "blobs" / "sha256" / layer.split(":")[1]).read_bytes()
        assert pulled == layout["blobs"][layer]
        assert skopeo.inspect(f"{limited.host}/admin/{uniq}:v1", raw=True) == layout["manifest"]
    metrics = {"layer_mib": round(len(layout["blobs"][layer]) / MiB, 1), "gateway_peak_rss_mib": rss,
               "skopeo_via_gateway_s": round(through, 2)}
    if os.environ.get("GATEWAY_METRICS"):  # for the report: skopeo straight to a registry without limits
        plain = Skopeo(tmp / "skopeo-plain", creds=local_registry.creds)
        started = time.monotonic()
        plain.copy(layout["ref"], f"{local_registry.host}/e2e/{uniq}/straight:v1", timeout=900)
        metrics["skopeo_straight_unlimited_s"] = round(time.monotonic() - started, 2)
    _record(**metrics)


def test_helm_pushes_a_big_chart_through_the_gateway(limited, gateway, tmp, uniq):
    from e2e.test_helm import Helm

    helm = Helm(3, tmp / "helm")
    chart = tmp / "src" / "bigchart"
    chart.parent.mkdir()
    helm.run("create", str(chart))
    # incompressible data makes the packaged chart bigger than one Lambda request can carry
    (chart / "files").mkdir()
    for i in range(2):  # helm refuses single files over 5 MiB
        (chart / "files" / f"blob{i}.bin").write_bytes(random.Random(i).randbytes(3 * MiB))
    helm.run("package", str(chart), "-d", str(tmp / "pkg"))
    tgz = next((tmp / "pkg").glob("bigchart-*.tgz"))
    assert tgz.stat().st_size > 4.4 * MiB
    with server_log_on_failure(limited):
        helm.login(gateway.host, *ADMIN)
        direct = helm.run("push", str(tgz), f"oci://{limited.host}/admin/{uniq}-straight", "--plain-http",
                          check=False)
        assert direct.returncode != 0, "a chart over the cap went straight through"
        helm.login(limited.host, *ADMIN)
        helm.run("push", str(tgz), f"oci://{gateway.host}/admin/{uniq}", "--plain-http")
        (tmp / "pulled").mkdir()
        helm.run("pull", f"oci://{limited.host}/admin/{uniq}/bigchart", "--version", "0.1.0", "--plain-http",
                 "-d", str(tmp / "pulled"))
        assert (tmp / "pulled" / tgz.name).read_bytes() == tgz.read_bytes()


def test_podman_push_through_the_gateway(limited, gateway, tmp, uniq):
    require_binaries("podman", "skopeo")
    layout = _layout_with_layer(tmp / "src", 24 * MiB, seed=12)
    podman = Podman(tmp / "podman", creds=limited.creds)
    image_id = podman.run("pull", "-q", "--signature-policy", str(podman.policy), layout["ref"]).stdout.strip()
    with server_log_on_failure(limited):
        podman.push(image_id.splitlines()[-1], f"{gateway.host}/admin/{uniq}:v1")
        info = Skopeo(tmp / "skopeo", creds=limited.creds).inspect(f"{limited.host}/admin/{uniq}:v1")
        assert info["Layers"] and len(info["Layers"]) == 1


def test_oras_push_through_the_gateway(limited, gateway, tmp, uniq):
    """oras-py pushes a 12 MiB file monolithically (one PUT): the gateway turns it into S3 parts."""
    oras = pytest.importorskip("oras.client")
    data = random.Random(4).randbytes(12 * MiB)
    (tmp / "up").mkdir()
    path = tmp / "up" / "artifact.bin"
    path.write_bytes(data)

    def client_for(host: str):
        client = oras.OrasClient(hostname=host, insecure=True)
        config = str(tmp / f"oras-{host.replace(':', '_')}.json")
        client.login(username=ADMIN[0], password=ADMIN[1], hostname=host, tls_verify=False, config_path=config)
        return client, config

    with server_log_on_failure(limited):
        client, cfg = client_for(gateway.host)
        resp = client.push(target=f"{gateway.host}/admin/{uniq}:v1", config_path=cfg,
                           files=[f"{path}:application/vnd.example.data"], disable_path_validation=True,
                           quiet=True)
        assert resp.status_code == 201, resp.text
        puller, cfg2 = client_for(limited.host)
        files = puller.pull(target=f"{limited.host}/admin/{uniq}:v1", config_path=cfg2, outdir=str(tmp / "out"))
        assert [Path(f).read_bytes() == data for f in files] == [True]


def test_gateway_passes_registry_errors_through(limited, gateway, tmp):
    """Anything that is not an upload body is the registry's own answer (here: the challenge)."""
    import requests

    r = requests.get(f"http://{gateway.host}/v2/")
    assert r.status_code == 401
    assert f'realm="http://{gateway.host}/token"' in r.headers["WWW-Authenticate"]
    r = requests.get(f"http://{gateway.host}/v2/admin/nothing-here/manifests/v1", auth=ADMIN)
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_gateway_in_front_of_a_registry_without_the_extension(tmp, uniq):
    """Distribution 2.8 offers no direct uploads: everything, upload bodies too, passes through."""
    require_binaries("docker-registry", "skopeo")
    from e2e.clients import ReferenceRegistry

    with ReferenceRegistry(tmp / "distribution", users={"dist": "dist-password"}) as dist:
        gw = Gateway(dist.url, tmp)
        try:
            layout = _layout_with_layer(tmp / "src", 20 * MiB, seed=13)
            skopeo = Skopeo(tmp / "skopeo", creds="dist:dist-password")
            skopeo.copy(layout["ref"], f"{gw.host}/e2e/{uniq}:v1")
            assert skopeo.inspect(f"{dist.host}/e2e/{uniq}:v1", raw=True) == layout["manifest"]
            out = tmp / "pulled"
            skopeo.copy(f"{gw.host}/e2e/{uniq}:v1", f"oci:{out}:v1")
            layer = layout["layer_digests"][0]
            assert (out / "blobs" / "sha256" / layer.split(":")[1]).read_bytes() == layout["blobs"][layer]
            assert '"event": "upload"' not in gw.log_text()  # nothing went the direct way
        finally:
            gw.stop()


def test_gateway_refuses_bad_uploads_and_keeps_nothing(limited, gateway, uniq):
    """A wrong digest, an out-of-order chunk and broken chunked framing: OCI errors, no blob."""
    import hashlib
    import socket

    from support import Client

    c = Client(f"http://{gateway.host}", auth=ADMIN)
    repo = f"admin/{uniq}"
    data = random.Random(8).randbytes(7 * MiB)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with server_log_on_failure(limited):
        r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, r.text
        location = r.headers["Location"]
        assert location.startswith(f"/v2/{repo}/blobs/uploads/")
        r = c.request("PATCH", location, data=data, headers={"Content-Range": f"0-{len(data) - 1}"})
        assert r.status_code == 202 and r.headers["Range"] == f"0-{len(data) - 1}", r.text
        r = c.request("PATCH", location, data=b"x", headers={"Content-Range": "5-5"})
        assert r.status_code == 416 and r.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
        r = c.request("GET", location)
        assert r.status_code == 204 and r.headers["Range"] == f"0-{len(data) - 1}"
        wrong = "sha256:" + "0" * 64
        r = c.request("PUT", location, params={"digest": wrong})
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID", r.text
        for d in (wrong, digest):
            assert c.request("HEAD", f"/v2/{repo}/blobs/{d}").status_code == 404
        # the same bytes with the right digest go through
        r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
        r = c.request("PUT", r.headers["Location"], params={"digest": digest}, data=data)
        assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == digest, r.text
        assert c.request("HEAD", f"/v2/{repo}/blobs/{digest}").status_code == 200
        # a chunked body whose framing is garbage: a 400, the gateway stays up
        r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
        path = r.headers["Location"]
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
            sock.sendall(f"PATCH {path} HTTP/1.1\r\nHost: {gateway.host}\r\nTransfer-Encoding: chunked\r\n"
                         f"Authorization: {c.http.auth and 'Bearer ' + c.http.auth.token}\r\n\r\n"
                         "zz\r\nnot hex\r\n0\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(4096):  # the gateway closes the connection after its answer
                answer += chunk
            answer = answer.decode(errors="replace")
        assert answer.startswith("HTTP/1.1 400") and "BLOB_UPLOAD_INVALID" in answer, answer
        assert c.request("GET", "/v2/").status_code == 200


def test_a_streamed_blob_with_a_wrong_digest_is_refused_and_never_visible(limited, gateway, uniq):
    """Over 64 MiB with its length announced, the body streams to S3 as it arrives; the
    gateway then leaves the digest to the registry's proof: a wrong one is DIGEST_INVALID
    and neither digest is ever a blob."""
    import hashlib

    from support import Client

    c = Client(f"http://{gateway.host}", auth=ADMIN)
    repo = f"admin/{uniq}"
    c.login(repo, "pull,push")
    data = random.Random(12).randbytes(70 * MiB)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    wrong = "sha256:" + hashlib.sha256(data + b"!").hexdigest()
    with server_log_on_failure(limited):
        location = c.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
        r = c.request("PUT", location, params={"digest": wrong}, data=data)
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID", r.text
        for d in (wrong, digest):
            assert c.request("HEAD", f"/v2/{repo}/blobs/{d}").status_code == 404


def test_ctrl_c_stops_the_gateway_and_removes_its_spool_files(limited, tmp, uniq):
    """Started the way a CI step's background job is (SIGINT ignored), the gateway still
    stops on Ctrl-C, and an upload it was holding leaves no spool file behind."""
    import signal

    from support import Client

    gw = Gateway(limited.url, tmp, sigint_ignored=True)
    try:
        c = Client(f"http://{gw.host}", auth=ADMIN)
        repo = f"admin/{uniq}"
        c.login(repo, "pull,push")
        location = c.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
        r = c.request("PATCH", location, data=random.Random(5).randbytes(3 * MiB))
        assert r.status_code == 202, r.text
        assert any(gw.spool.iterdir()), "the upload is held in a spool file"
        os.kill(gw.proc.pid, signal.SIGINT)
        assert gw.proc.wait(timeout=30) == 0, gw.log_text()
        assert not any(gw.spool.iterdir()), list(gw.spool.iterdir())
    finally:
        gw.stop()

