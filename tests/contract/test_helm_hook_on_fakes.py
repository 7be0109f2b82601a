"""The Helm index as a hook of the Registry, on the port fakes: a chart's index entry
commits in its manifest's transaction (issue 11 item 6, issue 15 item 4)."""
from __future__ import annotations

import json

import pytest
import yaml

from chalicelib.config import Settings
from chalicelib.domain.helm import HelmCharts, HelmIndexHook
from chalicelib.domain.helm_index import index_yaml
from chalicelib.domain.registry import Registry
from chalicelib.storage.memory import MemoryMetadataStore, MemoryState
from chalicelib.storage.memory_accounts import MemoryHelmIndex
from chalicelib.storage.memory_blobs import MemoryBlobStore
from support import sha256

OCI = "application/vnd.oci.image.manifest.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


class CrashingStore(MemoryMetadataStore):
    """Fails the manifest transaction as a lost connection would (nothing of it written)."""

    crash = False

    def put_manifest(self, *args, **kwargs) -> None:
        if self.crash:
            raise ConnectionError("connection reset during TransactWriteItems")
        super().put_manifest(*args, **kwargs)


class EntryOnlyInTransactions(MemoryHelmIndex):
    """The hook must never write an entry apart from its manifest's transaction."""

    def put_entry(self, entry) -> None:
        raise AssertionError("index entry written outside the manifest's transaction")


@pytest.fixture
def stores():
    state = MemoryState()
    meta, blobs, charts = CrashingStore(state), MemoryBlobStore(), EntryOnlyInTransactions(state)
    reg = Registry(meta, blobs, Settings(), hooks=[HelmIndexHook(meta, blobs, charts)])
    return reg, meta, charts, HelmCharts(reg, charts)


def _chart(reg: Registry, repo: str, name: str, version: str) -> bytes:
    config = json.dumps({"apiVersion": "v2", "name": name, "version": version,
                         "description": f"{name} chart"}).encode()
    tgz = f"chart {name} {version}".encode()
    for blob in (config, tgz):
        reg.start_upload(repo, digest=sha256(blob), body=blob)
    return json.dumps({"schemaVersion": 2, "mediaType": OCI,
                       "config": {"mediaType": HELM_CONFIG, "digest": sha256(config), "size": len(config)},
                       "layers": [{"mediaType": HELM_CHART, "digest": sha256(tgz), "size": len(tgz)}]}).encode()


def test_index_yaml_lists_a_pushed_chart(stores):
    reg, _, _, helm = stores
    body = _chart(reg, "acme/web", "web", "1.2.3")
    digest, _ = reg.put_manifest("acme/web", "1.2.3", OCI, body)
    doc = yaml.safe_load(index_yaml(helm.chart_entries("acme")))
    [entry] = doc["entries"]["web"]
    assert (entry["name"], entry["version"], entry["urls"]) == ("web", "1.2.3", ["charts/web-1.2.3.tgz"])
    assert helm.chart_entries("acme")[0].digest == digest


def test_a_failed_transaction_leaves_neither_manifest_nor_index_entry(stores):
    reg, meta, charts, helm = stores
    body = _chart(reg, "acme/web", "web", "1.2.3")
    meta.crash = True
    with pytest.raises(ConnectionError):
        reg.put_manifest("acme/web", "1.2.3", OCI, body)
    assert meta.get_tag("acme/web", "1.2.3") is None
    assert meta.get_manifest("acme/web", sha256(body)) is None
    assert helm.chart_entries("acme") == []
    meta.crash = False                       # the client's retry writes both
    reg.put_manifest("acme/web", "1.2.3", OCI, body)
    assert [e.version for e in helm.chart_entries("acme")] == ["1.2.3"]


def test_a_taken_file_name_stores_the_chart_oci_only(stores):
    """`a-1` 0.1.0 holds a-1-0.1.0.tgz: chart `a` 1-0.1.0 is pushed, but not indexed."""
    reg, meta, _, helm = stores
    first, _ = reg.put_manifest("acme/a-1", "0.1.0", OCI, _chart(reg, "acme/a-1", "a-1", "0.1.0"))
    digest, _ = reg.put_manifest("acme/a", "1-0.1.0", OCI, _chart(reg, "acme/a", "a", "1-0.1.0"))
    assert meta.get_tag("acme/a", "1-0.1.0").digest == digest
    assert [(e.name, e.digest) for e in helm.chart_entries("acme")] == [("a-1", first)]


def test_deleting_the_version_tag_drops_the_entry_after_the_delete(stores):
    reg, _, _, helm = stores
    reg.put_manifest("acme/web", "1.0.0", OCI, _chart(reg, "acme/web", "web", "1.0.0"))
    digest, _ = reg.put_manifest("acme/web", "2.0.0", OCI, _chart(reg, "acme/web", "web", "2.0.0"))
    reg.delete_manifest("acme/web", "1.0.0")
    reg.delete_manifest("acme/web", digest)
    assert helm.chart_entries("acme") == []
