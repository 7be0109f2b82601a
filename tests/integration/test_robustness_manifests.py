"""Manifest hardening (issue 14): accepted types, Content-Type vs body, nesting.

Every manifest a client can push must be pullable by tag with the Accept lists
real clients send; everything else is refused with a clear 4xx, never a 5xx.
Descriptor types, tags, paths and platforms: test_robustness_descriptors.py.
"""
from __future__ import annotations

import base64
import json

import pytest

from support import sha256
from manifest_support import (  # noqa: F401 - `image` is a fixture pytest finds by name
    ACCEPT_LISTS, error_of, image, LIST, NO_SCHEMA1, OCI, oci_doc, OCI_INDEX, put, S1,
    S1_SIGNED, V2, v2_doc)


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
