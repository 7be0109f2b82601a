"""Integration fixtures: one registry per test session and backend, over real HTTP.

Backends: "memory" (moto in-process; fast, the default) and "strict" (ministack S3
and DynamoDB Local subprocesses: presigned URLs, expiry and checksums checked as S3
does, data on disk). A module chooses with a marker:

    pytestmark = pytest.mark.backends("memory", "strict")   # each test on both
    pytestmark = pytest.mark.backends("strict")             # e.g. direct-to-S3 uploads

`REGISTRY_TEST_BACKENDS=memory` (comma list) limits a run to those backends; a test
whose backends are all excluded is skipped. Each process starts each backend at most once
and keeps it until the session ends: pytest finalises a parametrised session fixture
whenever the next test wants the other parameter (with `--dist loadfile`, at nearly every
file), and restarting the strict backend costs ~5 s each time. Only one is in use at a
time (the pynamodb binding and the environment are process-wide): RegistryServer.activate
points them at the backend of the test about to run.
"""
from __future__ import annotations

import os
import uuid

import pytest

from support import Client, start_registry

BACKENDS = ("memory", "strict")
# Modules whose tests exercise storage (blobs, uploads, manifests, tags, referrers, the
# Helm index) also run on the strict backend, as if they carried the marker below.
# (test_conformance overlaps test_conformance_main and stays on memory to keep `make test` short.)
STORAGE_FACING = {"test_conformance_main", "test_conformance_main_manifests", "test_helm_index",
                  "test_referrers_paging", "test_referrers_fallback"}


def _enabled() -> tuple[str, ...]:
    raw = os.environ.get("REGISTRY_TEST_BACKENDS", "")
    names = tuple(b.strip() for b in raw.split(",") if b.strip()) or BACKENDS
    unknown = set(names) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"REGISTRY_TEST_BACKENDS: unknown {sorted(unknown)}; use {BACKENDS}")
    return names


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*names): run the test on these embedded backends "
                                       "('memory', 'strict'); default memory only")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "registry" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    if marker:
        wanted = tuple(marker.args)
    elif metafunc.module.__name__.rsplit(".", 1)[-1] in STORAGE_FACING:
        wanted = BACKENDS
    else:
        wanted = ("memory",)
    chosen = [b for b in wanted if b in _enabled()]
    if chosen:
        metafunc.parametrize("registry", chosen, indirect=True, scope="session")
    else:
        metafunc.parametrize("registry", [pytest.param(wanted[0], marks=pytest.mark.skip(
            reason=f"backends {wanted} excluded by REGISTRY_TEST_BACKENDS"))], indirect=True, scope="session")


@pytest.fixture(scope="session")
def registry(request: pytest.FixtureRequest, _live_registries: dict):
    backend = getattr(request, "param", "memory")
    server = _live_registries.get(backend)
    if server is None:
        server = _live_registries[backend] = start_registry(backend=backend)
    else:
        server.activate()
    yield server   # stopped at the session's end, not when the other backend's turn comes


@pytest.fixture(scope="session")
def _live_registries():
    live: dict = {}   # backend -> RegistryServer, for the whole session
    yield live
    for server in reversed(list(live.values())):   # each puts back the environment it found
        server.stop()


@pytest.fixture
def client(registry) -> Client:
    return Client(registry.url, auth=registry.admin)


@pytest.fixture
def repo() -> str:
    """A fresh repository name per test (two path components)."""
    return f"test/{uuid.uuid4().hex[:12]}"
