"""Auth hardening (issue 14 items 2, 4, 8), over real HTTP; items 9, 11, 12 are in
test_auth_hardening_input.py:

* refresh tokens are bound to the account's credential generation and never
  outlive the login they came from;
* login attempts are reserved atomically before a password is checked;
* malformed tokens and oversized account names are 4xx with an OCI error
  body, never 5xx.
"""
from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import pytest
import requests

from auth_support import (bearer, claims_of, code_of, get_token, reset_login_throttle, show,
                          wait_for_fresh_login_window)
# the token-auth tests' fixtures, used here too (imported fixtures register with pytest): `admin`, and
# the autouse one that forgets failed logins after each test
from auth_support import _forget_failed_logins, admin  # noqa: F401
from hardening_support import LONG_NAME, _mint, assert_oci_4xx, password_grant, refresh_grant


# ---------------------------------------------------------------------------
# item 2: refresh tokens bound to a credential generation, never extended
# ---------------------------------------------------------------------------
def _robot_refresh(registry, admin) -> tuple[str, str, str, str]:
    ns = admin.namespace()
    robot, secret = admin.robot(ns)
    admin.grant(robot, "write", namespace=ns)
    r = password_grant(registry.url, robot, secret)
    assert r.status_code == 200, show(r)
    return ns, robot, secret, r.json()["refresh_token"]


def test_rotate_invalidates_refresh_tokens(registry, admin):
    ns, robot, _, refresh = _robot_refresh(registry, admin)
    assert refresh_grant(registry.url, refresh).status_code == 200
    new_secret = admin.call("POST", f"/admin/robots/{robot}/rotate", expect=200).json()["secret"]
    r = refresh_grant(registry.url, refresh, scope=f"repository:{ns}/app:push", access_type="offline")
    assert r.status_code == 401 and code_of(r) == "UNAUTHORIZED", show(r)
    # the new secret gives a refresh token that works
    r = password_grant(registry.url, robot, new_secret)
    assert refresh_grant(registry.url, r.json()["refresh_token"]).status_code == 200


def test_revoke_then_rotate_invalidates_refresh_tokens(registry, admin):
    ns, robot, _, refresh = _robot_refresh(registry, admin)
    admin.call("DELETE", f"/admin/robots/{robot}", expect=204)
    admin.call("POST", f"/admin/robots/{robot}/rotate", expect=200)  # restores the robot
    r = refresh_grant(registry.url, refresh, scope=f"repository:{ns}/app:pull,push")
    assert r.status_code == 401 and code_of(r) == "UNAUTHORIZED", show(r)


def test_password_change_invalidates_refresh_tokens(registry, admin):
    name, pw = admin.user()
    refresh = password_grant(registry.url, name, pw).json()["refresh_token"]
    also = get_token(registry.url, creds=(name, pw), offline_token="true").json()["refresh_token"]
    assert refresh_grant(registry.url, refresh).status_code == 200
    r = requests.put(f"{registry.url}/admin/users/{name}/password", json={"password": "a-new-password"},
                     auth=(name, pw))
    assert r.status_code == 204, show(r)
    for token in (refresh, also):
        r = refresh_grant(registry.url, token)
        assert r.status_code == 401 and code_of(r) == "UNAUTHORIZED", show(r)
    assert password_grant(registry.url, name, "a-new-password").status_code == 200


def test_refresh_never_extends_the_original_expiry(registry, admin):
    name, pw = admin.user()
    first = password_grant(registry.url, name, pw).json()["refresh_token"]
    time.sleep(1.1)  # a re-minted token would get a later exp
    r = refresh_grant(registry.url, first, access_type="offline")
    assert r.status_code == 200, show(r)
    second = r.json()["refresh_token"]
    assert claims_of(second)["exp"] == claims_of(first)["exp"]
    assert claims_of(second)["gen"] == claims_of(first)["gen"]
    time.sleep(1.1)
    third = refresh_grant(registry.url, second, access_type="offline").json()["refresh_token"]
    assert claims_of(third)["exp"] == claims_of(first)["exp"]


# ---------------------------------------------------------------------------
# item 4: login attempts reserved atomically
# ---------------------------------------------------------------------------
def _parallel(n: int, fn) -> list:
    out: list = [None] * n
    start = threading.Barrier(n)

    def run(i: int) -> None:
        start.wait()
        out[i] = fn(i)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _atomic_backend(registry) -> bool:
    """moto unserialised (before local/embedded.py's `_Serialised`) applies concurrent
    conditional writes non-atomically, which no code of ours can make up for."""
    import local.embedded as embedded

    return getattr(registry, "backend", "memory") == "strict" or hasattr(embedded, "_Serialised")


@pytest.mark.parametrize("via", ["get", "post"])
def test_parallel_wrong_passwords_cannot_exceed_the_limit(registry, admin, via):
    if not _atomic_backend(registry):
        pytest.skip("the embedded DynamoDB is not atomic under concurrency here")
    name, pw = admin.user()
    wait_for_fresh_login_window()

    def attempt(i: int) -> int:
        if via == "get":
            return get_token(registry.url, creds=(name, f"wrong-{i}")).status_code
        return password_grant(registry.url, name, f"wrong-{i}").status_code
    statuses = _parallel(20, attempt)
    assert set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) <= 10, statuses  # at most the limit were checked
    assert statuses.count(429) >= 10, statuses
    # the right password is refused while the window lasts
    r = get_token(registry.url, creds=(name, pw))
    assert r.status_code == 429 and code_of(r) == "TOOMANYREQUESTS", show(r)
    assert 1 <= int(r.headers["Retry-After"]) <= 300
    reset_login_throttle(name)
    assert get_token(registry.url, creds=(name, pw)).status_code == 200


