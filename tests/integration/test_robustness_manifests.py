"""Manifest hardening (issue 14): accepted types, Content-Type vs body, nesting, descriptor types.

Every manifest a client can push must be pullable by tag with the Accept lists
real clients send; everything else is refused with a clear 4xx, never a 5xx.
"""
from __future__ import annotations

import base64
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


def test_html_and_other_non_manifest_types_are_refused(client, repo, image):
    body = json.dumps(oci_doc(image, declared=False)).encode()
    for content_type in ("text/html", "image/svg+xml", "application/vnd.example.thing+json",
                         "application/javascript"):
        r = put(client, repo, "page", body, content_type)
        assert r.status_code == 400, (content_type, r.text)
        err = error_of(r)
        assert err["code"] == "MANIFEST_INVALID" and err["detail"]["mediaType"] == content_type
        assert OCI in err["detail"]["supported"]
    assert client.request("GET", f"/v2/{repo}/manifests/page").status_code == 404
    assert client.request("GET", f"/v2/{repo}/manifests/{sha256(body)}").status_code == 404


def test_security_headers_on_every_response(registry, client, repo, image):
    body = json.dumps(oci_doc(image)).encode()
    assert put(client, repo, "v1", body, OCI).status_code == 201
    responses = {
        "manifest GET": client.request("GET", f"/v2/{repo}/manifests/v1"),
        "manifest HEAD": client.request("HEAD", f"/v2/{repo}/manifests/v1"),
        "blob redirect": client.request("GET", f"/v2/{repo}/blobs/{image[1]['digest']}"),
        "registry error": client.request("GET", f"/v2/{repo}/manifests/nope"),
        "405": client.request("PATCH", f"/v2/{repo}/manifests/v1"),
        "no such endpoint": client.request("GET", f"/v2/{repo}/nothing-here"),
        "gateway error": client.request("GET", "/not/a/route"),
        "401": client.http.__class__().get(f"{registry.url}/v2/"),
        "base": client.request("GET", "/v2/"),
        "catalog": client.request("GET", "/v2/_catalog"),
        "token": client.http.__class__().get(f"{registry.url}/token", params={"service": "x"}),
    }
    for what, r in responses.items():
        assert r.status_code < 500, (what, r.status_code, r.text)
        assert r.headers.get("X-Content-Type-Options") == "nosniff", what
        assert r.headers.get("Content-Security-Policy") == "sandbox", what


def test_chalice_own_errors_carry_security_headers(registry):
    """A route with Chalice's default content types answers 415 itself."""
    import requests

    r = requests.post(f"{registry.url}/token", data=b"<html>", headers={"Content-Type": "text/html"})
    assert r.status_code < 500
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    assert r.headers.get("Content-Security-Policy") == "sandbox"


def test_generic_content_type_takes_the_body_media_type(client, repo, image):
    body = json.dumps(oci_doc(image)).encode()
    r = put(client, repo, "json", body, "application/json")
    assert r.status_code == 201, r.text
    for name, accept in ACCEPT_LISTS.items():
        got = client.request("GET", f"/v2/{repo}/manifests/json", headers={"Accept": ", ".join(accept)})
        assert got.status_code == 200, (name, got.text)
        assert got.headers["Content-Type"] == OCI and got.content == body, name


def test_media_type_inferred_when_neither_header_nor_body_says(client, repo, image):
    body = json.dumps(oci_doc(image, declared=False)).encode()
    r = put(client, repo, "bare", body, None)
    assert r.status_code == 201, r.text
    assert client.request("GET", f"/v2/{repo}/manifests/bare").headers["Content-Type"] == OCI
    r = put(client, repo, "what", json.dumps({"schemaVersion": 2, "foo": []}).encode(), "application/json")
    assert r.status_code == 400 and error_of(r)["code"] == "MANIFEST_INVALID"


