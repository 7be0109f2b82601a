"""Auth hardening (issue 14 items 2, 4, 8, 9, 11, 12), over real HTTP:

* refresh tokens are bound to the account's credential generation and never
  outlive the login they came from;
* login attempts are reserved atomically before a password is checked;
* malformed tokens, oversized account names and mistyped admin bodies are 4xx
  with an OCI error body, never 5xx;
* every admin body and the /token form are checked against a schema;
* the Host header never reaches a challenge unvalidated;
* a cross-repository mount challenge asks for pull on the source too.
"""
from __future__ import annotations

import base64
import json
import socket
import threading
import time
from typing import Any

import pytest
import requests

from support import Client
from auth_support import (ISSUER, SERVICE, bearer, challenge_of, claims_of, code_of, get_token,
                          reset_login_throttle, show, uid, wait_for_fresh_login_window)
# the token-auth tests' fixtures, used here too (imported fixtures register with pytest): `admin`, and
# the autouse one that forgets failed logins after each test
from auth_support import _forget_failed_logins, admin  # noqa: F401

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


# ---------------------------------------------------------------------------
# item 9: every admin body checked against its schema
# ---------------------------------------------------------------------------
def test_string_booleans_are_refused(registry, admin, repo):
    name = uid("user")
    r = admin.call("POST", "/admin/users", {"username": name, "password": "p" * 12, "admin": "false"})
    assert r.status_code == 400 and code_of(r) == "UNSUPPORTED", show(r)
    assert r.json()["errors"][0]["detail"]["field"] == "admin"
    # nothing was created: the name is still free
    admin.call("POST", "/admin/users", {"username": name, "password": "p" * 12}, expect=201)
    r = admin.call("PUT", "/admin/visibility", {"repository": repo, "public": "false"})
    assert r.status_code == 400 and r.json()["errors"][0]["detail"]["field"] == "public", show(r)
    # the repository stayed private
    r = requests.get(f"{registry.url}/v2/{repo}/tags/list")
    assert r.status_code == 401, show(r)


ADMIN_BODIES = [
    ("POST", "/admin/users", [{"username": ["a"], "password": "p" * 10}, {"username": {"a": 1}, "password": "p" * 10},
                              {"username": 5, "password": "p" * 10}, {"username": "okname", "password": 12345678},
                              {"username": "okname", "password": "p" * 10, "admin": 1},
                              {"username": "okname", "password": "p" * 10, "extra": True},
                              {"username": LONG_NAME, "password": "p" * 10}, {"username": "okname"}, [], "x", 5, None]),
    ("POST", "/admin/namespaces", [{"name": ""}, {"name": ["a"]}, {"name": "ok", "owner": 5},
                                   {"name": "ok", "owner": LONG_NAME}, {"name": {"name": "x"}}]),
    ("PUT", "/admin/grants", [{"account": "a", "role": "read", "namespace": ""},
                              {"account": "a", "role": ["read"], "namespace": "ns"},
                              {"account": {"x": 1}, "role": "read", "namespace": "ns"},
                              {"account": "a", "role": "read", "namespace": ["ns"]},
                              {"account": "a", "role": "read", "repository": 5},
                              {"account": "a", "role": "owner", "namespace": "ns"},
                              {"account": LONG_NAME, "role": "read", "namespace": "ns"},
                              {"account": "a", "role": "read", "namespace": "n" * 3000}]),
    ("DELETE", "/admin/grants", [{"account": "a", "namespace": ""}, {"account": "a", "repository": {}},
                                 {"account": "a", "namespace": "ns", "role": "read"}]),
    ("PUT", "/admin/visibility", [{"repository": ["a/b"], "public": True}, {"repository": "a/b", "public": 1},
                                  {"repository": "a/b"}, {"repository": "A/B", "public": True},
                                  {"repository": "a/b\n", "public": True}]),
    ("POST", "/admin/namespaces/admin/robots", [{"name": ["ci"]}, {"name": 5}, {"name": "ci", "x": 1}, {}]),
    ("POST", "/admin/robots/admin+ci/rotate", [{"x": 1}, [1]]),
]


@pytest.mark.parametrize("method,path,bodies", ADMIN_BODIES, ids=[f"{m} {p}" for m, p, _ in ADMIN_BODIES])
def test_admin_bodies_of_the_wrong_shape_are_400(registry, admin, method, path, bodies):
    for body in bodies:
        r = requests.request(method, registry.url + path, data=json.dumps(body), auth=admin.creds,
                             headers={"Content-Type": "application/json"})
        assert_oci_4xx(r, 400)
        assert code_of(r) in ("UNSUPPORTED", "NAME_INVALID"), show(r)


def test_unparseable_admin_bodies_are_400(registry, admin):
    for raw in (b"{" * 100000, b"[" * 100000 + b"]" * 100000, b'{"username": "a",', b"\xff\xfe", b"null"):
        r = requests.post(f"{registry.url}/admin/users", data=raw, auth=admin.creds)
        assert_oci_4xx(r, 400)


