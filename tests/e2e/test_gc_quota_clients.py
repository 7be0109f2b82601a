"""End-to-end: garbage collection and quotas with real clients against `python -m local`
(docs/lifecycle.md). skopeo pushes two images sharing a layer, deletes one; `client gc
--grace 0` run as the logged-in admin deletes the deleted image's own blobs from S3 (their
old presigned URLs answer 404, the registry too) while the shared layer and the other image
still pull byte-exact; a namespace over its quota refuses a skopeo push with a clear error."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from e2e.clients import Skopeo, _layer_tar, build_oci_layout
from e2e.helpers import require_binaries, server_log_on_failure

ROOT = Path(__file__).resolve().parents[2]


def _client(reg, home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "DOCKER_CONFIG": str(home / ".docker")}
    for var in ("REGISTRY_USER", "REGISTRY_PASSWORD", "REGISTRY_URL"):
        env.pop(var, None)
    return subprocess.run([sys.executable, "-m", "client", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, input=stdin, env=env)


def _blob(reg, repo: str, digest: str, follow: bool = True) -> requests.Response:
    return requests.get(f"{reg.url}/v2/{repo}/blobs/{digest}", auth=(reg.username, reg.password),
                        allow_redirects=follow, timeout=30)


def _token_get(reg, repo: str, digest: str, follow: bool) -> requests.Response:
    t = requests.get(f"{reg.url}/token", params={"service": "oci-registry", "scope": f"repository:{repo}:pull"},
                     auth=(reg.username, reg.password), timeout=30).json()["token"]
    return requests.get(f"{reg.url}/v2/{repo}/blobs/{digest}", headers={"Authorization": f"Bearer {t}"},
                        allow_redirects=follow, timeout=30)


def test_skopeo_images_sharing_a_layer_then_gc(local_registry, tmp, uniq):
    require_binaries("skopeo")
    reg = local_registry
    skopeo = Skopeo(tmp / "skopeo", creds=reg.creds)
    name = f"g{uniq}/app"
    repo = f"{reg.host}/{name}"
    shared = _layer_tar(71, 0)
    a = build_oci_layout(tmp / "a", layer_tars=[shared, _layer_tar(72, 0)], seed=72)
    b = build_oci_layout(tmp / "b", layer_tars=[shared, _layer_tar(73, 0)], seed=73)
    only_a = [d for d in a["blobs"] if d not in b["blobs"] and d != a["manifest_digest"]]
    assert len(only_a) == 2   # its config and its own layer
    with server_log_on_failure(reg):
        skopeo.copy(a["ref"], f"{repo}:a")
        skopeo.copy(b["ref"], f"{repo}:b")
        urls = {d: _token_get(reg, name, d, follow=False).headers["Location"] for d in only_a}
        assert all(requests.get(u, timeout=30).status_code == 200 for u in urls.values())
        skopeo.delete(f"{repo}:a")   # the manifest (and its tag)

        home = tmp / "home"
        home.mkdir()
        login = _client(reg, home, "login", reg.url, "--username", reg.username, "--password-stdin",
                        stdin=reg.password + "\n")
        assert login.returncode == 0, login.stderr
        dry = _client(reg, home, "--json", "gc", "--registry", reg.url, "--dry-run", "--grace", "0")
        assert dry.returncode == 0, dry.stderr
        plan = json.loads(dry.stdout)
        assert plan["dryRun"] is True and plan["blobs"] >= 2
        assert all(requests.get(u, timeout=30).status_code == 200 for u in urls.values())   # nothing deleted
        run = _client(reg, home, "gc", "--registry", reg.url, "--grace", "0")
        assert run.returncode == 0, run.stderr
        assert "collected" in run.stdout and "blobs" in run.stdout

        for d, url in urls.items():
            assert _token_get(reg, name, d, follow=False).status_code == 404
            assert requests.get(url, timeout=30).status_code == 404   # gone from S3
        out = tmp / "pulled"
        skopeo.copy(f"{repo}:b", f"oci:{out}:b")   # the other image, with the shared layer
        for d, data in b["blobs"].items():
            if d != b["manifest_digest"]:
                assert (out / "blobs" / "sha256" / d.split(":", 1)[1]).read_bytes() == data


def test_skopeo_push_over_quota_is_refused(local_registry, tmp, uniq):
    require_binaries("skopeo")
    reg = local_registry
    skopeo = Skopeo(tmp / "skopeo", creds=reg.creds)
    ns = f"q{uniq}"
    home = tmp / "home"
    home.mkdir()
    login = _client(reg, home, "login", reg.url, "--username", reg.username, "--password-stdin",
                    stdin=reg.password + "\n")
    assert login.returncode == 0, login.stderr
    with server_log_on_failure(reg):
        out = _client(reg, home, "--registry", reg.url, "quota", "set", ns, "--quota", "1000")
        assert out.returncode == 0, out.stderr
        img = build_oci_layout(tmp / "img", layers=2, seed=74)
        refused = skopeo.run("copy", "--dest-tls-verify=false", *skopeo._creds("--dest-creds"), img["ref"],
                             f"docker://{reg.host}/{ns}/app:v1", check=False)
        assert refused.returncode != 0
        assert "quota" in refused.stderr and "denied" in refused.stderr.lower(), refused.stderr
        shown = json.loads(_client(reg, home, "--registry", reg.url, "--json", "quota", "show", ns).stdout)
        assert shown["quota"] == 1000 and shown["stored"] <= 1000
        assert _client(reg, home, "--registry", reg.url, "quota", "set", ns, "--quota", "none").returncode == 0
        skopeo.copy(img["ref"], f"{reg.host}/{ns}/app:v1")   # room again: the same push goes through