def test_specific_header_contradicting_the_body_is_refused(client, repo, image):
    oci = json.dumps(oci_doc(image)).encode()
    v2 = json.dumps(v2_doc(image)).encode()
    for body, content_type in ((oci, V2), (oci, OCI_INDEX), (v2, OCI), (oci, S1), (v2, LIST)):
        r = put(client, repo, "mixed", body, content_type)
        assert r.status_code == 400, (content_type, r.text)
        assert error_of(r)["code"] == "MANIFEST_INVALID"
    assert client.request("GET", f"/v2/{repo}/tags/list").json()["tags"] == []


def test_media_type_parameters_and_case_are_normalised(client, repo, image):
    body = json.dumps(oci_doc(image)).encode()
    r = put(client, repo, "case", body, "Application/VND.OCI.Image.Manifest.v1+JSON; charset=utf-8")
    assert r.status_code == 201, r.text
    got = client.request("GET", f"/v2/{repo}/manifests/case", headers={"Accept": OCI})
    assert got.status_code == 200 and got.headers["Content-Type"] == OCI


def _variants(client, repo, image):
    """Manifests as sloppy or hostile clients send them: (tag, body, Content-Type or None)."""
    oci_declared = json.dumps(oci_doc(image)).encode()
    oci_bare = json.dumps(oci_doc(image, declared=False)).encode()
    v2 = json.dumps(v2_doc(image)).encode()
    child = sha256(oci_declared)
    platform = {"architecture": "amd64", "os": "linux"}
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI, "digest": child, "size": len(oci_declared), "platform": platform}]}).encode()
    index_bare = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI, "digest": child, "size": len(oci_declared), "platform": platform}]}).encode()
    dlist = json.dumps({"schemaVersion": 2, "mediaType": LIST, "manifests": [
        {"mediaType": V2, "digest": sha256(v2), "size": len(v2), "platform": platform}]}).encode()
    artifact = json.dumps(oci_doc(image, artifactType="application/vnd.example.sbom+json")).encode()
    s1 = json.dumps({"schemaVersion": 1, "name": repo, "tag": "s1", "architecture": "amd64",
                     "fsLayers": [{"blobSum": image[1]["digest"]}],
                     "history": [{"v1Compatibility": json.dumps({"id": "a" * 64})}]}).encode()
    generic = ["application/json", "application/octet-stream", "text/plain", None, "*/*"]
    specific = {oci_declared: OCI, oci_bare: OCI, v2: V2, index: OCI_INDEX, index_bare: OCI_INDEX,
                dlist: LIST, artifact: OCI, s1: S1}
    wrong = ["text/html", V2, OCI, OCI_INDEX, LIST, S1, S1_SIGNED, "application/vnd.oci.artifact.manifest.v1+json",
             "application/vnd.docker.distribution.manifest.v2+json; foo=bar", "x/y"]
    out = []
    for i, (body, right) in enumerate(specific.items()):
        out.append((f"right{i}", body, right))
        out += [(f"generic{i}-{j}", body, g) for j, g in enumerate(generic)]
        out += [(f"wrong{i}-{j}", body, w) for j, w in enumerate(wrong) if w.split(";")[0] != right]
    return out


def test_fuzzed_pushes_leave_only_pullable_tags(client, repo, image):
    """Push every variant, then pull every listed tag with every client's Accept list."""
    outcomes = {}
    for tag, body, content_type in _variants(client, repo, image):
        r = put(client, repo, tag, body, content_type)
        assert r.status_code in (201, 400), (tag, content_type, r.status_code, r.text)
        if r.status_code == 400:
            assert error_of(r)["code"] in ("MANIFEST_INVALID", "MANIFEST_UNKNOWN", "MANIFEST_BLOB_UNKNOWN")
        outcomes[tag] = r.status_code
    tags = client.request("GET", f"/v2/{repo}/tags/list").json()["tags"]
    assert sorted(tags) == sorted(t for t, s in outcomes.items() if s == 201)
    assert any(t.startswith("generic") for t in tags) and not any(t.startswith("wrong") for t in tags)
    for tag in tags:
        stored = client.request("GET", f"/v2/{repo}/manifests/{tag}").headers["Content-Type"]
        for name, accept in ACCEPT_LISTS.items():
            if stored in (S1, S1_SIGNED) and name in NO_SCHEMA1:
                continue
            r = client.request("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": ", ".join(accept)})
            assert r.status_code == 200, (tag, stored, name, r.text)
            offered = {a.strip() for line in accept for a in line.split(",")}
            assert r.headers["Content-Type"] in offered or "*/*" in offered, (tag, name)