def test_token_form_is_checked(registry, admin):
    for form in ({"grant_type": "password", "username": "admin", "password": "x" * 5000},
                 {"grant_type": "refresh_token", "refresh_token": "x" * 10000},
                 {"grant_type": "password", "username": "admin", "password": "p", "access_type": "forever"},
                 {"grant_type": "implicit"}, {}):
        r = requests.post(f"{registry.url}/token", data=form)
        assert_oci_4xx(r, 400)
    r = requests.post(f"{registry.url}/token", data=b"grant_type=password&username=\xff")
    assert_oci_4xx(r, 400)
    scopes = " ".join(f"repository:a/r{i}:pull" for i in range(100))
    r = requests.post(f"{registry.url}/token", data={"grant_type": "password", "username": admin.creds[0],
                                                     "password": admin.creds[1], "scope": scopes})
    assert_oci_4xx(r, 400)
    r = get_token(registry.url, *[f"repository:a/r{i}:pull" for i in range(100)])
    assert_oci_4xx(r, 400)


# ---------------------------------------------------------------------------
# item 11: request data in header values
# ---------------------------------------------------------------------------
def _raw_get(url: str, path: str, host: bytes, extra: bytes = b"") -> tuple[int, dict]:
    """GET with a Host header that requests would refuse to send."""
    hostport = url.split("://", 1)[1]
    addr, port = hostport.rsplit(":", 1)
    with socket.create_connection((addr, int(port)), timeout=10) as s:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + extra
                  + b"Connection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return status, headers


@pytest.mark.parametrize("host", [b'evil.example"x', b'a", error="x', b"a b", b"a\tb", b"host:99999999",
                                  b"\xc3\xa9.example", b"a/b", b"", b"x" * 300])
def test_host_header_never_reaches_the_realm_unvalidated(registry, host):
    status, headers = _raw_get(registry.url, "/v2/", host)
    assert status in (400, 401), (status, headers)
    if status == 401:
        (value,) = headers["www-authenticate"]
        assert value.startswith('Bearer realm="http://localhost/token",service='), value
        assert value.count('"') == 4, value
    # the Basic realm of a failed login is built from the same base URL
    status, headers = _raw_get(registry.url, "/token", host,
                               b"Authorization: Basic " + base64.b64encode(b"nobody:wrong-password") + b"\r\n")
    if status == 401:
        (value,) = headers["www-authenticate"]
        assert value == 'Basic realm="http://localhost/token"', value


def test_valid_host_headers_are_kept(registry):
    for host in (b"registry.example.com", b"registry.example.com:8443", b"10.0.0.1:5000", b"[::1]:5000"):
        status, headers = _raw_get(registry.url, "/v2/", host)
        assert status == 401
        assert headers["www-authenticate"][0].startswith(f'Bearer realm="http://{host.decode()}/token"')


# ---------------------------------------------------------------------------
# item 12: cross-repository mounts under token auth
# ---------------------------------------------------------------------------
def _blob_in(registry, admin) -> tuple[str, str, str, tuple]:
    """A user with its own namespace, one blob pushed to <user>/src; (ns, src, digest, creds)."""
    name, pw = admin.user()
    data = f"mount me {uid()}".encode() * 50
    digest = Client(registry.url, auth=(name, pw)).push_blob(f"{name}/src", data)
    return name, f"{name}/src", digest, (name, pw)


def test_mount_challenge_asks_for_pull_on_the_source(registry, admin):
    ns, src, digest, creds = _blob_in(registry, admin)
    r = requests.post(f"{registry.url}/v2/{ns}/dst/blobs/uploads/", params={"mount": digest, "from": src})
    assert r.status_code == 401, show(r)
    assert challenge_of(r)["scope"] == f"repository:{ns}/dst:pull,push repository:{src}:pull"
    # a client that follows the challenge gets both and the mount succeeds
    c = Client(registry.url, auth=creds)
    r = c.request("POST", f"/v2/{ns}/dst/blobs/uploads/", params={"mount": digest, "from": src})
    assert r.status_code == 201, show(r)
    assert r.headers["Location"] == f"/v2/{ns}/dst/blobs/{digest}"
    assert c.http.auth.fetches == 1
    assert c.request("HEAD", f"/v2/{ns}/dst/blobs/{digest}").status_code == 200


def test_mount_with_a_push_token_lacking_the_source_is_rechallenged(registry, admin):
    ns, src, digest, creds = _blob_in(registry, admin)
    c = Client(registry.url, auth=creds)
    c.login(f"{ns}/dst2", "pull,push")  # holds push on the target only
    r = c.request("POST", f"/v2/{ns}/dst2/blobs/uploads/", params={"mount": digest, "from": src})
    assert r.status_code == 201, show(r)
    first = r.history[0]
    assert first.status_code == 403 and challenge_of(first)["error"] == "insufficient_scope"
    assert challenge_of(first)["scope"] == f"repository:{ns}/dst2:pull,push repository:{src}:pull"


def test_mount_from_an_unreadable_source_falls_back_to_an_upload(registry, admin):
    ns, src, digest, _ = _blob_in(registry, admin)
    other, other_pw = admin.user()
    c = Client(registry.url, auth=(other, other_pw))
    r = c.request("POST", f"/v2/{other}/dst/blobs/uploads/", params={"mount": digest, "from": src})
    assert r.status_code == 202, show(r)  # refused pull on the source: a normal session, no loop
    assert c.request("HEAD", f"/v2/{other}/dst/blobs/{digest}").status_code == 404
    # a malformed source never reaches the challenge
    r = requests.post(f"{registry.url}/v2/{other}/dst/blobs/uploads/",
                      params={"mount": digest, "from": 'x",error="y'})
    assert r.status_code == 401 and challenge_of(r)["scope"] == f"repository:{other}/dst:pull,push", show(r)
