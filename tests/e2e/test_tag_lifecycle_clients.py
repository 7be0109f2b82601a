"""End-to-end: expiring and immutable tags with real clients against `python -m local`:
an image built by buildah with Quay's `quay.expires-after` label, and a skopeo re-push
over an immutable tag (its DENIED message names the rule)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from e2e.clients import Buildah, Skopeo, build_oci_layout
from e2e.helpers import require_binaries, server_log_on_failure

ROOT = Path(__file__).resolve().parents[2]


def _cli(reg, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "client", "--registry", reg.url, "--user", reg.username,
                           "--password", reg.password, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_buildah_image_with_the_quay_label_expires(local_registry, tmp, uniq):
    require_binaries("buildah", "skopeo")
    buildah = Buildah(tmp / "buildah", creds=local_registry.creds)
    skopeo = Skopeo(tmp / "skopeo", creds=local_registry.creds)
    repo = f"{local_registry.host}/e2e/{uniq}/app"
    with server_log_on_failure(local_registry):
        ctr = buildah.run("from", "scratch").stdout.strip()
        buildah.run("config", "--label", "quay.expires-after=15s", ctr)  # room for the checks below
        buildah.run("commit", ctr, f"localhost/{uniq}:short")
        buildah.run("rm", ctr)
        pushed = time.time()
        buildah.push(f"localhost/{uniq}:short", f"{repo}:short")
        assert skopeo.list_tags(repo) == ["short"]
        config = skopeo.inspect(f"{repo}:short", config=True)
        assert config["config"]["Labels"]["quay.expires-after"] == "15s"
        digest = skopeo.inspect(f"{repo}:short")["Digest"]
        time.sleep(max(0.0, pushed + 16 - time.time()))
        gone = skopeo.run("inspect", "--tls-verify=false", *skopeo._creds(), "--raw", f"docker://{repo}:short",
                          check=False)
        assert gone.returncode != 0 and "manifest unknown" in gone.stderr.lower(), gone.stderr
        assert skopeo.list_tags(repo) == []
        # the manifest itself stays (untagged) until retention or GC removes it
        assert skopeo.inspect(f"{repo}@{digest}")["Digest"] == digest


def test_skopeo_repush_over_an_immutable_tag_is_denied(local_registry, tmp, uniq):
    require_binaries("skopeo")
    skopeo = Skopeo(tmp / "skopeo", creds=local_registry.creds)
    name = f"e2e/{uniq}/app"
    repo = f"{local_registry.host}/{name}"
    first = build_oci_layout(tmp / "a", layers=1, seed=21)
    second = build_oci_layout(tmp / "b", layers=1, seed=22)
    with server_log_on_failure(local_registry):
        out = _cli(local_registry, "policy", "set", name, "--immutable", "release-*")
        assert out.returncode == 0, out.stderr
        skopeo.copy(first["ref"], f"{repo}:release-1")
        skopeo.copy(first["ref"], f"{repo}:release-1")  # the same image again: allowed
        refused = skopeo.run("copy", "--dest-tls-verify=false", *skopeo._creds("--dest-creds"),
                             second["ref"], f"docker://{repo}:release-1", check=False)
        assert refused.returncode != 0, refused.stdout
        err = refused.stderr.lower()
        assert "denied" in err and "immutable" in err and "release-*" in err, refused.stderr
        assert skopeo.inspect(f"{repo}:release-1")["Digest"] == first["manifest_digest"]
        skopeo.copy(second["ref"], f"{repo}:latest")
        skopeo.copy(first["ref"], f"{repo}:latest")  # other tags stay mutable
        deleted = skopeo.run("delete", "--tls-verify=false", *skopeo._creds(), f"docker://{repo}:release-1",
                             check=False)
        assert deleted.returncode != 0 and "immutable" in deleted.stderr.lower(), deleted.stderr
