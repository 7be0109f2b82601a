"""Integration fixtures: one registry (embedded moto) per test session, over real HTTP."""
from __future__ import annotations

import uuid

import pytest

from support import Client, start_registry


@pytest.fixture(scope="session")
def registry():
    server = start_registry()
    yield server
    server.stop()


@pytest.fixture
def client(registry) -> Client:
    return Client(registry.url, auth=registry.admin)


@pytest.fixture
def repo() -> str:
    """A fresh repository name per test (two path components)."""
    return f"test/{uuid.uuid4().hex[:12]}"
