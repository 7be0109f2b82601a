"""Helpers of the token-auth tests (test_auth*.py): token requests and claims, an admin over the API, the login throttle, and the fixtures they share."""
from __future__ import annotations

import base64
import json
import re
import time
import uuid
from pathlib import Path
from typing import Optional

import pytest
import requests

from support import Client


ROOT = Path(__file__).resolve().parents[2]
SERVICE = "oci-registry"
ISSUER = "oci-registry-token"
OCI = "application/vnd.oci.image.manifest.v1+json"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def uid(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    return json.loads(b64d(token.split(".")[1]))


def code_of(resp: requests.Response) -> str:
    return resp.json()["errors"][0]["code"]


def challenge_of(resp: requests.Response) -> dict:
    return dict(re.findall(r'(\w+)="([^"]*)"', resp.headers.get("WWW-Authenticate", "")))


def show(resp: requests.Response) -> str:
    return f"{resp.request.method} {resp.url} -> {resp.status_code} {dict(resp.headers)} {resp.text[:300]}"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def get_token(url: str, *scopes: str, creds: Optional[tuple] = None, **params: str) -> requests.Response:
    """GET /token like a Docker client (Basic credentials when given)."""
    query: list = [("service", SERVICE)] + [("scope", s) for s in scopes] + list(params.items())
    return requests.get(f"{url}/token", params=query, auth=creds)


def token_for(url: str, *scopes: str, creds: Optional[tuple] = None) -> str:
    r = get_token(url, *scopes, creds=creds)
    assert r.status_code == 200, show(r)
    return r.json()["token"]


class Admin:
    """The JSON admin API with Basic credentials."""

    def __init__(self, url: str, creds: tuple) -> None:
        self.url, self.creds = url, creds

    def call(self, method: str, path: str, body: Optional[dict] = None, expect: Optional[int] = None,
             creds: Optional[tuple] = None) -> requests.Response:
        r = requests.request(method, self.url + path, json=body, auth=creds or self.creds)
        if expect is not None:
            assert r.status_code == expect, show(r)
        return r

    def user(self, name: Optional[str] = None, password: Optional[str] = None) -> tuple[str, str]:
        name, password = name or uid("user"), password or f"pw-{uuid.uuid4().hex}"
        self.call("POST", "/admin/users", {"username": name, "password": password}, expect=201)
        return name, password

    def namespace(self, name: Optional[str] = None, owner: Optional[str] = None) -> str:
        name = name or uid("org")
        self.call("POST", "/admin/namespaces", {"name": name, **({"owner": owner} if owner else {})}, expect=201)
        return name

    def robot(self, ns: str, name: str = "ci") -> tuple[str, str]:
        doc = self.call("POST", f"/admin/namespaces/{ns}/robots", {"name": name}, expect=201).json()
        assert doc["username"] == f"{ns}+{name}"
        return doc["username"], doc["secret"]

    def grant(self, account: str, role: str, **target: str) -> None:
        self.call("PUT", "/admin/grants", {"account": account, "role": role, **target}, expect=204)

    def visibility(self, repo: str, public: bool) -> None:
        self.call("PUT", "/admin/visibility", {"repository": repo, "public": public}, expect=204)


def reset_login_throttle(*accounts: str) -> None:
    """Forget login attempts from this machine (and of `accounts`) in the current and
    previous window. The local server reports every caller as 127.0.0.1, so the
    per-source limit (50 per 5 min) would otherwise be shared by the whole test session."""
    from chalicelib.http.inject import services
    from chalicelib.domain.accounts import FAILURE_WINDOW
    from chalicelib.storage import keys
    from chalicelib.storage.dynamo import ThrottleItem

    services().metadata()
    start = int(time.time()) // FAILURE_WINDOW * FAILURE_WINDOW
    for key in ["ip:127.0.0.1", *(f"user:{a}" for a in accounts)]:
        for window in (start, start - FAILURE_WINDOW):
            ThrottleItem(keys.throttle_pk(key, window), keys.META_SK).delete()


def wait_for_fresh_login_window(needed: float = 20) -> None:
    """Login limits count per fixed 300 s window: start a throttle test where `needed`
    seconds remain in the window, so its attempts all land in the same one (each such test
    takes under 2 s alone; 20 s covers a loaded machine and waits less often than 60 did)."""
    from chalicelib.domain.accounts import FAILURE_WINDOW

    left = FAILURE_WINDOW - time.time() % FAILURE_WINDOW
    if left < needed:
        time.sleep(left + 0.5)


@pytest.fixture(autouse=True)
def _forget_failed_logins():
    yield
    reset_login_throttle()


@pytest.fixture
def admin(registry) -> Admin:
    return Admin(registry.url, registry.admin)


@pytest.fixture
def pushed(registry, repo) -> dict:
    """An image pushed by the administrator: repo, tag v1, digests."""
    c = Client(registry.url, auth=registry.admin)
    digest, body = c.push_image(repo, "v1", layers=1, seed=repo)
    doc = json.loads(body)
    return {"repo": repo, "digest": digest, "body": body, "layer": doc["layers"][0]["digest"],
            "config": doc["config"]["digest"]}
