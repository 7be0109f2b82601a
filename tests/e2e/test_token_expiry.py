"""Pushes that outlive their bearer token (issue 9): the registry issues 2-second tokens
with no leeway (REGISTRY_TOKEN_TTL=2, REGISTRY_TOKEN_LEEWAY=0) under Lambda's limits.

- The CLI renews its token when the registry answers 401 mid-push (its plan and close
  requests are replayable), so a push throttled to last ~10 s completes.
- The push gateway closes uploads with the client's token; when it has expired by the
  close, the gateway asks the token endpoint again the way the client did (same scope,
  the client's own credentials, remembered in memory from the relayed token request).
"""
from __future__ import annotations

import hashlib
import random
import re
import time
from typing import Iterator

import pytest

from e2e.direct_registry import ADMIN, Gateway, LimitedRegistry
from e2e.helpers import server_log_on_failure
from e2e.test_client_cli import CLI, _big_file, _sha_file, events

MiB = 1024 * 1024
TTL = 2


@pytest.fixture(scope="module")
def short_tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LimitedRegistry]:
    reg = LimitedRegistry(tmp_path_factory.mktemp("short-token-registry"),
                          extra_env={"REGISTRY_TOKEN_TTL": str(TTL), "REGISTRY_TOKEN_LEEWAY": "0"})
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def gateway(short_tokens, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(short_tokens.url, tmp_path_factory.mktemp("short-token-gateway"))
    yield gw
    gw.stop()


def _token_requests(reg: LimitedRegistry, since: int) -> int:
    return len(re.findall(r'"GET /token\?[^"]*" 200', reg.log.read_text(errors="replace")[since:]))


def test_cli_push_renews_its_token(short_tokens, tmp, uniq):
    cli = CLI(tmp / "cli")
    src = tmp / "slow.bin"
    digest = _big_file(src, 80 * MiB + 7, seed=21)  # multipart: 5 parts of 16 MiB
    cli.login(short_tokens)
    ref = f"{short_tokens.host}/admin/{uniq}:v1"
    since = len(short_tokens.log.read_text(errors="replace"))
    with server_log_on_failure(short_tokens):
        started = time.monotonic()
        out = events(cli("--json", "push", "-j", "1", "--limit-rate", "8", str(src), ref,
                         "--artifact-type", "application/x.e2e").stdout)
        assert time.monotonic() - started > 3 * TTL  # the push outlived several tokens
        assert [e["how"] for e in out if e["event"] == "blob" and e["digest"] == digest] == ["direct"]
        assert _token_requests(short_tokens, since) >= 2  # renewed, not one token throughout
        cli("pull", ref, str(tmp / "out"))
        assert _sha_file(tmp / "out" / "slow.bin") == digest


@pytest.mark.parametrize("size", [70 * MiB + 3, 8 * MiB + 1], ids=["streamed", "spooled"])
def test_gateway_renews_an_expired_client_token(short_tokens, gateway, uniq, size):
    """The client's token expires between its last byte and its close: the gateway's
    upstream close gets a 401 and renews the token with the client's credentials."""
    from support import Client

    c = Client(f"http://{gateway.host}", auth=ADMIN)
    repo = f"admin/{uniq}"
    c.login(repo, "pull,push")  # the token request goes through the gateway
    data = random.Random(size).randbytes(size)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with server_log_on_failure(short_tokens):
        r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, r.text
        location = r.headers["Location"]
        r = c.request("PATCH", location, data=data, headers={"Content-Range": f"0-{size - 1}"})
        assert r.status_code == 202, r.text
        time.sleep(TTL + 1.5)  # the token the client holds has expired
        since = len(short_tokens.log.read_text(errors="replace"))
        r = c.request("PUT", location, params={"digest": digest})
        assert r.status_code == 201, r.text
        assert _token_requests(short_tokens, since) >= 1  # the gateway asked for a fresh one
        reader = Client(short_tokens.url, auth=ADMIN)
        reader.login(repo, "pull")
        r = reader.request("GET", f"/v2/{repo}/blobs/{digest}", allow_redirects=True)
        assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == digest.split(":")[1]
