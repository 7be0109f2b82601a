"""Helpers of the Helm tests: charts built and pushed as Helm does, the classic index read back."""
from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
import uuid
from datetime import datetime
from typing import Any, Optional

import pytest
import requests
import yaml

from support import Client, sha256

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_PROV = "application/vnd.cncf.helm.chart.provenance.v1.prov"
OCI = "application/vnd.oci.image.manifest.v1+json"
PROV = (b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: x\n...\nfiles:\n  x.tgz: sha256:00\n"
        b"-----BEGIN PGP SIGNATURE-----\n\nwsBcBAEBCgAQBQJ\n-----END PGP SIGNATURE-----\n")


def uid(prefix: str = "h") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def chart_tgz(name: str, version: str, chart_yaml: Optional[str] = None, **fields: Any) -> bytes:
    """A chart archive as `helm package` lays it out: <name>/Chart.yaml first."""
    if chart_yaml is None:
        chart_yaml = yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version, **fields},
                                    sort_keys=False, allow_unicode=True)
    files = [(f"{name}/Chart.yaml", chart_yaml.encode()),
             (f"{name}/values.yaml", f"replicas: 1\nseed: {uuid.uuid4().hex}\n".encode()),
             (f"{name}/templates/cm.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, data in files:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def push_chart(client: Client, repo: str, meta: dict, tgz: Optional[bytes] = None, tag: Optional[str] = None,
               prov: Optional[bytes] = None) -> tuple[str, bytes]:
    """Push like `helm push`: config (Chart.yaml as JSON), chart layer, provenance layer."""
    tgz = tgz if tgz is not None else chart_tgz(meta["name"], meta["version"])
    config = json.dumps(meta).encode()
    layers = [{"mediaType": HELM_CHART, "digest": client.push_blob(repo, tgz), "size": len(tgz)}]
    if prov is not None:
        layers.append({"mediaType": HELM_PROV, "digest": client.push_blob(repo, prov), "size": len(prov)})
    doc = {"schemaVersion": 2,
           "config": {"mediaType": HELM_CONFIG, "digest": client.push_blob(repo, config), "size": len(config)},
           "layers": layers,
           "annotations": {"org.opencontainers.image.title": meta["name"]}}
    body = json.dumps(doc).encode()
    r = client.push_manifest(repo, tag or meta["version"].replace("+", "_"), body, OCI)
    assert r.status_code == 201, r.text
    return sha256(body), tgz


def rfc3339(value: str) -> float:
    """Seconds since the epoch of Helm's RFC 3339 time with nanoseconds (UTC)."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", value), value
    return datetime.fromisoformat(value[:26] + "+00:00").timestamp()


def meta_of(name: str, version: str, **extra: Any) -> dict:
    return {"name": name, "version": version, "description": f"{name} chart", "apiVersion": "v2",
            "appVersion": "1.0", "type": "application", **extra}


@pytest.fixture
def ns() -> str:
    return uid()


def get_index(registry, ns: str, auth: Optional[tuple] = None) -> requests.Response:
    return requests.get(f"{registry.url}/helm/{ns}/index.yaml", auth=auth)


def index_of(registry, ns: str, auth: Optional[tuple] = None) -> dict:
    r = get_index(registry, ns, auth or registry.admin)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/x-yaml")
    return yaml.safe_load(r.text)


def versions(index: dict, name: str) -> list[str]:
    return [e["version"] for e in index["entries"].get(name, [])]


class Admin:
    """The admin API, for users, grants and visibility."""

    def __init__(self, registry) -> None:
        self.registry = registry

    def call(self, method: str, path: str, body: dict, expect: int) -> None:
        r = requests.request(method, self.registry.url + path, json=body, auth=self.registry.admin)
        assert r.status_code == expect, r.text

    def user(self) -> tuple[str, str]:
        name, password = uid("u"), "long-enough-password"
        self.call("POST", "/admin/users", {"username": name, "password": password}, 201)
        return name, password

    def grant(self, account: str, role: str, namespace: str) -> None:
        self.call("PUT", "/admin/grants", {"account": account, "role": role, "namespace": namespace}, 204)

    def grant_repo(self, account: str, role: str, repository: str) -> None:
        self.call("PUT", "/admin/grants", {"account": account, "role": role, "repository": repository}, 204)

    def public(self, repo: str) -> None:
        self.call("PUT", "/admin/visibility", {"repository": repo, "public": True}, 204)


@pytest.fixture
def admin(registry) -> Admin:
    return Admin(registry)
