"""Token auth over real HTTP: robots, namespace admins, public and private repositories,
login throttling and the filtered catalog (docs/auth.md).
"""
from __future__ import annotations

import re

import pytest
import requests

from support import Client

from auth_support import (  # noqa: F401 - fixtures are imported for pytest to find by name
    admin, bearer, challenge_of, claims_of, code_of, get_token, OCI, pushed,
    reset_login_throttle, show, token_for, uid, wait_for_fresh_login_window,
    _forget_failed_logins)


# ---------------------------------------------------------------------------
# robots
# ---------------------------------------------------------------------------
def test_robot_lifecycle(registry, admin):
    ns = admin.namespace()
    robot, secret = admin.robot(ns, "ci")
    # no role yet: the robot logs in but may not push
    r = Client(registry.url, auth=(robot, secret)).request("POST", f"/v2/{ns}/app/blobs/uploads/")
    assert r.status_code == 403 and code_of(r) == "DENIED", show(r)
    admin.grant(robot, "write", namespace=ns)
    c = Client(registry.url, auth=(robot, secret))
    digest, body = c.push_image(f"{ns}/app", "v1")
    assert c.request("GET", f"/v2/{ns}/app/manifests/v1").content == body
    # write is not admin: no delete, and nothing outside its namespace
    r = c.request("DELETE", f"/v2/{ns}/app/manifests/v1")
    assert r.status_code == 403 and code_of(r) == "DENIED"
    r = Client(registry.url, auth=(robot, secret)).request("POST", "/v2/other-ns/app/blobs/uploads/")
    assert r.status_code == 403
    # robots cannot use the admin API of their namespace
    r = admin.call("POST", f"/admin/namespaces/{ns}/robots", {"name": "second"}, creds=(robot, secret))
    assert r.status_code == 403 and code_of(r) == "DENIED"
    # a robot cannot get a role elsewhere, except from a global administrator
    owner, owner_pw = admin.user()
    r = admin.call("PUT", "/admin/grants", {"account": robot, "role": "read", "namespace": owner},
                   creds=(owner, owner_pw))
    assert r.status_code == 403 and code_of(r) == "DENIED", show(r)

    # rotate: the old secret stops working at once, the new one works
    new = admin.call("POST", f"/admin/robots/{robot}/rotate", expect=200).json()
    assert new["username"] == robot and new["secret"] != secret
    r = get_token(registry.url, f"repository:{ns}/app:pull", creds=(robot, secret))
    assert r.status_code == 401 and code_of(r) == "UNAUTHORIZED"
    c2 = Client(registry.url, auth=(robot, new["secret"]))
    c2.push_image(f"{ns}/app", "v2", seed="after-rotate")

    # revoke: no more tokens
    issued = token_for(registry.url, f"repository:{ns}/app:pull", creds=(robot, new["secret"]))
    admin.call("DELETE", f"/admin/robots/{robot}", expect=204)
    r = get_token(registry.url, f"repository:{ns}/app:pull", creds=(robot, new["secret"]))
    assert r.status_code == 401 and code_of(r) == "UNAUTHORIZED", show(r)
    with pytest.raises(requests.HTTPError):
        Client(registry.url, auth=(robot, new["secret"])).request("GET", f"/v2/{ns}/app/tags/list")
    tags = Client(registry.url, auth=registry.admin).request("GET", f"/v2/{ns}/app/tags/list").json()["tags"]
    assert tags == ["v1", "v2"]
    # documented: a token issued before the revocation works until it expires (checking
    # a token reads no database), at most REGISTRY_TOKEN_TTL + leeway seconds
    r = requests.get(f"{registry.url}/v2/{ns}/app/tags/list", headers=bearer(issued))
    assert r.status_code == 200 and claims_of(issued)["exp"] - claims_of(issued)["iat"] == 300
    # unknown robots and non-robot names
    assert admin.call("POST", f"/admin/robots/{ns}+nobody/rotate").status_code == 404
    assert admin.call("DELETE", "/admin/robots/plainuser").status_code == 400