def nested(depth: int, leaf: str = '"x"') -> str:
    return "[" * depth + leaf + "]" * depth


@pytest.mark.parametrize("where", ["top", "annotations", "config", "subject", "unknown-field", "object"])
def test_deeply_nested_manifests_are_400(client, repo, image, where):
    doc = json.dumps(oci_doc(image))
    deep = nested(100_000)
    if where == "top":
        body = deep
    elif where == "object":
        body = '{"a":' * 100_000 + "1" + "}" * 100_000
    elif where == "annotations":
        body = doc[:-1] + ', "annotations": {"a": ' + deep + "}}"
    elif where == "config":
        body = doc.replace('"config": {', '"config": {"x": ' + deep + ", ", 1)
    elif where == "subject":
        body = doc[:-1] + ', "subject": ' + deep + "}"
    else:
        body = doc[:-1] + ', "z": ' + deep + "}"
    for content_type in (OCI, "application/json", None):
        r = put(client, repo, "deep", body.encode(), content_type)
        assert r.status_code == 400, (where, r.status_code, r.text[:200])
        assert error_of(r)["code"] == "MANIFEST_INVALID"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_deeply_nested_schema1_parts_are_400(client, repo, image):
    layer = image[1]["digest"]
    unsigned = {"schemaVersion": 1, "name": repo, "tag": "s1", "architecture": "amd64",
                "fsLayers": [{"blobSum": layer}], "history": [{"v1Compatibility": nested(100_000)}]}
    r = put(client, repo, "s1", json.dumps(unsigned).encode(), S1)
    assert r.status_code == 400 and error_of(r)["code"] == "MANIFEST_INVALID", r.text[:300]
    unsigned["history"] = [{"v1Compatibility": json.dumps({"id": "a" * 64})}]
    payload = json.dumps(unsigned, indent=3).encode()
    for header in (nested(100_000, "1"), '{"formatLength": ' + nested(100_000, "1") + "}",
                   '{"formatLength": Infinity, "formatTail": ""}', '{"formatLength": 1e400, "formatTail": ""}',
                   "[]", "null", "1"):
        sig = {"header": {"alg": "ES256", "jwk": {"kty": "EC"}}, "signature": "AA", "protected": _b64(header.encode())}
        body = payload[:-2] + b',\n   "signatures": ' + json.dumps([sig]).encode() + b"\n}"
        for content_type in (S1_SIGNED, S1, "application/json"):
            r = put(client, repo, "s1", body, content_type)
            assert r.status_code == 400, (header[:40], content_type, r.status_code, r.text[:300])
            assert error_of(r)["code"] == "MANIFEST_INVALID"


@pytest.mark.parametrize("size, ok", [(2**70, False), (2**63, False), (-1, False), (1.5, False),
                                      ("12", False), (True, False), (2**63 - 1, True)])
def test_descriptor_size_is_an_int64(client, repo, image, size, ok):
    doc = oci_doc(image)
    doc["layers"][0]["size"] = size
    r = put(client, repo, "size", json.dumps(doc).encode(), OCI)
    assert r.status_code == (201 if ok else 400), (size, r.text)
    if not ok:
        assert error_of(r)["code"] == "MANIFEST_INVALID"


