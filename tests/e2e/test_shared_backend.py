"""End-to-end: two `python -m local` processes started at the same moment on one S3 and
DynamoDB (as several Lambda instances share theirs): both provision it without tripping
over each other (a table or bucket created meanwhile is not an error), and what one
accepts the other serves."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import requests

from e2e.clients import REPO_ROOT, find_free_port
from e2e.conftest import ADMIN_PASSWORD, ADMIN_USER, READY_LINE, _server_env
from local.backends import StrictBackends
from support import Client

OCI = "application/vnd.oci.image.manifest.v1+json"


def test_two_servers_start_together_on_one_backend_and_share_what_they_store(tmp: Path):
    backends = StrictBackends(tmp / "shared").start()
    key = tmp / "token-key.pem"  # one signing key, as one deployment has
    procs, urls, logs = [], [], []
    try:
        for i in range(2):
            port = find_free_port()
            env = {**_server_env(port), **backends.environment(), "REGISTRY_TOKEN_KEY_FILE": str(key),
                   "REGISTRY_SCHEMA1_KEY_FILE": str(tmp / "schema1-key.pem")}
            logs.append(tmp / f"server{i}.log")
            procs.append(subprocess.Popen([sys.executable, "-m", "local"], cwd=str(REPO_ROOT), env=env,
                                          stdout=open(logs[-1], "wb"), stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 120
        for proc, log in zip(procs, logs):
            while READY_LINE not in log.read_text(errors="replace"):
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
                time.sleep(0.1)
        a, b = (Client(url, auth=(ADMIN_USER, ADMIN_PASSWORD)) for url in urls)
        repo = f"{ADMIN_USER}/shared"
        a.login(repo)
        b.login(repo)
        config = a.push_blob(repo, b"{}")
        doc = {"schemaVersion": 2, "mediaType": OCI, "layers": [],
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2}}
        assert a.push_manifest(repo, "v1", doc).status_code == 201
        r = b.request("GET", f"/v2/{repo}/manifests/v1", headers={"Accept": OCI})
        assert r.status_code == 200 and json.loads(r.content) == doc
        r = b.request("GET", f"/v2/{repo}/blobs/{config}")
        if r.status_code == 307:  # the bytes come from S3 by a presigned URL
            r = requests.get(r.headers["Location"], timeout=30)
        assert r.status_code == 200 and r.content == b"{}"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        backends.stop()
