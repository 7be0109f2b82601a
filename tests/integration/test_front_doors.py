"""The same conversation through each front door's event shape gives the same answers.

One local server per front door (`function-url`, `http-api`: payload 2.0;
`rest`: payload 1.0), all on the session's embedded AWS; each builds its front
door's event and calls the Lambda handler through the one adapter.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import threading
import uuid
from urllib.parse import urlsplit

import pytest
import requests

from support import sha256

FRONTS = ("function-url", "http-api", "rest")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture(scope="module")
def fronts(registry):
    """name -> base URL of a gateway emulating that front door."""
    import app as chalice_app
    from local.keepalive import KeepAliveServer
    from local.server import LambdaGateway

    servers = {}
    for name in FRONTS:
        server = KeepAliveServer("127.0.0.1", 0, LambdaGateway(chalice_app.app, front=name))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[name] = server
    yield {name: f"http://127.0.0.1:{s.port}" for name, s in servers.items()}
    for s in servers.values():
        s.shutdown()


def raw(base: str, method: str, target: str, headers=(), body: bytes = b"") -> tuple[int, dict, bytes]:
    """One request with exactly these header lines (repeats kept) and this request target."""
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.putrequest(method, target, skip_accept_encoding=True)
    for k, v in headers:
        conn.putheader(k, v)
    if body or method in ("POST", "PUT", "PATCH"):
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body or None)
    resp = conn.getresponse()
    data = resp.read()
    out = (resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    conn.close()
    return out


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def conversation(base: str, admin: tuple, repo: str) -> list:
    """Token login, push and pull of an image, redirects, Accept lists, HEAD,
    binary bodies and repeated query keys; returns what a client can observe,
    with the server address and repository name normalised."""
    seen: list = []

    def norm(value):
        return json.loads(json.dumps(value).replace(base, "BASE").replace(repo, "REPO"))

    status, headers, _ = raw(base, "GET", "/v2/")
    seen.append(("GET /v2/", status, norm(headers.get("www-authenticate"))))
    realm = re.search(r'realm="([^"]+)"', headers["www-authenticate"]).group(1)
    service = re.search(r'service="([^"]+)"', headers["www-authenticate"]).group(1)
    basic = "Basic " + base64.b64encode(f"{admin[0]}:{admin[1]}".encode()).decode()
    # repeated query keys: two scopes
    target = (f"{urlsplit(realm).path}?service={service}&scope=repository:{repo}:pull,push"
              f"&scope=repository:{repo}-other:pull")
    status, headers, body = raw(base, "GET", target, [("Authorization", basic)])
    token = json.loads(body)["token"]
    access = sorted((a["name"], tuple(sorted(a["actions"]))) for a in claims(token)["access"])
    seen.append(("token", status, norm(access)))
    auth = [("Authorization", f"Bearer {token}")]

    layer = bytes(range(256)) * 64
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                                                                            "diff_ids": []}}).encode()
    for blob in (layer, config):
        status, headers, _ = raw(base, "POST", f"/v2/{repo}/blobs/uploads/", auth)
        seen.append(("upload start", status, bool(re.fullmatch(rf"/v2/{repo}/blobs/uploads/[0-9a-f-]+",
                                                                urlsplit(headers["location"]).path))))
        location = urlsplit(headers["location"])
        query = "&".join(q for q in (location.query, f"digest={sha256(blob)}") if q)
        status, headers, _ = raw(base, "PUT", f"{location.path}?{query}",
                                 auth + [("Content-Type", "application/octet-stream")], blob)
        seen.append(("upload PUT", status, headers.get("docker-content-digest")))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha256(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": sha256(layer), "size": len(layer)}]}).encode()
    status, headers, _ = raw(base, "PUT", f"/v2/{repo}/manifests/t1", auth + [("Content-Type", OCI_MANIFEST)],
                             manifest)
    seen.append(("manifest PUT", status, headers.get("docker-content-digest")))

    for accepts in ([OCI_MANIFEST], [DOCKER_V2, OCI_MANIFEST], [DOCKER_V2], [f"{DOCKER_V2}, {OCI_MANIFEST}"]):
        status, headers, body = raw(base, "GET", f"/v2/{repo}/manifests/t1",
                                    auth + [("Accept", a) for a in accepts])
        seen.append(("manifest GET", accepts, status, headers.get("content-type"),
                     headers.get("docker-content-digest"), sha256(body)))
    status, headers, body = raw(base, "HEAD", f"/v2/{repo}/manifests/t1", auth + [("Accept", OCI_MANIFEST)])
    seen.append(("manifest HEAD", status, headers.get("content-length") == str(len(manifest)),
                  headers.get("docker-content-digest"), body))
    status, headers, body = raw(base, "HEAD", f"/v2/{repo}/blobs/{sha256(layer)}", auth)
    seen.append(("blob HEAD", status, headers.get("content-length"), body))
    status, headers, body = raw(base, "GET", f"/v2/{repo}/blobs/{sha256(layer)}", auth)
    pulled = requests.get(headers["location"], timeout=60).content
    seen.append(("blob GET", status, headers.get("docker-content-digest"), body,
                 hashlib.sha256(pulled).hexdigest() == sha256(layer)[7:]))
    # repeated query keys on a registry endpoint; a trailing %0A is not the tag
    status, headers, body = raw(base, "GET", f"/v2/{repo}/tags/list?n=5&n=1", auth)
    seen.append(("tags", status, norm(json.loads(body))))
    status, _, body = raw(base, "GET", f"/v2/{repo}/manifests/t1%0A", auth + [("Accept", OCI_MANIFEST)])
    seen.append(("tag with %0A", status, sha256(body) == sha256(manifest)))
    status, headers, body = raw(base, "GET", "/nothing/here")
    seen.append(("unknown path", status, json.loads(body)["errors"][0]["code"]))
    return seen


def test_same_conversation_through_every_front_door(fronts, registry):
    transcripts = {name: conversation(url, registry.admin, f"front/{uuid.uuid4().hex[:10]}")
                   for name, url in fronts.items()}
    reference = transcripts["rest"]
    for name in FRONTS:
        assert transcripts[name] == reference, name
    steps = {step[0]: step for step in reference}
    assert steps["token"][1] == 200 and len(steps["token"][2]) == 2  # both scopes were seen
    assert steps["manifest PUT"][1] == 201
    assert steps["blob GET"][1] == 307 and steps["blob GET"][-1] is True
    assert steps["blob HEAD"][1:] == (200, str(256 * 64), b"")
    assert steps["manifest HEAD"][1:3] == (200, True) and steps["manifest HEAD"][-1] == b""
    gets = [s for s in reference if s[0] == "manifest GET"]
    assert [g[3] for g in gets] == [OCI_MANIFEST, DOCKER_V2 if gets[1][3] == DOCKER_V2 else OCI_MANIFEST,
                                    DOCKER_V2, gets[3][3]]
    assert all(g[2] == 200 for g in gets)
    assert steps["tag with %0A"][1] in (400, 404) and steps["tag with %0A"][2] is False
    assert steps["unknown path"][1:] == (404, "UNSUPPORTED")


def test_percent_encoded_paths_reach_the_same_endpoint_through_every_door(fronts, client, repo):
    """`%2F` inside the name and an encoded letter in the tag are decoded exactly once."""
    digest, _ = client.push_image(repo, "enc")
    target = f"/v2/{repo.replace('/', '%2F', 1)}/manifests/%65nc"
    answers = {name: client.request("GET", url + target, headers={"Accept": OCI_MANIFEST})
               for name, url in fronts.items()}
    assert {n: (r.status_code, r.headers.get("Docker-Content-Digest")) for n, r in answers.items()} == \
        {n: (200, digest) for n in FRONTS}
    double = {name: client.request("GET", f"{url}/v2/{repo}/manifests/%2565nc",
                                   headers={"Accept": OCI_MANIFEST}).status_code for name, url in fronts.items()}
    assert set(double.values()) <= {400, 404}, double  # `%65nc` is not the tag `enc`


def test_each_request_leaves_an_emf_line_with_its_operation(fronts, client, repo, capsys, monkeypatch):
    """Per-operation metrics: one CloudWatch EMF line per request, through every door;
    a blob pull counts the bytes it redirected to S3."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    data = b"metric me" * 100
    digest = client.push_blob(repo, data)
    capsys.readouterr()
    for url in fronts.values():
        r = client.request("GET", f"{url}/v2/{repo}/blobs/{digest}")
        assert r.status_code == 307
    lines = [json.loads(l) for l in capsys.readouterr().err.splitlines() if l.startswith('{"_aws"')]
    pulls = [l for l in lines if l["operation"] == "blob GET" and l["status"] == 307]
    assert len(pulls) == len(FRONTS)
    for line in pulls:
        spec = line["_aws"]["CloudWatchMetrics"][0]
        assert spec["Namespace"] == "OciRegistry" and ["operation", "service"] in spec["Dimensions"]
        assert {m["Name"] for m in spec["Metrics"]} == {"Requests", "Latency", "Errors5xx", "BytesRedirected"}
        assert line["BytesRedirected"] == [float(len(data))] and line["Requests"] == [1.0]
        assert line["Latency"][0] > 0 and line["request_id"]