def test_namespace_admin_manages_only_their_namespace(registry, admin):
    alice, alice_pw = admin.user()
    org = admin.namespace(owner=alice)
    other = admin.namespace()
    as_alice = (alice, alice_pw)
    robot = admin.call("POST", f"/admin/namespaces/{org}/robots", {"name": "build"}, creds=as_alice,
                       expect=201).json()["username"]
    admin.call("PUT", "/admin/grants", {"account": robot, "role": "write", "namespace": org}, creds=as_alice,
               expect=204)
    for method, path, body in (("POST", f"/admin/namespaces/{other}/robots", {"name": "x"}),
                               ("PUT", "/admin/grants", {"account": alice, "role": "admin", "namespace": other}),
                               ("PUT", "/admin/visibility", {"repository": f"{other}/app", "public": True}),
                               ("POST", "/admin/users", {"username": uid(), "password": "long-enough-pw"}),
                               ("POST", "/admin/namespaces", {"name": uid("org")})):
        r = admin.call(method, path, body, creds=as_alice)
        assert r.status_code == 403 and code_of(r) == "DENIED", show(r)
    # without credentials at all: 401 with a Basic challenge
    r = requests.post(f"{registry.url}/admin/users", json={"username": uid(), "password": "long-enough-pw"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic ")


def test_user_cannot_take_over_an_existing_namespace(registry, admin):
    """A user owns the namespace named after them, so a user may not be created
    with the name of an organisation namespace that already exists."""
    alice, alice_pw = admin.user()
    org = admin.namespace(owner=alice)
    Client(registry.url, auth=(alice, alice_pw)).push_image(f"{org}/app", "v1")
    r = admin.call("POST", "/admin/users", {"username": org, "password": "takeover-password"})
    assert r.status_code == 409, show(r)
    r = get_token(registry.url, f"repository:{org}/app:pull,push,delete", creds=(org, "takeover-password"))
    assert r.status_code == 401


# ---------------------------------------------------------------------------
# public and private repositories
# ---------------------------------------------------------------------------
def test_public_repository_anonymous_pull(registry, admin, pushed):
    repo, digest = pushed["repo"], pushed["digest"]
    admin.visibility(repo, True)
    anon_token = token_for(registry.url, f"repository:{repo}:pull,push")
    assert claims_of(anon_token)["access"] == [{"type": "repository", "name": repo, "actions": ["pull"]}]
    for headers in ({}, bearer(anon_token)):
        for ref in ("v1", digest):
            r = requests.get(f"{registry.url}/v2/{repo}/manifests/{ref}", headers=headers)
            assert r.status_code == 200 and r.content == pushed["body"], show(r)
            assert requests.head(f"{registry.url}/v2/{repo}/manifests/{ref}", headers=headers).status_code == 200
        r = requests.get(f"{registry.url}/v2/{repo}/blobs/{pushed['layer']}", headers=headers,
                         allow_redirects=False)
        assert r.status_code == 307, show(r)
        assert requests.get(r.headers["Location"]).status_code == 200
        assert requests.get(f"{registry.url}/v2/{repo}/tags/list", headers=headers).json()["tags"] == ["v1"]
        assert requests.get(f"{registry.url}/v2/{repo}/referrers/{digest}", headers=headers).status_code == 200
    # anonymous writes are refused, with or without the anonymous token
    for headers in ({}, bearer(anon_token)):
        r = requests.post(f"{registry.url}/v2/{repo}/blobs/uploads/", headers=headers)
        assert r.status_code == 401 and code_of(r) == "UNAUTHORIZED", show(r)
        assert challenge_of(r)["scope"] == f"repository:{repo}:pull,push"
        r = requests.put(f"{registry.url}/v2/{repo}/manifests/evil", data=pushed["body"],
                         headers={"Content-Type": OCI, **headers})
        assert r.status_code == 401
        r = requests.delete(f"{registry.url}/v2/{repo}/manifests/{digest}", headers=headers)
        assert r.status_code == 401
    # an authenticated stranger may pull a public repository but not push to it
    bob, pw = admin.user()
    c = Client(registry.url, auth=(bob, pw))
    assert c.request("GET", f"/v2/{repo}/manifests/v1").status_code == 200
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 403 and code_of(r) == "DENIED"
    # private again: anonymous pulls stop
    admin.visibility(repo, False)
    r = requests.get(f"{registry.url}/v2/{repo}/manifests/v1")
    assert r.status_code == 401 and code_of(r) == "UNAUTHORIZED"
    tags = Client(registry.url, auth=registry.admin).request("GET", f"/v2/{repo}/tags/list").json()["tags"]
    assert tags == ["v1"]


def test_public_before_first_push_stays_public(registry, admin, repo):
    admin.visibility(repo, True)
    digest, body = Client(registry.url, auth=registry.admin).push_image(repo, "v1")
    r = requests.get(f"{registry.url}/v2/{repo}/manifests/{digest}")
    assert r.status_code == 200 and r.content == body


def test_private_repository_does_not_leak_existence(registry, pushed):
    """Anonymous pulls of an existing private repository and of one that does not
    exist are refused the same way: same status, code and body."""
    repo, missing = pushed["repo"], f"{pushed['repo']}-missing"
    paths = [("manifests/v1", "manifests/v1"),
             (f"manifests/{pushed['digest']}", f"manifests/{pushed['digest']}"),
             (f"blobs/{pushed['layer']}", f"blobs/{pushed['layer']}"),
             ("tags/list", "tags/list"),
             (f"referrers/{pushed['digest']}", f"referrers/{pushed['digest']}")]
    for anon_token in (None, token_for(registry.url, f"repository:{repo}:pull",
                                       f"repository:{missing}:pull")):
        headers = bearer(anon_token) if anon_token else {}
        for there, absent in paths:
            a = requests.get(f"{registry.url}/v2/{repo}/{there}", headers=headers, allow_redirects=False)
            b = requests.get(f"{registry.url}/v2/{missing}/{absent}", headers=headers, allow_redirects=False)
            assert a.status_code == b.status_code == 401, (show(a), show(b))
            assert a.json() == b.json() and code_of(a) == "UNAUTHORIZED"
            assert (a.headers["WWW-Authenticate"].replace(repo, "NAME")
                    == b.headers["WWW-Authenticate"].replace(missing, "NAME"))
            assert set(a.headers) == set(b.headers)
            if there.startswith(("manifests/", "blobs/")):
                ha = requests.head(f"{registry.url}/v2/{repo}/{there}", headers=headers)
                hb = requests.head(f"{registry.url}/v2/{missing}/{absent}", headers=headers)
                assert ha.status_code == hb.status_code == 401 and ha.content == hb.content == b""
                assert set(ha.headers) == set(hb.headers)


# ---------------------------------------------------------------------------
# throttling
# ---------------------------------------------------------------------------
def test_login_throttling(registry, admin):
    name, pw = admin.user()
    wait_for_fresh_login_window()
    for i in range(10):
        r = get_token(registry.url, creds=(name, f"wrong-{i}"))
        assert r.status_code == 401, f"attempt {i + 1}: {show(r)}"
    # the 11th attempt is refused even with the right password
    r = get_token(registry.url, creds=(name, pw))
    assert r.status_code == 429, show(r)
    assert code_of(r) == "TOOMANYREQUESTS" and 1 <= int(r.headers["Retry-After"]) <= 300
    r = requests.post(f"{registry.url}/token", data={"grant_type": "password", "username": name, "password": pw})
    assert r.status_code == 429 and code_of(r) == "TOOMANYREQUESTS"
    r = requests.put(f"{registry.url}/admin/users/{name}/password", json={"password": "another-password"},
                     auth=(name, pw))
    assert r.status_code == 429
    # other accounts are not affected
    assert get_token(registry.url, creds=registry.admin).status_code == 200
    reset_login_throttle(name)
    assert get_token(registry.url, creds=(name, pw)).status_code == 200


# ---------------------------------------------------------------------------
# catalog
# ---------------------------------------------------------------------------
def _catalog(url: str, token: str) -> list[str]:
    names, path = [], "/v2/_catalog?n=1000"
    while path:
        r = requests.get(url + path, headers=bearer(token))
        assert r.status_code == 200, show(r)
        names += r.json()["repositories"]
        link = r.headers.get("Link")
        path = re.match(r"<([^>]+)>", link).group(1) if link else None
    return names


def test_catalog_needs_auth_and_is_filtered(registry, admin):
    alice, alice_pw = admin.user()
    bob, bob_pw = admin.user()
    org = admin.namespace()
    ca = Client(registry.url, auth=(alice, alice_pw))
    ca.push_image(f"{alice}/one", "v1")
    ca.push_image(f"{alice}/two", "v1")
    cb = Client(registry.url, auth=(bob, bob_pw))
    cb.push_image(f"{bob}/mine", "v1")
    cadmin = Client(registry.url, auth=registry.admin)
    cadmin.push_image(f"{org}/granted", "v1")
    cadmin.push_image(f"{org}/hidden", "v1")
    cadmin.push_image(f"{org}/open", "v1")
    admin.grant(bob, "read", repository=f"{org}/granted")
    admin.visibility(f"{org}/open", True)

    # no token: 401; an anonymous token never carries the catalog scope
    r = requests.get(f"{registry.url}/v2/_catalog")
    assert r.status_code == 401 and code_of(r) == "UNAUTHORIZED"
    anon = token_for(registry.url, "registry:catalog:*")
    assert claims_of(anon)["access"] == []
    r = requests.get(f"{registry.url}/v2/_catalog", headers=bearer(anon))
    assert r.status_code == 401
    assert challenge_of(r)["scope"] == "registry:catalog:*"
    # a token without the catalog scope is told which scope to ask for
    plain = token_for(registry.url, creds=(bob, bob_pw))
    r = requests.get(f"{registry.url}/v2/_catalog", headers=bearer(plain))
    assert r.status_code == 401 and challenge_of(r)["scope"] == "registry:catalog:*"

    bob_token = token_for(registry.url, "registry:catalog:*", creds=(bob, bob_pw))
    assert claims_of(bob_token)["access"] == [{"type": "registry", "name": "catalog", "actions": ["*"]}]
    seen = set(_catalog(registry.url, bob_token))
    mine = {n for n in seen if n.startswith((f"{alice}/", f"{bob}/", f"{org}/"))}
    assert mine == {f"{bob}/mine", f"{org}/granted", f"{org}/open"}
    alice_seen = set(_catalog(registry.url, token_for(registry.url, "registry:catalog:*",
                                                      creds=(alice, alice_pw))))
    assert {n for n in alice_seen if n.startswith((f"{alice}/", f"{bob}/", f"{org}/"))} == {
        f"{alice}/one", f"{alice}/two", f"{org}/open"}
    everything = set(_catalog(registry.url, token_for(registry.url, "registry:catalog:*", creds=registry.admin)))
    assert {f"{alice}/one", f"{alice}/two", f"{bob}/mine", f"{org}/granted", f"{org}/hidden",
            f"{org}/open"} <= everything
    # paging through a filtered catalog with n=1 returns the same names
    names, path = [], "/v2/_catalog?n=1"
    while path:
        r = requests.get(registry.url + path, headers=bearer(bob_token))
        page = r.json()["repositories"]
        assert len(page) <= 1
        names += page
        link = r.headers.get("Link")
        path = re.match(r"<([^>]+)>", link).group(1) if link else None
    assert set(names) == seen and names == sorted(names)
