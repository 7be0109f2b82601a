"""End-to-end: the usage report after real pushes and pulls (skopeo, podman, oras-py), read with
this project's CLI (`python -m client usage`), and the events logged by the local server."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from e2e.clients import REPO_ROOT, Podman, Skopeo, build_oci_layout, run
from e2e.helpers import require_binaries, server_log_on_failure

oras_client = pytest.importorskip("oras.client", reason="oras Python SDK not installed in the venv")


def usage_cli(registry, *args: str) -> str:
    env = {"PYTHONPATH": str(REPO_ROOT), "REGISTRY_PASSWORD": registry.password, "REGISTRY_URL": None,
           "REGISTRY_USER": None, "DOCKER_CONFIG": str(Path(os.devnull).parent / "nonexistent-docker")}
    out = run([sys.executable, "-m", "client", "--registry", registry.url, "--user", registry.username,
               "usage", *args], env=env, cwd=REPO_ROOT)
    return out.stdout


def repository_requests(log: str) -> int:
    """Requests to /v2/<name>/... in a stretch of the server's log: one metric line each,
    whose operation names the kind (tests of a module share its server one at a time)."""
    return len(re.findall(r'"operation":"(?:manifest|blob|upload|upload start|tags|referrers) [A-Z]+"', log))


def test_usage_after_skopeo_podman_and_oras_pushes_and_pulls(local_registry, tmp):
    require_binaries("skopeo", "podman")
    ns = f"u{uuid.uuid4().hex[:10]}"
    host = local_registry.host
    layout = build_oci_layout(tmp / "layout", layers=2, seed=7)
    blob_sizes = [len(layout["config"])] + [len(layout["blobs"][d]) for d in layout["layer_digests"]]
    skopeo = Skopeo(tmp / "skopeo", creds=local_registry.creds)
    start = len(local_registry.log_path.read_bytes())
    with server_log_on_failure(local_registry):
        skopeo.copy(layout["ref"], f"{host}/{ns}/app:v1")                        # 1 push, 3 blobs
        for i in range(2):                                                       # 2 pulls, 3 blobs each
            skopeo.copy(f"{host}/{ns}/app:v1", f"oci:{tmp / f'out{i}'}:v1")
        podman = Podman(tmp / "podman", creds=local_registry.creds)
        assert podman.pull(f"{host}/{ns}/app:v1") == layout["config_digest"].split(":", 1)[1]  # 1 pull
        client = oras_client.OrasClient(hostname=host, insecure=True)
        cfg = str(tmp / "oras.json")
        client.login(username=local_registry.username, password=local_registry.password, hostname=host,
                     tls_verify=False, config_path=cfg)
        data = os.urandom(5000)
        (tmp / "up").mkdir()
        (tmp / "up" / "file.bin").write_bytes(data)
        resp = client.push(target=f"{host}/{ns}/art:1", config_path=cfg, quiet=True,
                           files=[f"{tmp / 'up' / 'file.bin'}:application/vnd.e2e.data"],
                           disable_path_validation=True)                         # 1 push: the data + an empty config
        assert resp.status_code == 201
        client.pull(target=f"{host}/{ns}/art:1", config_path=cfg, outdir=str(tmp / "down"))  # 1 pull
        assert (tmp / "down" / "file.bin").read_bytes() == data
        art = client.get_manifest(f"{host}/{ns}/art:1")                          # a manifest GET: 1 pull
        art_blobs = [art["config"]["size"]] + [l["size"] for l in art["layers"]]

        doc = json.loads(usage_cli(local_registry, "--namespace", ns, "--format", "json"))
        day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        row = doc["rows"][-1]
        assert row["day"] == day and row["namespace"] == ns
        assert (row["pushes"], row["pulls"]) == (2, 5), row
        assert row["bytes_uploaded"] == sum(blob_sizes) + sum(art_blobs), row
        # skopeo and podman fetched every blob of the image on each pull, oras the data layer
        # once (its config stays unread); configs and layers alike go by redirect
        assert row["bytes_served"] == 3 * sum(blob_sizes) + len(data), row
        logged = local_registry.log_path.read_bytes()[start:].decode(errors="replace")
        assert row["requests"] == repository_requests(logged), row

        # stored byte-seconds grow with every second between two reads: compared apart
        moving = ("stored_byte_seconds", "stored_gb_months")
        steady = [c for c in doc["columns"] if c not in moving]
        table = usage_cli(local_registry, "--namespace", ns)
        assert table.splitlines()[0].split() == doc["columns"]
        last = dict(zip(doc["columns"], table.splitlines()[-1].split()))
        assert [last[c] for c in steady] == [str(row[c]) for c in steady]
        assert int(last["stored_byte_seconds"]) >= row["stored_byte_seconds"]
        exported = list(csv.DictReader(io.StringIO(usage_cli(local_registry, "--day", day, "--format", "csv"))))
        assert [{k: v for k, v in r.items() if k in steady} for r in exported if r["namespace"] == ns] == \
            [{k: str(v) for k, v in row.items() if k in steady}]
        assert row["stored_bytes"] > 0   # the pushed blobs, counted once in the namespace

        # the local server logs one line per event
        log = local_registry.log_path.read_text(errors="replace")
        assert f"event manifest.pushed {ns}/app:v1" in log and f"event manifest.pushed {ns}/art:1" in log