@pytest.mark.parametrize("field, value", [
    ("digest", 12), ("digest", "sha256:" + "a" * 64 + "\n"), ("digest", "sha256:" + "a" * 5000),
    ("mediaType", ["x/y"]), ("mediaType", "text/html\n"), ("urls", "http://x"), ("urls", [1]),
    ("annotations", {"a": 1}), ("annotations", ["a"]), ("artifactType", 5), ("data", 7)])
def test_descriptor_field_types(client, repo, image, field, value):
    doc = oci_doc(image)
    doc["layers"][0][field] = value
    r = put(client, repo, "types", json.dumps(doc).encode(), OCI)
    assert r.status_code == 400, (field, value, r.text)
    assert error_of(r)["code"] == "MANIFEST_INVALID"


def test_nan_and_infinity_are_not_json(client, repo, image):
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = json.dumps(oci_doc(image))[:-1] + f', "annotations": {{"a": {literal}}}}}'
        r = put(client, repo, "nan", body.encode(), OCI)
        assert r.status_code == 400 and error_of(r)["code"] == "MANIFEST_INVALID", literal


def test_configured_extra_manifest_type_still_checks_references(client, repo, image):
    from dataclasses import replace

    from chalicelib.http.inject import services

    artifact = "application/vnd.oci.artifact.manifest.v1+json"
    missing = sha256(b"never pushed")
    doc = {"mediaType": artifact, "artifactType": "application/vnd.example+json",
           "blobs": [{"mediaType": "application/octet-stream", "digest": missing, "size": 3}]}
    body = json.dumps(doc).encode()
    r = put(client, repo, "art", body, artifact)
    assert r.status_code == 400 and error_of(r)["detail"]["mediaType"] == artifact  # not configured
    reg = services().registry()
    original = reg.settings
    reg.settings = replace(original, extra_manifest_types=("application/vnd.oci.artifact.*",))
    try:
        r = put(client, repo, "art", body, artifact)
        assert r.status_code == 400, r.text
        err = error_of(r)
        assert err["code"] == "MANIFEST_BLOB_UNKNOWN" and missing in json.dumps(err["detail"])
        doc["blobs"][0].update(image[1])
        doc["blobs"][0]["size"] = 2**70
        assert put(client, repo, "art", json.dumps(doc).encode(), artifact).status_code == 400
        doc["blobs"][0].update(image[1])
        body = json.dumps(doc).encode()
        r = put(client, repo, "art", body, artifact)
        assert r.status_code == 201, r.text
        got = client.request("GET", f"/v2/{repo}/manifests/art", headers={"Accept": artifact})
        assert got.content == body and got.headers["Content-Type"] == artifact
    finally:
        reg.settings = original


@pytest.mark.parametrize("suffix", ["%0d%0a", "%0d", "%00", "%20", "%0a%0a"])
def test_tags_with_control_characters_are_refused(client, repo, image, suffix):
    body = json.dumps(oci_doc(image)).encode()
    r = client.request("PUT", f"/v2/{repo}/manifests/latest{suffix}", data=body, headers={"Content-Type": OCI})
    assert r.status_code in (400, 404), r.text
    assert "latest" not in json.dumps(client.request("GET", f"/v2/{repo}/tags/list").json().get("tags"))
    r = client.request("GET", f"/v2/{repo}/manifests/sha256:{'a' * 64}{suffix}")
    assert r.status_code in (400, 404) and error_of(r)["code"] in ("DIGEST_INVALID", "UNSUPPORTED")


