"""One storage contract, every implementation: the in-memory fakes and the AWS adapters.

Each test takes `impl`, an `Impl` whose `meta`, `blobs`, `accounts`, `helm` and
`ui` are one implementation of the storage ports, parametrised over:

- "fake":   chalicelib/storage/memory*.py (pure Python);
- "moto":   the DynamoDB and S3 adapters on moto, in this process;
- "strict": the same adapters on ministack S3 + DynamoDB Local (skipped when
            scripts/install-backends.sh has not installed them).

`REGISTRY_CONTRACT_IMPLS=fake,moto` (comma list) limits a run. The adapters' backends
start once per session each; since the adapters' models and clients are process-wide,
every setting they change (environment, the table binding) is put
back after each test, so a registry server of tests/integration in the same process
finds its own again.
"""
from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

IMPLS = ("fake", "moto", "strict")
_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "REGISTRY_TABLE", "REGISTRY_BUCKET")
_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Impl:
    name: str
    meta: Any
    blobs: Any
    accounts: Any
    helm: Any
    ui: Any
    lifecycle: Any = None
    usage: Any = None      # storage/metering_ports.py
    webhooks: Any = None
    gc: Any = None         # storage/gc_ports.py
    quotas: Any = None     # storage/quota_ports.py


def _enabled() -> list[str]:
    raw = os.environ.get("REGISTRY_CONTRACT_IMPLS", "")
    return [i.strip() for i in raw.split(",") if i.strip()] or list(IMPLS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "impl" in metafunc.fixturenames:
        metafunc.parametrize("impl", [i for i in IMPLS if i in _enabled()], indirect=True)


class _Process:
    """Snapshot and restore of what binding the adapters changes process-wide."""

    def __init__(self) -> None:
        from chalicelib.storage import dynamo

        self.env = {k: os.environ.get(k) for k in _ENV}
        meta = dynamo.Item.Meta
        self.table = (meta.table_name, meta.region, getattr(dynamo.Item, "_connection", None))

    def restore(self) -> None:
        from chalicelib.storage import dynamo

        for k, v in self.env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        dynamo.Item.Meta.table_name, dynamo.Item.Meta.region, dynamo.Item._connection = self.table


class _Backend:
    """One started backend: its environment, and the adapters' table binding on it."""

    def __init__(self, kind: str) -> None:
        from chalicelib import container
        from chalicelib.storage import dynamo
        from local.embedded import EmbeddedAWS, provision, start_backend

        outer = _Process()
        self.data_dir = None
        os.environ["REGISTRY_TABLE"] = "contract"
        os.environ["REGISTRY_BUCKET"] = "contract-blobs"
        try:
            if kind == "strict":
                self.data_dir = tempfile.mkdtemp(prefix="registry-contract-")
                self.aws = start_backend("strict", self.data_dir)
            else:
                self.aws = EmbeddedAWS().start()
            services = container.build()  # the backend's own clients, from the environment above
            provision(services)
            self.env = {k: os.environ.get(k) for k in _ENV}
            self.bucket = services.settings.bucket_name
            self.s3 = services.s3_client()
            self.connection = dynamo.Item._connection
            self.table = (dynamo.Item.Meta.table_name, dynamo.Item.Meta.region)
        finally:
            outer.restore()

    def bind(self) -> None:
        from chalicelib.storage import dynamo

        for k, v in self.env.items():
            if v is not None:
                os.environ[k] = v
        dynamo.Item.Meta.table_name, dynamo.Item.Meta.region = self.table
        dynamo.Item._connection = self.connection

    def stop(self) -> None:
        import shutil

        self.aws.stop()
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def _strict_installed() -> bool:
    tools = Path(os.environ.get("REGISTRY_TOOLS_DIR") or _ROOT / ".tools")
    return (tools / "ministack-venv" / "bin" / "python").exists() and (tools / "dynamodb-local").is_dir()


@pytest.fixture(scope="session")
def _backends() -> Iterator[dict]:
    started: dict = {}
    yield started
    for b in started.values():
        b.stop()


@pytest.fixture
def impl(request: pytest.FixtureRequest, _backends: dict) -> Iterator[Impl]:
    kind = request.param
    if kind == "fake":
        from chalicelib.storage.memory import MemoryMetadataStore, MemoryState, MemoryUiReads
        from chalicelib.storage.memory_accounts import MemoryAccountStore, MemoryHelmIndex
        from chalicelib.storage.memory_blobs import MemoryBlobStore

        from chalicelib.storage.memory_metering import MemoryUsageStore, MemoryWebhookStore

        state = MemoryState()
        meta = MemoryMetadataStore(state)
        from chalicelib.storage.memory_gc import MemoryGcStore
        from chalicelib.storage.memory_quota import MemoryQuotaStore
        from chalicelib.storage.memory_lifecycle import MemoryTagLifecycle

        yield Impl(kind, meta, MemoryBlobStore(), MemoryAccountStore(state), MemoryHelmIndex(state),
                   MemoryUiReads(meta), MemoryTagLifecycle(meta), MemoryUsageStore(),
                   MemoryWebhookStore(), MemoryGcStore(meta), MemoryQuotaStore(state))
        return
    if kind == "strict" and not _strict_installed():
        pytest.skip("strict backends not installed (scripts/install-backends.sh)")
    if kind not in _backends:
        _backends[kind] = _Backend(kind)
    backend = _backends[kind]
    from chalicelib.storage.accounts_dynamo import DynamoAccountStore
    from chalicelib.storage.dynamo import DynamoMetadataStore
    from chalicelib.storage.dynamo_gc import DynamoGcStore
    from chalicelib.storage.dynamo_quota import DynamoQuotaStore
    from chalicelib.storage.helm_dynamo import DynamoHelmIndex
    from chalicelib.storage.lifecycle_dynamo import DynamoTagLifecycle
    from chalicelib.storage.metering_dynamo import DynamoUsageStore, DynamoWebhookStore
    from chalicelib.storage.s3 import S3BlobStore
    from chalicelib.storage.ui_dynamo import DynamoUiReads

    outer = _Process()
    backend.bind()
    try:
        s3 = backend.s3
        yield Impl(kind, DynamoMetadataStore(), S3BlobStore(lambda: s3, backend.bucket), DynamoAccountStore(),
                   DynamoHelmIndex(), DynamoUiReads(), DynamoTagLifecycle(), DynamoUsageStore(),
                   DynamoWebhookStore(), DynamoGcStore(), DynamoQuotaStore())
    finally:
        outer.restore()


@pytest.fixture
def repo() -> str:
    """A fresh repository per test: the adapters' backends live for the whole session."""
    return f"c/{uuid.uuid4().hex[:12]}"
