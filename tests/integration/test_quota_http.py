"""Namespace quotas over real HTTP (docs/lifecycle.md#quotas): refusal mid-push leaving
nothing behind, the soft limit's warning header, the admin API and the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import requests

from support import Client, sha256

ROOT = Path(__file__).resolve().parents[2]
OCI = "application/vnd.oci.image.manifest.v1+json"


def _cli(registry, *args: str) -> subprocess.CompletedProcess:
    user, password = registry.admin
    return subprocess.run([sys.executable, "-m", "client", "--registry", registry.url, "--user", user,
                           "--password", password, *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def _put_blob(c: Client, repo: str, data: bytes) -> requests.Response:
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    r = c.request("PATCH", r.headers["Location"], data=data[:10], headers={"Content-Range": f"0-9"})
    assert r.status_code == 202, r.text
    return c.request("PUT", r.headers["Location"], params={"digest": sha256(data)}, data=data[10:])


def test_over_quota_mid_push_is_refused_and_leaves_nothing(registry):
    ns = f"q{uuid.uuid4().hex[:10]}"
    repo = f"{ns}/app"
    out = _cli(registry, "quota", "set", ns, "--quota", "300")
    assert out.returncode == 0, out.stderr
    c = Client(registry.url, auth=registry.admin)
    c.login(repo)
    first = b"a" * 200
    assert _put_blob(c, repo, first).status_code == 201
    second = uuid.uuid4().bytes * 10   # 160 bytes: 360 > 300
    r = _put_blob(c, repo, second)
    assert r.status_code == 403, r.text
    assert c.request("GET", r.request.url.split("?")[0]).status_code == 404   # the session is gone too
    err = r.json()["errors"][0]
    assert err["code"] == "DENIED" and "300" in err["message"] and "200" in err["message"]
    assert (err["detail"]["quota"], err["detail"]["stored"], err["detail"]["size"]) == (300, 200, 160)
    assert c.request("HEAD", f"/v2/{repo}/blobs/{sha256(second)}").status_code == 404
    # the manifest needing it cannot be pushed; nothing else changed
    shown = json.loads(_cli(registry, "--json", "quota", "show", ns).stdout)
    assert (shown["stored"], shown["quota"], shown["overQuota"]) == (200, 300, False)
    # raised: the same push goes through
    assert _cli(registry, "quota", "set", ns, "--quota", "1MB").returncode == 0
    assert _put_blob(c, repo, second).status_code == 201


def test_soft_limit_warns_on_blob_commit_and_manifest_push(registry):
    ns = f"q{uuid.uuid4().hex[:10]}"
    repo = f"{ns}/app"
    r = requests.put(f"{registry.url}/admin/quotas/{ns}", json={"soft": 100}, auth=registry.admin, timeout=30)
    assert r.status_code == 200 and r.json()["soft"] == 100
    c = Client(registry.url, auth=registry.admin)
    c.login(repo)
    config = json.dumps({"pad": "x" * 150}).encode()
    r = _put_blob(c, repo, config)
    assert r.status_code == 201 and "soft limit of 100" in r.headers["X-Registry-Quota-Warning"]
    doc = {"schemaVersion": 2, "mediaType": OCI, "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                                             "digest": sha256(config), "size": len(config)},
           "layers": []}
    r = c.push_manifest(repo, "v1", doc)
    assert r.status_code == 201 and "X-Registry-Quota-Warning" in r.headers


def test_quota_admin_api_permissions(registry):
    ns = f"q{uuid.uuid4().hex[:10]}"
    assert requests.get(f"{registry.url}/admin/quotas/{ns}", timeout=30).status_code == 401
    user, pw = f"u{uuid.uuid4().hex[:8]}", "quota-user-password"
    requests.post(f"{registry.url}/admin/users", json={"username": user, "password": pw},
                  auth=registry.admin, timeout=30).raise_for_status()
    mine = requests.get(f"{registry.url}/admin/quotas/{user}", auth=(user, pw), timeout=30)   # own namespace
    assert mine.status_code == 200 and mine.json() == {"namespace": user, "quota": None, "soft": None,
                                                       "stored": 0, "overSoft": False, "overQuota": False}
    assert requests.get(f"{registry.url}/admin/quotas/{ns}", auth=(user, pw), timeout=30).status_code == 403
    r = requests.put(f"{registry.url}/admin/quotas/{user}", json={"quota": 10}, auth=(user, pw), timeout=30)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
    bad = requests.put(f"{registry.url}/admin/quotas/{ns}", json={"quota": 10, "soft": 20}, auth=registry.admin,
                       timeout=30)
    assert bad.status_code == 400


def test_malformed_quota_bodies_and_names_are_4xx_and_change_nothing(registry):
    ns = f"q{uuid.uuid4().hex[:10]}"
    url = f"{registry.url}/admin/quotas/{ns}"
    assert requests.put(url, json={"quota": 1000, "soft": 500}, auth=registry.admin, timeout=30).status_code == 200
    before = requests.get(url, auth=registry.admin, timeout=30).json()
    bodies = [b'{"quota": -1}', b'{"quota": 1e400}', b'{"quota": 10.0}', b'{"quota": "10GiB"}', b'{"quota": NaN}',
              b'{"quota": true}', b'{"quota": [1]}', b'{"quota": 1, "quota": 2}', b'{"quota": 1, "extra": 1}',
              b'{"quota": 99999999999999999999999999}', b'[' * 5000 + b']' * 5000, b'{', b'\xff\xfe',
              b'', b'  \n']  # no body: a PUT replaces the document, so it must say {} to clear it
    for body in bodies:
        r = requests.put(url, data=body, headers={"Content-Type": "application/json"}, auth=registry.admin,
                         timeout=30)
        assert 400 <= r.status_code < 500, (body[:40], r.status_code, r.text)
        assert r.json()["errors"][0]["code"], r.text
    for name in ("UPPER", "a" * 300, "..", "x%2Fy"):
        r = requests.put(f"{registry.url}/admin/quotas/{name}", json={"quota": 1}, auth=registry.admin, timeout=30)
        assert 400 <= r.status_code < 500, (name, r.status_code, r.text)
    assert requests.get(url, auth=registry.admin, timeout=30).json() == before
    r = requests.put(url, data=b"{}", headers={"Content-Type": "application/json"}, auth=registry.admin, timeout=30)
    assert r.status_code == 200, r.text
    cleared = requests.get(url, auth=registry.admin, timeout=30).json()
    assert cleared != before and not cleared.get("quota") and not cleared.get("soft"), cleared