def test_trailing_newline_in_lambda_event_paths_is_refused(registry, repo, image):
    """API Gateway hands the function the decoded path: `latest\n` must not pass as `latest`
    (`$` in a regex also matches before a trailing newline)."""
    import app as chalice_app
    from chalicelib.http.inject import services
    from chalicelib.auth.tokens import access_claims, encode
    from local.server import build_event

    s = services().settings
    access = [{"type": "repository", "name": repo, "actions": ["pull", "push", "delete"]}]
    token = encode(access_claims("admin", access, issuer=s.issuer, audience=s.service, ttl=60),
                   services().token_signer())

    class Ctx:
        aws_request_id, function_name = "req", "test"

        def get_remaining_time_in_millis(self) -> int:
            return 29000

    def call(method, proxy, body=b"", content_type=OCI):
        headers = [("Authorization", f"Bearer {token}"), ("Content-Type", content_type)]
        event = build_event(method, f"/v2/{proxy}", "", headers, body, "/v2/{proxy+}", {"proxy": proxy})
        resp = chalice_app.app(event, Ctx())
        raw = base64.b64decode(resp["body"]) if resp.get("isBase64Encoded") else (resp.get("body") or "").encode()
        return resp["statusCode"], json.loads(raw) if raw else None

    body = json.dumps(oci_doc(image)).encode()
    status, doc = call("PUT", f"{repo}/manifests/latest\n", body)
    assert status == 400 and doc["errors"][0]["code"] == "MANIFEST_INVALID", doc
    status, doc = call("GET", f"{repo}/tags/list")
    assert status == 200 and doc["tags"] == []
    status, doc = call("GET", f"{repo}/manifests/sha256:{'a' * 64}\n")
    assert status == 400 and doc["errors"][0]["code"] == "DIGEST_INVALID"
    status, doc = call("HEAD", f"{repo}/blobs/{image[1]['digest']}\n")
    assert status in (400, 404)
    status, doc = call("GET", f"{repo}/blobs/{image[1]['digest']}\n")
    assert status in (400, 404) and doc["errors"][0]["code"] in ("DIGEST_INVALID", "UNSUPPORTED")


def test_oversized_config_is_not_read_for_a_schema1_conversion(client, repo):
    """A conversion reads the image config whole: a huge one is refused, not loaded."""
    config = b'{"architecture": "amd64", "os": "linux", "pad": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    cfg = client.push_blob(repo, config)
    doc = {"schemaVersion": 2, "mediaType": OCI,
           "config": {"mediaType": OCI_CONFIG, "digest": cfg, "size": len(config)}, "layers": []}
    assert put(client, repo, "big", json.dumps(doc).encode(), OCI).status_code == 201
    r = client.request("GET", f"/v2/{repo}/manifests/big", headers={"Accept": S1})
    assert r.status_code == 404 and error_of(r)["code"] == "MANIFEST_UNKNOWN"
    assert "over" in json.dumps(error_of(r)["detail"]["conversions"])


@pytest.mark.parametrize("platform", [
    {"architecture": "amd64", "os": "linux", "variant": 7},
    {"architecture": "amd64", "os": "linux", "os.version": ["10"]},
    {"architecture": "amd64", "os": "linux", "os.features": "sse4"},
    {"architecture": "amd64", "os": "linux", "features": [1]},
    {"architecture": 64, "os": "linux"},
])
def test_index_platform_field_types(client, repo, image, platform):
    body = json.dumps(oci_doc(image)).encode()
    assert put(client, repo, None or sha256(body), body, OCI).status_code == 201
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI, "digest": sha256(body), "size": len(body), "platform": platform}]}
    r = put(client, repo, "idx", json.dumps(index).encode(), OCI_INDEX)
    assert r.status_code == 400 and error_of(r)["code"] == "MANIFEST_INVALID", r.text


def test_embedded_data_must_match_its_descriptor(client, repo, image):
    cfg, layer = image
    good = base64.b64encode(b"layer bytes" * 7).decode()
    for data, ok in ((good, True), ("not base64!", False), (base64.b64encode(b"other").decode(), False)):
        doc = oci_doc(image)
        doc["layers"][0]["data"] = data
        r = put(client, repo, "data", json.dumps(doc).encode(), OCI)
        assert r.status_code == (201 if ok else 400), (data, r.text)
