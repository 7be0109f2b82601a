"""Auth hardening (issue 14 items 9, 11, 12), over real HTTP:

* every admin body and the /token form are checked against a schema: mistyped
  bodies are 4xx with an OCI error body, never 5xx;
* the Host header never reaches a challenge unvalidated;
* a cross-repository mount challenge asks for pull on the source too.
"""
from __future__ import annotations

import base64
import json
import socket

import pytest
import requests

from support import Client
from auth_support import challenge_of, code_of, get_token, show, uid
# the token-auth tests' fixtures, used here too (imported fixtures register with pytest): `admin`, and
# the autouse one that forgets failed logins after each test
from auth_support import _forget_failed_logins, admin  # noqa: F401
from hardening_support import LONG_NAME, assert_oci_4xx


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
