"""Shared by the e2e modules of the CLI and the push gateway: a registry under Lambda's
limits, a gateway in front of it (one of each per module), what the gateway's log says,
and a read of a blob back from the registry."""
from __future__ import annotations

import json
from typing import Iterator

import pytest

from e2e.direct_registry import ADMIN, Gateway, LimitedRegistry

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LimitedRegistry]:
    reg = LimitedRegistry(tmp_path_factory.mktemp("limited-registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def gateway(limited, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(limited.url, tmp_path_factory.mktemp("gateway"))
    yield gw
    gw.stop()


def gateway_log(gateway: Gateway) -> list[dict]:
    """The gateway's JSON log lines (one per upload it forwarded)."""
    return [json.loads(line) for line in gateway.log_text().splitlines() if line.startswith("{")]


def assert_streamed_then_readable(limited: LimitedRegistry, gateway: Gateway, repo: str, digest: str,
                                   data: bytes) -> None:
    """The gateway sent the blob's parts to S3 while reading them, and the registry serves the bytes."""
    log = gateway_log(gateway)
    assert [e.get("how") for e in log if e.get("digest") == digest] == ["streamed"], log
    assert_readable(limited, repo, digest, data)


def assert_readable(limited: LimitedRegistry, repo: str, digest: str, data: bytes) -> None:
    """The registry itself serves the blob's bytes, whole."""
    from support import Client

    reader = Client(limited.url, auth=ADMIN)
    reader.login(repo, "pull")
    r = reader.request("GET", f"/v2/{repo}/blobs/{digest}", allow_redirects=True)
    assert r.status_code == 200 and r.content == data
