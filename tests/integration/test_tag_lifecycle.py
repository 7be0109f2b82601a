"""Expiring and immutable tags, retention policies: over real HTTP through the local
server, configured through the admin API and the CLI (`python -m client`)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from support import sha256

OCI = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
ROOT = Path(__file__).resolve().parents[2]


def _admin(registry, method: str, path: str, body=None, **kw) -> requests.Response:
    return requests.request(method, registry.url + path, json=body, auth=registry.admin, timeout=30, **kw)


def _cli(registry, *args: str) -> subprocess.CompletedProcess:
    user, password = registry.admin
    return subprocess.run([sys.executable, "-m", "client", "--registry", registry.url, "--user", user,
                           "--password", password, *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def _tags(client, repo: str) -> dict:
    r = client.request("GET", f"/v2/{repo}/tags/list")
    assert r.status_code == 200, r.text
    return r.json()


def _image(client, repo: str, tag, seed: str, labels=None, annotations=None) -> str:
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
              "config": {"Labels": labels or {}}, "seed": seed}
    raw = json.dumps(config).encode()
    cfg = client.push_blob(repo, raw)
    doc = {"schemaVersion": 2, "mediaType": OCI,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": len(raw)},
           "layers": []}
    if annotations:
        doc["annotations"] = annotations
    body = json.dumps(doc).encode()
    r = client.push_manifest(repo, tag or sha256(body), body)
    assert r.status_code == 201, r.text
    return sha256(body)


# -- expiry -------------------------------------------------------------------------
@pytest.mark.backends("memory", "strict")
def test_expiry_from_the_quay_label_on_the_image_config(client, repo):
    client.login(repo)
    digest = _image(client, repo, "short", "a", labels={"quay.expires-after": "10s"})
    # taken once the push answered: the registry's expiry (its push time + 10 s) is at most
    # this + 10, however long the push took on a loaded machine
    pushed = time.time()  # 10 s: long enough for the push and reads below on a loaded machine
    _image(client, repo, "stays", "b", labels={"quay.expires-after": "not-a-duration"})  # ignored, as Quay does
    listed = _tags(client, repo)
    assert listed["tags"] == ["short", "stays"] and list(listed["expires"]) == ["short"]
    assert client.request("GET", f"/v2/{repo}/manifests/short", headers={"Accept": OCI}).status_code == 200
    time.sleep(max(0.0, pushed + 11 - time.time()))
    r = client.request("GET", f"/v2/{repo}/manifests/short", headers={"Accept": OCI})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert _tags(client, repo) == {"name": repo, "tags": ["stays"]}  # no extension field when none expires
    assert client.request("GET", f"/v2/{repo}/manifests/{digest}").status_code == 200  # by digest: still there


def test_expiry_from_annotations_ours_and_quays(client, repo):
    client.login(repo)
    before = time.time()
    _image(client, repo, "ours", "a", annotations={"oci-registry.expires-after": "2h"})
    _image(client, repo, "quays", "b", annotations={"quay.expires-after": "1d"},
           labels={"quay.expires-after": "1s"})  # the manifest's annotation wins over the config's label
    expires = _tags(client, repo)["expires"]
    from chalicelib.domain.tag_policy import parse_time
    assert abs(parse_time(expires["ours"]) - (before + 7200)) < 30
    assert abs(parse_time(expires["quays"]) - (before + 86400)) < 30
    bad = {"schemaVersion": 2, "mediaType": OCI, "config": {"mediaType": "application/vnd.oci.empty.v1+json",
           "digest": client.push_blob(repo, b"{}"), "size": 2}, "layers": [],
           "annotations": {"oci-registry.expires-after": "soon"}}
    r = client.push_manifest(repo, "bad", bad)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "MANIFEST_INVALID"
    assert "oci-registry.expires-after" in r.text and "bad" not in _tags(client, repo)["tags"]


def test_expiry_set_and_cleared_by_api_and_cli_then_deleted_by_the_run(registry, client, repo):
    client.login(repo)
    digest = _image(client, repo, "t", "a")
    r = _admin(registry, "PUT", "/admin/tags/expiry", {"repository": repo, "tag": "t", "expiresAfter": "1w"})
    assert r.status_code == 200 and r.json()["digest"] == digest
    assert _tags(client, repo)["expires"]["t"] == r.json()["expiresAt"]
    out = _cli(registry, "--json", "tag", "expire", repo, "t", "--clear")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["expiresAt"] is None and "expires" not in _tags(client, repo)
    out = _cli(registry, "tag", "expire", repo, "t", "--at", "2001-01-01T00:00:00Z")
    assert out.returncode == 0 and "expires at 2001-01-01T00:00:00Z" in out.stdout
    assert client.request("GET", f"/v2/{repo}/manifests/t").status_code == 404  # invisible at once
    assert _tags(client, repo)["tags"] == []
    # the lifecycle run deletes it: a re-set expiry then finds no tag
    r = _admin(registry, "POST", "/admin/retention", {"dryRun": False})
    assert r.status_code == 200, r.text
    assert {"repository": repo, "tag": "t", "expiresAt": "2001-01-01T00:00:00Z"} in r.json()["expiredTags"]
    r = _admin(registry, "PUT", "/admin/tags/expiry", {"repository": repo, "tag": "t", "clear": True})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert client.request("GET", f"/v2/{repo}/manifests/{digest}").status_code == 200  # now untagged


@pytest.mark.parametrize("body", [
    {"tag": "t", "expiresAfter": "2y"}, {"tag": "t", "expiresAt": "tomorrow"}, {"tag": "t"},
    {"tag": "t", "expiresAfter": "2h", "clear": True}, {"tag": "bad tag", "clear": True},
    {"tag": "t", "clear": True, "extra": 1}])
def test_expiry_api_refuses_bad_bodies(registry, repo, body):
    r = _admin(registry, "PUT", "/admin/tags/expiry", {"repository": repo, **body})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "UNSUPPORTED", r.text


# -- immutable tags -----------------------------------------------------------------
@pytest.mark.backends("memory", "strict")
def test_immutable_tags_refuse_overwrite_and_delete(registry, client, repo):
    client.login(repo)
    first = _image(client, repo, "v1", "a")
    r = _admin(registry, "PUT", "/admin/policies", {"repository": repo, "policy": {"immutableTags": ["v*"]}})
    assert r.status_code == 200 and r.json()["revision"] >= 1
    other = _image(client, repo, None, "b")
    body = client.request("GET", f"/v2/{repo}/manifests/{other}").content
    r = client.push_manifest(repo, "v1", body)
    err = r.json()["errors"][0]
    assert r.status_code == 403 and err["code"] == "DENIED"
    assert err["detail"]["rule"] == "v*" and "immutable" in err["detail"]["reason"]
    assert client.request("GET", f"/v2/{repo}/manifests/v1").headers["Docker-Content-Digest"] == first
    same = client.request("GET", f"/v2/{repo}/manifests/{first}").content
    assert client.push_manifest(repo, "v1", same).status_code == 201  # same digest: idempotent
    assert client.push_manifest(repo, "latest", body).status_code == 201  # not matched: overwritable
    assert client.push_manifest(repo, "latest", same).status_code == 201
    for ref in ("v1", first):
        r = client.request("DELETE", f"/v2/{repo}/manifests/{ref}")
        assert r.status_code == 403 and r.json()["errors"][0]["detail"]["rule"] == "v*", ref
    assert client.request("DELETE", f"/v2/{repo}/manifests/latest").status_code == 202
    # the rule removed (through the CLI): the tag moves and deletes again
    out = _cli(registry, "policy", "clear", repo)
    assert out.returncode == 0, out.stderr
    assert client.push_manifest(repo, "v1", body).status_code == 201
    assert client.request("DELETE", f"/v2/{repo}/manifests/v1").status_code == 202


def test_policy_api_validates_and_needs_namespace_admin(registry, repo):
    bad = [{"immutableTags": "v*"}, {"defaultExpiry": "forever"}, {"retention": [{"rule": "keep-last"}]},
           {"retention": [{"rule": "expire-untagged", "days": 1, "tags": "*"}]}, {"other": 1},
           {"retention": [{"rule": "keep-last", "tags": "a/b", "count": 1}]}]
    for policy in bad:
        r = _admin(registry, "PUT", "/admin/policies", {"repository": repo, "policy": policy})
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "UNSUPPORTED", (policy, r.text)
    r = requests.put(registry.url + "/admin/policies", json={"repository": repo, "policy": {}}, timeout=30)
    assert r.status_code == 401
    user = f"u{int(time.time() * 1000) % 10**9}"
    assert _admin(registry, "POST", "/admin/users", {"username": user, "password": "pw-for-tests"}).status_code == 201
    as_user = (user, "pw-for-tests")
    r = requests.put(registry.url + "/admin/policies", json={"repository": repo, "policy": {}}, auth=as_user,
                     timeout=30)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
    own = f"{user}/app"  # a user administers its own namespace
    r = requests.put(registry.url + "/admin/policies", auth=as_user, timeout=30,
                     json={"repository": own, "policy": {"defaultExpiry": "2w"}})
    assert r.status_code == 200, r.text
    r = requests.get(registry.url + "/admin/policies", params={"repository": own}, auth=as_user, timeout=30)
    assert r.json()["policy"] == {"defaultExpiry": "2w"}
    r = requests.post(registry.url + "/admin/retention", json={"dryRun": True}, auth=as_user, timeout=30)
    assert r.status_code == 403  # the whole run: global administrators only


def test_default_expiry_from_the_policy(registry, client, repo):
    client.login(repo)
    out = _cli(registry, "policy", "set", repo, "--default-expiry", "3d")
    assert out.returncode == 0, out.stderr
    _image(client, repo, "a", "a")
    _image(client, repo, "b", "b", annotations={"oci-registry.expires-after": "1h"})
    from chalicelib.domain.tag_policy import parse_time
    exp = {t: parse_time(v) - time.time() for t, v in _tags(client, repo)["expires"].items()}
    assert abs(exp["a"] - 3 * 86400) < 30 and abs(exp["b"] - 3600) < 30


# -- retention ----------------------------------------------------------------------
@pytest.mark.backends("memory", "strict")
def test_retention_dry_run_reports_what_the_real_run_does(registry, client, repo):
    client.login(repo)
    digests = {t: _image(client, repo, t, t) for t in ("a1", "a2", "a3", "pr-1")}
    loose = _image(client, repo, None, "loose")   # untagged
    child = _image(client, repo, None, "child")   # untagged, but an index's child
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": OCI, "digest": child, "size": len(client.request("GET", f"/v2/{repo}/manifests/{child}").content),
         "platform": {"os": "linux", "architecture": "arm64"}}]}
    assert client.push_manifest(repo, "multi", index, media_type=INDEX).status_code == 201
    policy = {"retention": [{"rule": "expire-tags", "tags": "pr-*", "days": 0},
                            {"rule": "keep-last", "tags": "a*", "count": 2},
                            {"rule": "expire-untagged", "days": 0}]}
    out = _cli(registry, "policy", "set", repo, "--file", "-")  # stdin is empty: refused
    assert out.returncode == 1
    r = _admin(registry, "PUT", "/admin/policies", {"repository": repo, "policy": policy})
    assert r.status_code == 200, r.text
    time.sleep(1.1)  # `days: 0` means pushed before now
    out = _cli(registry, "--json", "retention", repo, "--dry-run")
    assert out.returncode == 0, out.stderr
    dry = json.loads(out.stdout)
    assert dry["dryRun"] is True
    assert sorted(t["tag"] for t in dry["tags"]) == ["a1", "pr-1"]
    assert {t["rule"] for t in dry["tags"]} == {0, 1}
    assert sorted(m["digest"] for m in dry["manifests"]) == sorted([loose, digests["a1"], digests["pr-1"]])
    # the dry run changed nothing
    assert _tags(client, repo)["tags"] == ["a1", "a2", "a3", "multi", "pr-1"]
    assert client.request("GET", f"/v2/{repo}/manifests/{loose}").status_code == 200
    text = _cli(registry, "retention", repo, "--dry-run").stdout
    assert f"would delete tag {repo}:a1 (keep-last 2 of a*)" in text
    r = _admin(registry, "POST", "/admin/retention", {"repository": repo, "dryRun": False})
    real = r.json()
    assert r.status_code == 200 and real["dryRun"] is False and real["skipped"] == []
    assert {**real, "dryRun": True} == dry  # the same report
    assert _tags(client, repo)["tags"] == ["a2", "a3", "multi"]
    for gone in (loose, digests["a1"], digests["pr-1"]):
        assert client.request("GET", f"/v2/{repo}/manifests/{gone}").status_code == 404
    for kept in (child, digests["a2"], digests["a3"]):
        assert client.request("GET", f"/v2/{repo}/manifests/{kept}").status_code == 200
    again = _admin(registry, "POST", "/admin/retention", {"repository": repo, "dryRun": True}).json()
    assert again["tags"] == [] and again["manifests"] == []


def test_the_scheduled_run_deletes_expired_tags(registry, client, repo):
    """The hourly function (app.tag_lifecycle_run) invoked with a scheduled event, as Lambda does."""
    from chalice.test import Client as ChaliceClient

    from app import app

    client.login(repo)
    _image(client, repo, "old", "a")
    r = _admin(registry, "PUT", "/admin/tags/expiry", {"repository": repo, "tag": "old",
                                                        "expiresAt": "2001-01-01T00:00:00Z"})
    assert r.status_code == 200
    with ChaliceClient(app) as chalice_client:
        event = chalice_client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event",
                                                        detail={}, resources=[])
        result = chalice_client.lambda_.invoke("tag_lifecycle_run", event).payload
    assert result["expiredTags"] >= 1
    r = _admin(registry, "PUT", "/admin/tags/expiry", {"repository": repo, "tag": "old", "clear": True})
    assert r.status_code == 404  # the tag item is gone, not only hidden


def test_lifecycle_deletes_drop_the_helm_index_entries(registry, client):
    """Charts whose version tags retention or expiry deletes leave index.yaml too."""
    from helm_support import index_of, meta_of, push_chart, uid, versions

    ns = uid()
    repo = f"{ns}/svc"
    push_chart(client, repo, meta_of("svc", "1.0.0"))
    push_chart(client, repo, meta_of("svc", "2.0.0"))
    assert versions(index_of(registry, ns), "svc") == ["2.0.0", "1.0.0"]
    policy = {"retention": [{"rule": "keep-last", "tags": "*", "count": 1}]}
    assert _admin(registry, "PUT", "/admin/policies", {"repository": repo, "policy": policy}).status_code == 200
    report = _admin(registry, "POST", "/admin/retention", {"repository": repo}).json()
    assert [t["tag"] for t in report["tags"]] == ["1.0.0"]
    assert versions(index_of(registry, ns), "svc") == ["2.0.0"]
    r = _admin(registry, "PUT", "/admin/tags/expiry", {"repository": repo, "tag": "2.0.0",
                                                        "expiresAt": "2001-01-01T00:00:00Z"})
    assert r.status_code == 200
    assert _admin(registry, "POST", "/admin/retention", {}).status_code == 200
    assert index_of(registry, ns)["entries"] == {}
