"""Strict JSON input everywhere (docs/security.md): NaN/Infinity, duplicate keys, integral
floats where an integer is meant and absurd nesting are 400 with an OCI error, never 5xx,
and nothing is written."""
from __future__ import annotations

import json
import uuid

import pytest
import requests

ADMIN_BODIES = [
    ('{"username":"%s","username":"%s-b","password":"long-enough-password"}', "duplicate key"),
    ('{"username":"%s","password":"long-enough-password","admin":NaN}', "NaN"),
    ('{"username":"%s","password":"long-enough-password","admin":false,"x":Infinity}', "Infinity"),
    ('{"username":"%s","password":"long-enough-password"' + ',"n":1.0' + "}", "1.0"),
    ('[' * 5000 + ']' * 5000, "nested"),
]


def _admin(registry, method: str, path: str, body: str, **kw) -> requests.Response:
    return requests.request(method, registry.url + path, data=body.encode(), auth=registry.admin,
                            headers={"Content-Type": "application/json"}, timeout=30, **kw)


def _err(r: requests.Response) -> dict:
    assert r.headers["Content-Type"] == "application/json", r.text
    return r.json()["errors"][0]


@pytest.mark.parametrize("template,why", ADMIN_BODIES)
def test_admin_bodies_are_strict_json(registry, template, why):
    name = "u" + uuid.uuid4().hex[:10]
    body = template % ((name, name) if template.count("%s") == 2 else (name,)) if "%s" in template else template
    r = _admin(registry, "POST", "/admin/users", body)
    assert r.status_code == 400, (why, r.status_code, r.text)
    assert _err(r)["code"] == "UNSUPPORTED"
    for user in (name, name + "-b"):  # nothing was created under either reading
        r = requests.get(registry.url + "/token", params={"service": "x"}, auth=(user, "long-enough-password"))
        assert r.status_code == 401, r.text


def test_webhook_and_grant_bodies_refuse_duplicates(registry):
    ns = "j" + uuid.uuid4().hex[:10]
    assert _admin(registry, "POST", "/admin/namespaces", json.dumps({"name": ns})).status_code == 201
    r = _admin(registry, "POST", f"/admin/namespaces/{ns}/webhooks",
               '{"url":"https://example.com/a","url":"https://example.com/b"}')
    assert r.status_code == 400 and "duplicate key" in _err(r)["detail"]["reason"], r.text
    listed = _admin(registry, "GET", f"/admin/namespaces/{ns}/webhooks", "").json()
    assert listed["webhooks"] == []
    r = _admin(registry, "PUT", "/admin/grants", '{"account":"x","role":"read","role":"admin","namespace":"%s"}' % ns)
    assert r.status_code == 400, r.text


def test_policy_floats_allowed_but_not_nan(registry, client, repo):
    client.push_image(repo, "v1")
    ok = _admin(registry, "PUT", "/admin/policies", json.dumps(
        {"repository": repo, "policy": {"retention": [{"rule": "expire-tags", "tags": "pr-*", "days": 0.5}]}}))
    assert ok.status_code == 200, ok.text
    for bad in ('{"repository":"%s","policy":{"retention":[{"rule":"expire-tags","tags":"x","days":NaN}]}}',
                '{"repository":"%s","repository":"other/x","policy":null}',
                '{"repository":"%s","policy":{"retention":[{"rule":"keep-last","tags":"x","count":1.0}]}}'):
        r = _admin(registry, "PUT", "/admin/policies", bad % repo)
        assert r.status_code == 400, (bad, r.text)
    got = requests.get(registry.url + "/admin/policies", params={"repository": repo}, auth=registry.admin).json()
    assert got["policy"]["retention"][0]["days"] == 0.5  # the refused bodies changed nothing


@pytest.mark.backends("strict")
@pytest.mark.parametrize("body", [
    '{"size":10,"parts":[{"number":1.0,"sha256":"' + "A" * 43 + '="}]}',
    '{"size":10.0}',
    '{"size":1e1}',
    '{"size":10,"size":20}',
    '{"size":NaN}',
    '{"size":true}',
    '{"size":10,"parts":[{"number":"1","sha256":"' + "A" * 43 + '="}]}',
    '{"size":10,"parts":{"number":1}}',
    '{"size":10,"digest":["sha256:x"]}',
])
def test_direct_plan_odd_numbers_are_400(client, repo, body):
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    loc = r.headers["Location"]
    r = client.request("POST", loc + "/direct", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, (body, r.status_code, r.text)
    assert _err(r)["code"] == "BLOB_UPLOAD_INVALID"
    r = client.request("POST", loc + "/direct", json={"size": 10})  # the session is still plannable
    assert r.status_code in (200, 201), r.text


def test_manifest_with_duplicate_keys_is_refused(client, repo):
    config = client.push_blob(repo, b"{}")
    body = ('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
            '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},'
            '"layers":[],"layers":[{"mediaType":"x/y","digest":"%s","size":2}]}' % (config, config))
    r = client.request("PUT", f"/v2/{repo}/manifests/dup", data=body,
                       headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 400 and _err(r)["code"] == "MANIFEST_INVALID", r.text
    assert client.request("GET", f"/v2/{repo}/manifests/dup").status_code == 404


@pytest.mark.parametrize("encode", [
    lambda text: b"\xef\xbb\xbf" + text.encode(),           # a UTF-8 byte order mark
    lambda text: text.encode("utf-16"),                      # UTF-16 (with its BOM)
    lambda text: text.encode("utf-16-le"),                   # UTF-16 without one
    lambda text: text.replace('"schemaVersion":2', '"schemaVersion":2.0').encode(),
    lambda text: text.replace('"schemaVersion":2', '"schemaVersion":true').encode(),
    lambda text: text.encode("latin-1") + b"\xff",           # not UTF-8
])
def test_manifests_go_clients_cannot_read_are_refused(client, repo, encode):
    """Python's json takes these; Go's encoding/json (skopeo, containerd, podman) does not:
    a manifest accepted here must be one they can pull."""
    config = client.push_blob(repo, b"{}")
    text = ('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
            '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},'
            '"layers":[]}' % config)
    r = client.request("PUT", f"/v2/{repo}/manifests/odd", data=encode(text),
                       headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 400 and _err(r)["code"] == "MANIFEST_INVALID", r.text
    assert client.request("GET", f"/v2/{repo}/manifests/odd").status_code == 404
    r = client.request("PUT", f"/v2/{repo}/manifests/odd", data=text.encode(),
                       headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("extra", [',"name":"%s"', ',"description":NaN'])
def test_helm_config_is_read_strictly(registry, client, extra):
    """A chart whose config (Chart.yaml as JSON) is not strict JSON is stored, never indexed."""
    from helm_support import HELM_CHART, HELM_CONFIG, OCI, chart_tgz, index_of, meta_of, uid, versions

    ns, name = uid(), "strict"
    repo = f"{ns}/{name}"
    meta = meta_of(name, "1.0.0")
    config = (json.dumps(meta)[:-1] + (extra % name if "%s" in extra else extra) + "}").encode()
    tgz = chart_tgz(name, "1.0.0")
    doc = {"schemaVersion": 2,
           "config": {"mediaType": HELM_CONFIG, "digest": client.push_blob(repo, config), "size": len(config)},
           "layers": [{"mediaType": HELM_CHART, "digest": client.push_blob(repo, tgz), "size": len(tgz)}]}
    r = client.push_manifest(repo, "1.0.0", json.dumps(doc).encode(), OCI)
    assert r.status_code == 201, r.text
    assert versions(index_of(registry, ns), name) == []
