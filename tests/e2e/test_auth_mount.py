"""End-to-end: a cross-repository mount by a client that only follows challenges
(the oras Python SDK's authenticated session), against the real local registry.

The challenge of `POST …/blobs/uploads/?mount=D&from=R` names pull on R as well
as push on the target, so the SDK's one token request covers both and the
mount answers 201 instead of opening an upload (issue 14 item 12).
"""
from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
import requests

from e2e.helpers import server_log_on_failure

oras_client = pytest.importorskip("oras.client", reason="oras Python SDK not installed in the venv")


def test_oras_sdk_mounts_across_repositories(local_registry, tmp: Path):
    base, host = local_registry.url, local_registry.host
    admin = (local_registry.username, local_registry.password)
    user, password = f"mount{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    with server_log_on_failure(local_registry):
        r = requests.post(f"{base}/admin/users", json={"username": user, "password": password},
                          auth=admin, timeout=30)
        assert r.status_code == 201, r.text
        data = f"a layer to mount {uuid.uuid4()}".encode() * 100
        digest = "sha256:" + hashlib.sha256(data).hexdigest()

        client = oras_client.OrasClient(hostname=host, insecure=True)
        client.login(username=user, password=password, hostname=host, tls_verify=False,
                     config_path=str(tmp / "oras-config.json"))
        prefix = f"{client.prefix}://{host}"
        r = client.do_request(f"{prefix}/v2/{user}/src/blobs/uploads/?digest={digest}", "POST", data=data,
                              headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text

        fresh = oras_client.OrasClient(hostname=host, insecure=True)
        fresh.login(username=user, password=password, hostname=host, tls_verify=False,
                    config_path=str(tmp / "oras-config-2.json"))
        r = fresh.do_request(f"{prefix}/v2/{user}/dst/blobs/uploads/?mount={digest}&from={user}/src", "POST")
        assert r.status_code == 201, (r.status_code, r.headers, r.text)
        assert r.headers["Location"] == f"/v2/{user}/dst/blobs/{digest}"
        r = fresh.do_request(f"{prefix}/v2/{user}/dst/blobs/{digest}", "HEAD")
        assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(data)
