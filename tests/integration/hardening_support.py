"""Helpers of the auth-hardening tests (test_auth_hardening*.py): minted tokens, OCI 4xx checks
and the token endpoint's grants."""
from __future__ import annotations

from typing import Any

import requests

from auth_support import ISSUER, SERVICE, show


LONG_NAME = "a" * 3000


def _mint(repo: str, **overrides: Any) -> str:
    """A token signed with the registry's key, with claims overridden as given."""
    from chalicelib.http.inject import services
    from chalicelib.auth.tokens import access_claims, encode

    access = [{"type": "repository", "name": repo, "actions": ["pull", "push", "delete"]}]
    claims = access_claims("admin", access, issuer=ISSUER, audience=SERVICE, ttl=60)
    claims.update(overrides)
    return encode(claims, services().token_signer())


def assert_oci_4xx(r: requests.Response, *statuses: int) -> None:
    """A client error with the OCI error body (HEAD: no body)."""
    assert 400 <= r.status_code < 500, show(r)
    if statuses:
        assert r.status_code in statuses, show(r)
    if r.request.method != "HEAD":
        err = r.json()["errors"][0]
        assert set(err) >= {"code", "message", "detail"}, show(r)


def password_grant(url: str, username: str, password: str, **extra: str) -> requests.Response:
    return requests.post(f"{url}/token", data={"grant_type": "password", "username": username,
                                               "password": password, "service": SERVICE, **extra})


def refresh_grant(url: str, refresh: str, **extra: str) -> requests.Response:
    return requests.post(f"{url}/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                               "service": SERVICE, **extra})