def test_successful_logins_give_their_reservation_back(registry, admin):
    name, pw = admin.user()
    wait_for_fresh_login_window()
    # a burst below the limit (attempts in flight hold a reservation each), twice over
    for _ in range(2):
        statuses = _parallel(8, lambda i: get_token(registry.url, creds=(name, pw)).status_code)
        assert statuses == [200] * 8, statuses
    for i in range(9):
        assert get_token(registry.url, creds=(name, f"wrong-{i}")).status_code == 401
    # more successes than the limit: none is refused, none is counted
    for _ in range(12):
        assert get_token(registry.url, creds=(name, pw)).status_code == 200
    # the nine failures still count: one more, then even the right password waits
    assert get_token(registry.url, creds=(name, "wrong-again")).status_code == 401
    assert get_token(registry.url, creds=(name, pw)).status_code == 429
    reset_login_throttle(name)


# ---------------------------------------------------------------------------
# item 8: malformed tokens and oversized names are 4xx, never 5xx
# ---------------------------------------------------------------------------
def _b64(doc: Any) -> str:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


MALFORMED_TOKENS = [
    "W10.e30.AA",                                    # header []
    f"{_b64(None)}.e30.AA", f"{_b64(1)}.e30.AA", f'{_b64("x")}.e30.AA',
    f"{_b64({'alg': 'ES256'})}.{_b64([])}.{'A' * 86}",
    f"{_b64({'alg': 'ES256'})}.{_b64(b'[' * 5000)}.{'A' * 86}",
    f"{_b64(b'[' * 5000)}.e30.AA",                 # nested beyond the recursion limit
    "a.b", "....", "\u00e9.e30.AA", "",
]


@pytest.mark.parametrize("token", MALFORMED_TOKENS)
def test_malformed_bearer_tokens_are_401(registry, token, repo):
    for method, path in [("GET", "/v2/"), ("GET", f"/v2/{repo}/manifests/v1"),
                         ("HEAD", f"/v2/{repo}/manifests/v1"), ("GET", f"/v2/{repo}/tags/list"),
                         ("POST", f"/v2/{repo}/blobs/uploads/"), ("GET", "/v2/_catalog")]:
        r = requests.request(method, registry.url + path, headers=bearer(token))
        assert_oci_4xx(r, 401)
    r = refresh_grant(registry.url, token)
    assert_oci_4xx(r, 401)


def test_signed_tokens_with_claims_of_wrong_types_are_401(registry, repo):
    claims = [{"exp": "never"}, {"nbf": [1]}, {"iat": True}, {"sub": 5}, {"sub": {"a": 1}},
              {"access": {"type": "repository"}}, {"access": [1]}, {"access": [{"type": 1}]},
              {"access": [{"type": "repository", "name": repo, "actions": "pull"}]},
              {"denied": "x"}, {"typ": 1}, {"gen": "0"}]
    for extra in claims:
        token = _mint(repo, **extra)
        for path in ("/v2/", f"/v2/{repo}/manifests/v1"):
            r = requests.get(registry.url + path, headers=bearer(token))
            assert_oci_4xx(r, 401)
        r = refresh_grant(registry.url, _mint(repo, typ="refresh", **extra) if "typ" not in extra else token)
        assert_oci_4xx(r, 401)
    # a signed refresh token whose subject is absurd is refused before any read
    for sub in (LONG_NAME, "a\n", "", "x" * 70):
        r = refresh_grant(registry.url, _mint(repo, typ="refresh", sub=sub, gen=0))
        assert_oci_4xx(r, 401)


def test_oversized_and_malformed_basic_usernames_are_401(registry, admin):
    for user in (LONG_NAME, LONG_NAME + "+ci", "alice\n", "Alice", "a" * 65):
        creds = (user, "some-password")
        for r in (get_token(registry.url, creds=creds),

                  requests.get(f"{registry.url}/helm/acme/index.yaml", auth=creds),
                  requests.get(f"{registry.url}/v1/repositories/acme/app/tags", auth=creds),
                  requests.post(f"{registry.url}/admin/users", json={"username": "x", "password": "y" * 8},
                                auth=creds),
                  requests.put(f"{registry.url}/admin/users/{user[:100]}/password",
                               json={"password": "p" * 10}, auth=creds)):
            assert_oci_4xx(r, 401)
        # the form's schema bounds the user name first (400), else login refuses it (401)
        assert_oci_4xx(password_grant(registry.url, user, "some-password"), 400, 401)


def test_admin_path_names_are_validated_before_any_read(registry, admin):
    for method, path, body in [("PUT", f"/admin/users/{LONG_NAME}/password", {"password": "p" * 10}),
                               ("POST", f"/admin/robots/{LONG_NAME}+ci/rotate", None),
                               ("DELETE", f"/admin/robots/acme+{LONG_NAME}", None),
                               ("POST", f"/admin/namespaces/{LONG_NAME}/robots", {"name": "ci"})]:
        r = admin.call(method, path, body)
        assert_oci_4xx(r, 400, 404)
