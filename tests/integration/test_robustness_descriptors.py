"""Manifest hardening (issue 14): descriptor field types, sizes and embedded data, tag and
path characters, platform fields; a clear 4xx, never a 5xx.
"""
from __future__ import annotations

import base64
import json

import pytest

from support import sha256
from manifest_support import (  # noqa: F401 - `image` is a fixture pytest finds by name
    error_of, image, OCI, OCI_CONFIG, oci_doc, OCI_INDEX, put, S1)


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
