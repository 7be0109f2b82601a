"""Token auth over real HTTP: the Docker token flow, tokens, robots, public
repositories, throttling, the catalog, KMS signing, short-lived tokens and the
admin CLI (`python -m client`).

Rules under test (docs/auth.md):
* no token: a public repository may be pulled, anything else is 401 with a
  Bearer challenge naming the scope;
* an anonymous token lacking the action: 401 (logging in may help);
* an authenticated token lacking it: 403 DENIED, with a Bearer challenge
  unless the token endpoint already refused exactly that action;
* whether a private repository exists never shows before authorisation.
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Optional

import pytest
import requests

from support import Client, TokenAuth, sha256

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


# ---------------------------------------------------------------------------
# the challenge and the token endpoint
# ---------------------------------------------------------------------------
def test_base_endpoint_challenges_with_bearer_realm(registry):
    host = registry.url.split("://", 1)[1]
    for method in ("GET", "HEAD"):
        r = requests.request(method, f"{registry.url}/v2/")
        assert r.status_code == 401, show(r)
        assert r.headers["WWW-Authenticate"] == f'Bearer realm="http://{host}/token",service="{SERVICE}"'
        assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert code_of(requests.get(f"{registry.url}/v2/")) == "UNAUTHORIZED"
    # the realm follows the Host the client used (API Gateway / proxies)
    r = requests.get(f"{registry.url}/v2/", headers={"Host": "registry.example.com:8443"})
    assert challenge_of(r)["realm"] == "http://registry.example.com:8443/token"


def test_anonymous_token(registry):
    r = get_token(registry.url)
    assert r.status_code == 200, show(r)
    doc = r.json()
    assert doc["token"] == doc["access_token"] and doc["expires_in"] == 300
    assert "refresh_token" not in doc and r.headers["Cache-Control"] == "no-store"
    claims = claims_of(doc["token"])
    assert claims["sub"] == "" and claims["access"] == []
    # any valid token passes the version check
    assert requests.get(f"{registry.url}/v2/", headers=bearer(doc["token"])).status_code == 200
    # offline_token is ignored for anonymous callers: there is nobody to refresh
    assert "refresh_token" not in get_token(registry.url, offline_token="true").json()


def test_token_with_basic_credentials(registry, repo):
    token = token_for(registry.url, f"repository:{repo}:pull,push", creds=registry.admin)
    claims = claims_of(token)
    assert claims["sub"] == "admin"
    assert claims["access"] == [{"type": "repository", "name": repo, "actions": ["pull", "push"]}]
    r = requests.get(f"{registry.url}/v2/", headers=bearer(token))
    assert r.status_code == 200 and r.json() == {}


def test_wrong_password_is_401_with_basic_challenge(registry, admin):
    name, _ = admin.user()
    for creds in ((name, "not-the-password"), ("nobody-" + uid(), "whatever-password")):
        r = get_token(registry.url, "repository:x/y:pull", creds=creds)
        assert r.status_code == 401, show(r)
        assert r.headers["WWW-Authenticate"].startswith("Basic ")
        assert r.headers["WWW-Authenticate"] == f'Basic realm="{registry.url}/token"'
        assert code_of(r) == "UNAUTHORIZED"
        # unknown user and wrong password read the same: no user enumeration
        assert r.json()["errors"][0]["detail"] == {"reason": "invalid username or password"}
    r = requests.post(f"{registry.url}/token", data={"grant_type": "password", "username": name,
                                                     "password": "nope", "service": SERVICE})
    assert r.status_code == 401 and code_of(r) == "UNAUTHORIZED"
    assert r.headers["WWW-Authenticate"].startswith("Basic ")


def test_granted_access_is_the_intersection(registry, admin, pushed):
    repo = pushed["repo"]
    reader, pw = admin.user()
    admin.grant(reader, "read", repository=repo)
    token = token_for(registry.url, f"repository:{repo}:pull,push,delete", creds=(reader, pw))
    claims = claims_of(token)
    assert claims["access"] == [{"type": "repository", "name": repo, "actions": ["pull"]}]
    assert claims["denied"] == [{"type": "repository", "name": repo, "actions": ["push", "delete"]}]
    r = requests.get(f"{registry.url}/v2/{repo}/manifests/v1", headers=bearer(token))
    assert r.status_code == 200 and r.content == pushed["body"]
    # push with that token: 403 DENIED, and no challenge (asking again would not help)
    r = requests.post(f"{registry.url}/v2/{repo}/blobs/uploads/", headers=bearer(token))
    assert r.status_code == 403, show(r)
    assert code_of(r) == "DENIED" and "WWW-Authenticate" not in r.headers
    # the same through a client doing the whole dance
    c = Client(registry.url, auth=(reader, pw))
    r = c.request("PUT", f"/v2/{repo}/manifests/v2", data=pushed["body"], headers={"Content-Type": OCI})
    assert r.status_code == 403 and code_of(r) == "DENIED", show(r)
    assert Client(registry.url, auth=registry.admin).request(
        "GET", f"/v2/{repo}/tags/list").json()["tags"] == ["v1"]
    # a wildcard asks for everything; still only pull is granted
    claims = claims_of(token_for(registry.url, f"repository:{repo}:*", creds=(reader, pw)))
    assert claims["access"] == [{"type": "repository", "name": repo, "actions": ["pull"]}]


def test_token_for_other_scopes_is_403_with_challenge(registry, admin, pushed):
    """Valid credentials whose token was issued for something else: 403 DENIED with an
    insufficient_scope challenge, so clients that re-authenticate on it get a fitting token."""
    bob, pw = admin.user()
    own = token_for(registry.url, f"repository:{bob}/app:pull,push", creds=(bob, pw))
    r = requests.get(f"{registry.url}/v2/{pushed['repo']}/manifests/v1", headers=bearer(own))
    assert r.status_code == 403 and code_of(r) == "DENIED", show(r)
    c = challenge_of(r)
    assert c["scope"] == f"repository:{pushed['repo']}:pull" and c["error"] == "insufficient_scope"
    # an anonymous token lacking the action: 401 (logging in may help)
    anon = token_for(registry.url, f"repository:{pushed['repo']}:pull")
    r = requests.get(f"{registry.url}/v2/{pushed['repo']}/manifests/v1", headers=bearer(anon))
    assert r.status_code == 401 and code_of(r) == "UNAUTHORIZED"
    assert challenge_of(r)["scope"] == f"repository:{pushed['repo']}:pull"


# ---------------------------------------------------------------------------
# the tokens themselves
# ---------------------------------------------------------------------------
def test_jwt_claims_and_signature_verified_independently(registry, repo):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from chalicelib.http.inject import services

    before = int(time.time())
    r = get_token(registry.url, f"repository:{repo}:pull,push", "registry:catalog:*", creds=registry.admin)
    doc = r.json()
    token = doc["token"]
    head_b64, body_b64, sig_b64 = token.split(".")
    header, claims, sig = json.loads(b64d(head_b64)), json.loads(b64d(body_b64)), b64d(sig_b64)
    assert header == {"alg": "ES256", "typ": "JWT"}
    assert len(sig) == 64  # JWS ES256: raw r || s, not DER
    key = load_pem_public_key(services().token_signer().public_key_pem())
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    key.verify(der, f"{head_b64}.{body_b64}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if bad
    ttl = services().settings.token_ttl
    assert claims["exp"] - claims["iat"] == ttl == doc["expires_in"]
    assert before - 1 <= claims["iat"] <= time.time() + 1 and claims["nbf"] <= claims["iat"]
    assert claims["aud"] == SERVICE and claims["iss"] == ISSUER and claims["sub"] == "admin"
    assert claims["typ"] == "access" and len(claims["jti"]) >= 16
    assert claims["access"] == [{"type": "repository", "name": repo, "actions": ["pull", "push"]},
                                {"type": "registry", "name": "catalog", "actions": ["*"]}]
    assert doc["issued_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["iat"]))
    # two tokens never share an id
    assert claims_of(token_for(registry.url, creds=registry.admin))["jti"] != claims["jti"]


def _mint(repo: str, ttl: int = 60, audience: str = SERVICE, issuer: str = ISSUER, **extra: Any) -> str:
    from chalicelib.http.inject import services
    from chalicelib.auth.tokens import access_claims, encode

    access = [{"type": "repository", "name": repo, "actions": ["pull", "push", "delete"]}]
    return encode(access_claims("admin", access, issuer=issuer, audience=audience, ttl=ttl, **extra),
                  services().token_signer())


def test_minted_token_is_accepted(registry, pushed):
    r = requests.get(f"{registry.url}/v2/{pushed['repo']}/manifests/v1", headers=bearer(_mint(pushed["repo"])))
    assert r.status_code == 200, show(r)


def test_expired_token_is_401_invalid_token(registry, pushed):
    repo = pushed["repo"]
    expired = _mint(repo, ttl=-120)  # beyond the 30 s leeway
    for method, path in (("GET", f"/v2/{repo}/manifests/v1"), ("GET", "/v2/"),
                         ("POST", f"/v2/{repo}/blobs/uploads/")):
        r = requests.request(method, registry.url + path, headers=bearer(expired))
        assert r.status_code == 401, show(r)
        assert code_of(r) == "UNAUTHORIZED"
        c = challenge_of(r)
        assert c["error"] == "invalid_token" and c["realm"] == f"{registry.url}/token", show(r)
        if path != "/v2/":
            # the scope is named, so clients that take it from the challenge can renew
            assert c["scope"].startswith(f"repository:{repo}:pull"), show(r)
    # within the leeway it is still good (clock skew between token issuer and registry)
    r = requests.get(f"{registry.url}/v2/{repo}/manifests/v1", headers=bearer(_mint(repo, ttl=-5)))
    assert r.status_code == 200, show(r)


def test_tampered_and_foreign_tokens_are_401(registry, pushed, admin):
    repo = pushed["repo"]
    bob, pw = admin.user()
    good = token_for(registry.url, f"repository:{bob}/x:pull", creds=(bob, pw))
    head, body, sig = good.split(".")
    claims = json.loads(b64d(body))
    claims["access"] = [{"type": "repository", "name": repo, "actions": ["pull", "push", "delete"]}]
    forged_claims = f"{head}.{b64e(json.dumps(claims).encode())}.{sig}"
    flipped = bytearray(b64d(sig))
    flipped[5] ^= 0x01
    forged_sig = f"{head}.{body}.{b64e(bytes(flipped))}"
    alg_none = f"{b64e(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64e(json.dumps(claims).encode())}."
    hs256 = f"{b64e(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64e(json.dumps(claims).encode())}.{sig}"
    cases = {"claims changed": forged_claims, "signature changed": forged_sig, "alg none": alg_none,
             "alg HS256": hs256, "garbage": "not-a-token", "two parts": f"{head}.{body}",
             "other audience": _mint(repo, audience="another-registry"),
             "other issuer": _mint(repo, issuer="someone-else"),
             "not yet valid": _mint(repo, extra={"nbf": int(time.time()) + 600})}
    for what, token in cases.items():
        r = requests.get(f"{registry.url}/v2/{repo}/manifests/v1", headers=bearer(token))
        assert r.status_code == 401, f"{what}: {show(r)}"
        assert code_of(r) == "UNAUTHORIZED" and challenge_of(r)["error"] == "invalid_token", what
    # and nothing was changed with any of them
    r = requests.delete(f"{registry.url}/v2/{repo}/manifests/v1", headers=bearer(forged_claims))
    assert r.status_code == 401
    assert requests.get(f"{registry.url}/v2/{repo}/manifests/v1",
                        headers=bearer(_mint(repo))).status_code == 200


def test_refresh_token_flow(registry, admin, pushed):
    repo = pushed["repo"]
    name, pw = admin.user()
    admin.grant(name, "read", repository=repo)
    r = requests.post(f"{registry.url}/token", data={
        "grant_type": "password", "username": name, "password": pw, "service": SERVICE,
        "client_id": "tests", "scope": f"repository:{repo}:pull"})
    assert r.status_code == 200, show(r)
    doc = r.json()
    assert claims_of(doc["access_token"])["access"] == [{"type": "repository", "name": repo, "actions": ["pull"]}]
    refresh = doc["refresh_token"]
    rc = claims_of(refresh)
    assert rc["typ"] == "refresh" and rc["sub"] == name and rc["access"] == []
    assert rc["exp"] - rc["iat"] == 30 * 24 * 3600
    r = requests.post(f"{registry.url}/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh, "service": SERVICE, "client_id": "tests",
        "scope": f"repository:{repo}:pull,push"})
    assert r.status_code == 200, show(r)
    new = r.json()["access_token"]
    assert claims_of(new)["sub"] == name
    assert claims_of(new)["access"] == [{"type": "repository", "name": repo, "actions": ["pull"]}]
    assert requests.get(f"{registry.url}/v2/{repo}/manifests/v1", headers=bearer(new)).status_code == 200
    # a refresh token is no access token, and an access token refreshes nothing
    r = requests.get(f"{registry.url}/v2/{repo}/manifests/v1", headers=bearer(refresh))
    assert r.status_code == 401 and challenge_of(r)["error"] == "invalid_token", show(r)
    r = requests.post(f"{registry.url}/token", data={"grant_type": "refresh_token", "refresh_token": new,
                                                     "service": SERVICE})
    assert r.status_code == 401 and code_of(r) == "UNAUTHORIZED"
    r = requests.post(f"{registry.url}/token", data={"grant_type": "refresh_token", "refresh_token": "junk"})
    assert r.status_code == 401
    r = requests.post(f"{registry.url}/token", data={"grant_type": "client_credentials"})
    assert r.status_code == 400 and code_of(r) == "UNSUPPORTED"
    # GET with offline_token=true also hands out a refresh token (Docker's identity token)
    r = get_token(registry.url, creds=(name, pw), offline_token="true")
    assert claims_of(r.json()["refresh_token"])["typ"] == "refresh"


def test_refresh_for_revoked_robot_fails(registry, admin):
    ns = admin.namespace()
    robot, secret = admin.robot(ns)
    admin.grant(robot, "write", namespace=ns)
    r = requests.post(f"{registry.url}/token", data={"grant_type": "password", "username": robot,
                                                     "password": secret, "service": SERVICE})
    refresh = r.json()["refresh_token"]
    admin.call("DELETE", f"/admin/robots/{robot}", expect=204)
    r = requests.post(f"{registry.url}/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                                     "service": SERVICE, "scope": f"repository:{ns}/app:push"})
    assert r.status_code == 401, show(r)
    assert code_of(r) == "UNAUTHORIZED"


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


# ---------------------------------------------------------------------------
# signing keys: KMS
# ---------------------------------------------------------------------------
@pytest.fixture
def kms(registry):
    """A KMS client on the embedded moto server (the same one the registry uses)."""
    import boto3

    return boto3.client("kms", endpoint_url=registry.aws.url, region_name="us-east-1")


def _kms_key(kms) -> str:
    return kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]


def test_kms_signer_tokens_verify(kms):
    from chalicelib.auth.tokens import Verifier, access_claims, encode
    from chalicelib.storage.kms import KmsSigner

    key = _kms_key(kms)
    signer = KmsSigner(kms, key)
    try:
        token = encode(access_claims("robot", [], issuer=ISSUER, audience=SERVICE, ttl=60), signer)
    except Exception as exc:  # pragma: no cover - depends on the moto version
        pytest.xfail(f"moto cannot sign with ECC_NIST_P256 keys: {exc!r}")
    claims = Verifier(signer.public_key_pem()).verify(token, audience=SERVICE, issuer=ISSUER)
    assert claims["sub"] == "robot"
    # a public key given up front (REGISTRY_TOKEN_PUBLIC_KEY) verifies the same tokens
    pem = signer.public_key_pem()
    assert Verifier(KmsSigner(kms, key, pem).public_key_pem()).verify(token, audience=SERVICE, issuer=ISSUER)
    # and another key's signature does not pass
    other = KmsSigner(kms, _kms_key(kms))
    from chalicelib.auth.tokens import InvalidToken

    with pytest.raises(InvalidToken):
        Verifier(other.public_key_pem()).verify(token, audience=SERVICE, issuer=ISSUER)


@pytest.fixture
def kms_signing(registry, kms):
    """A variant of the registry that signs with a KMS key (REGISTRY_KMS_KEY_ID): (key, url)."""
    key = _kms_key(kms)
    with registry.variant(kms_key_id=key, clients={"kms": kms}) as url:
        yield key, url


def test_registry_signs_with_kms(registry, kms, kms_signing, repo):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    key_id, url = kms_signing
    token = token_for(url, f"repository:{repo}:pull,push", creds=registry.admin)
    head, body, sig = token.split(".")
    raw = b64d(sig)
    key = load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
               f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    # the registry accepts its KMS-signed tokens end to end ...
    c = Client(url, auth=registry.admin)
    digest, _ = c.push_image(repo, "v1")
    assert claims_of(c.http.auth.token)["iss"] == ISSUER
    # ... and no longer accepts tokens signed with the local key
    from chalicelib.auth.tokens import LocalSigner, access_claims, encode

    local = LocalSigner(LocalSigner.generate_pem())
    stray = encode(access_claims("admin", [{"type": "repository", "name": repo, "actions": ["pull"]}],
                                 issuer=ISSUER, audience=SERVICE, ttl=60), local)
    r = requests.get(f"{url}/v2/{repo}/manifests/{digest}", headers=bearer(stray))
    assert r.status_code == 401


class AwsLikeKms:
    """A KMS stand-in that keeps AWS's documented limits (moto does not): RAW messages
    of at most 4096 bytes; DIGEST messages are a 32-byte SHA-256 digest."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.key = ec.generate_private_key(ec.SECP256R1())
        self.calls: list[str] = []

    def sign(self, KeyId: str, Message: bytes, MessageType: str, SigningAlgorithm: str) -> dict:
        from botocore.exceptions import ClientError
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        self.calls.append(MessageType)
        assert SigningAlgorithm == "ECDSA_SHA_256"
        if MessageType == "RAW":
            if len(Message) > 4096:
                raise ClientError({"Error": {"Code": "ValidationException",
                                             "Message": "Message must have length less than or equal to 4096"}},
                                  "Sign")
            return {"Signature": self.key.sign(Message, ec.ECDSA(hashes.SHA256()))}
        assert MessageType == "DIGEST" and len(Message) == 32
        return {"Signature": self.key.sign(Message, ec.ECDSA(Prehashed(hashes.SHA256())))}

    def get_public_key(self, KeyId: str) -> dict:
        from cryptography.hazmat.primitives import serialization

        return {"PublicKey": self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)}


def test_kms_signer_handles_tokens_over_4096_bytes():
    """KMS signs RAW messages of at most 4096 bytes; a token for many repositories is
    longer, so the signer must send a SHA-256 digest instead."""
    from chalicelib.auth.tokens import Verifier, access_claims, encode
    from chalicelib.storage.kms import KmsSigner

    fake = AwsLikeKms()
    signer = KmsSigner(fake, "key")
    access = [{"type": "repository", "name": f"team-{i:03d}/service-{i:03d}", "actions": ["pull", "push"]}
              for i in range(60)]
    claims = access_claims("ci", access, issuer=ISSUER, audience=SERVICE, ttl=60)
    token = encode(claims, signer)
    assert len(token.rsplit(".", 1)[0]) > 4096
    assert Verifier(signer.public_key_pem()).verify(token, audience=SERVICE, issuer=ISSUER)["access"] == access
    small = encode(access_claims("ci", access[:1], issuer=ISSUER, audience=SERVICE, ttl=60), signer)
    assert Verifier(signer.public_key_pem()).verify(small, audience=SERVICE, issuer=ISSUER)
    assert fake.calls == ["DIGEST", "RAW"]


# ---------------------------------------------------------------------------
# short-lived tokens are renewed mid-push
# ---------------------------------------------------------------------------
@pytest.fixture
def short_tokens(registry):
    """A second gateway (same embedded AWS) whose tokens live 2 s with no leeway."""
    with registry.variant(token_ttl=2, token_leeway=0) as url:
        yield url


def test_token_expiring_mid_push_is_renewed(registry, short_tokens, repo):
    c = Client(short_tokens, auth=registry.admin)
    auth: TokenAuth = c.http.auth
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, show(r)
    first = auth.token
    assert claims_of(first)["exp"] - claims_of(first)["iat"] == 2
    part1, part2 = os.urandom(1000), os.urandom(1000)
    r = c.request("PATCH", r.headers["Location"], data=part1,
                  headers={"Content-Type": "application/octet-stream", "Content-Range": "0-999"})
    assert r.status_code == 202, show(r)
    time.sleep(3.2)  # the token has expired
    r = c.request("PATCH", r.headers["Location"], data=part2,
                  headers={"Content-Type": "application/octet-stream", "Content-Range": "1000-1999"})
    assert r.status_code == 202, show(r)
    assert [h.status_code for h in r.history] == [401]
    expired = r.history[0]
    assert challenge_of(expired)["error"] == "invalid_token"
    assert challenge_of(expired)["scope"] == f"repository:{repo}:pull,push"
    assert auth.token != first and auth.fetches >= 2
    r = c.request("PUT", r.headers["Location"], params={"digest": sha256(part1 + part2)})
    assert r.status_code == 201, show(r)
    # and the rest of the push goes on with renewed tokens
    c.push_image(repo, "v1")
    head = Client(registry.url, auth=registry.admin).request("HEAD", f"/v2/{repo}/blobs/{sha256(part1 + part2)}")
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == 2000


# ---------------------------------------------------------------------------
# the admin CLI (python -m client), as a subprocess
# ---------------------------------------------------------------------------
def cli(registry, *args: str, user: Optional[str] = "admin", password: Optional[str] = None,
        stdin: Optional[str] = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env["PYTHONPATH"] = str(ROOT)
    env["REGISTRY_PASSWORD"] = password if password is not None else registry.admin[1]
    cmd = [sys.executable, "-m", "client", "--registry", registry.url]
    if user:
        cmd += ["--user", user]
    proc = subprocess.run(cmd + list(args), cwd=str(ROOT), env=env, input=stdin or "", capture_output=True,
                          text=True, timeout=60)
    if check:
        assert proc.returncode == 0, f"{args}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_cli_login(registry):
    out = cli(registry, "login")
    assert "Login succeeded" in out.stdout
    bad = cli(registry, "login", password="wrong-password", check=False)
    assert bad.returncode == 1 and "401" in bad.stderr and "UNAUTHORIZED" in bad.stderr
    # the password can be given on the command line too
    env_less = subprocess.run([sys.executable, "-m", "client", "--registry", registry.url, "--user", "admin",
                               "--password", registry.admin[1], "--json", "login"], cwd=str(ROOT),
                              capture_output=True, text=True, timeout=60,
                              env={**{k: v for k, v in os.environ.items() if k != "REGISTRY_PASSWORD"},
                                   "PYTHONPATH": str(ROOT)})
    assert env_less.returncode == 0 and json.loads(env_less.stdout)["username"] == "admin"
    unreachable = subprocess.run([sys.executable, "-m", "client", "--registry", "http://127.0.0.1:9",
                                  "--user", "admin", "--password", "x", "login"], cwd=str(ROOT),
                                 capture_output=True, text=True, timeout=60)
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr
    usage = subprocess.run([sys.executable, "-m", "client", "robot", "create"], cwd=str(ROOT),
                           capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2


def test_cli_manages_users_namespaces_robots_grants_visibility(registry):
    user, pw, org = uid("cli"), "cli-user-password", uid("cliorg")
    assert f"created user {user}" in cli(registry, "user", "create", user, "--password", pw).stdout
    assert cli(registry, "user", "create", user, "--password", pw, check=False).returncode == 1
    # the password can come from stdin too
    other = uid("cli")
    cli(registry, "user", "create", other, stdin="piped-password\n")
    assert get_token(registry.url, creds=(other, "piped-password")).status_code == 200
    cli(registry, "namespace", "create", org, "--owner", user)
    # the namespace owner drives the rest with their own credentials
    out = cli(registry, "robot", "create", org, "deploy", user=user, password=pw)
    fields = dict(line.split(": ", 1) for line in out.stdout.strip().splitlines())
    robot, secret = fields["username"], fields["secret"]
    assert robot == f"{org}+deploy" and len(secret) >= 32
    cli(registry, "grant", robot, "write", "--namespace", org, user=user, password=pw)

    # the robot pushes with its secret; a token from the CLI carries the granted access
    Client(registry.url, auth=(robot, secret)).push_image(f"{org}/app", "v1")
    token = cli(registry, "token", "--scope", f"repository:{org}/app:pull,push,delete", user=robot,
                password=secret).stdout.strip()
    assert claims_of(token)["access"] == [{"type": "repository", "name": f"{org}/app", "actions": ["pull", "push"]}]
    anon = cli(registry, "token", "--scope", f"repository:{org}/app:pull", user=None).stdout.strip()
    assert claims_of(anon)["sub"] == "" and claims_of(anon)["access"] == []

    # public / private
    cli(registry, "public", f"{org}/app", user=user, password=pw)
    assert requests.get(f"{registry.url}/v2/{org}/app/tags/list").json()["tags"] == ["v1"]
    cli(registry, "private", f"{org}/app", user=user, password=pw)
    assert requests.get(f"{registry.url}/v2/{org}/app/tags/list").status_code == 401

    # repository-level grant and revoke
    reader, reader_pw = uid("cli"), "reader-password"
    cli(registry, "user", "create", reader, "--password", reader_pw)
    cli(registry, "grant", reader, "read", "--repository", f"{org}/app")
    assert Client(registry.url, auth=(reader, reader_pw)).request(
        "GET", f"/v2/{org}/app/manifests/v1").status_code == 200
    cli(registry, "revoke", reader, "--repository", f"{org}/app")
    assert Client(registry.url, auth=(reader, reader_pw)).request(
        "GET", f"/v2/{org}/app/manifests/v1").status_code == 403

    # rotate: the printed secret replaces the old one
    out = cli(registry, "--json", "robot", "rotate", robot, user=user, password=pw)
    new_secret = json.loads(out.stdout)["secret"]
    assert get_token(registry.url, creds=(robot, secret)).status_code == 401
    assert get_token(registry.url, creds=(robot, new_secret)).status_code == 200
    # revoke the namespace grant, then the robot itself
    cli(registry, "revoke", robot, "--namespace", org, user=user, password=pw)
    r = Client(registry.url, auth=(robot, new_secret)).request("POST", f"/v2/{org}/app/blobs/uploads/")
    assert r.status_code == 403
    assert "revoked" in cli(registry, "robot", "revoke", robot, user=user, password=pw).stdout
    assert get_token(registry.url, creds=(robot, new_secret)).status_code == 401

    # refusals are reported with the registry's error code and exit status 1
    denied = cli(registry, "robot", "create", uid("elsewhere"), "x", user=user, password=pw, check=False)
    assert denied.returncode == 1 and "403 DENIED" in denied.stderr
    bad_role = cli(registry, "grant", robot, "owner", "--namespace", org, check=False)
    assert bad_role.returncode == 2  # argparse: not one of read, write, admin
    both = cli(registry, "grant", robot, "read", "--namespace", org, "--repository", f"{org}/app", check=False)
    assert both.returncode == 2


def test_hardening_robot_secrets_owners_and_catalog_challenge(registry):
    import requests as rq

    admin = registry.admin
    r = rq.post(f"{registry.url}/admin/namespaces", json={"name": "hardening", "owner": "nobody-here"}, auth=admin)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    assert rq.post(f"{registry.url}/admin/namespaces", json={"name": "hardening"}, auth=admin).status_code == 201
    robot = rq.post(f"{registry.url}/admin/namespaces/hardening/robots", json={"name": "ci"}, auth=admin).json()
    r = rq.put(f"{registry.url}/admin/users/{robot['username']}/password", json={"password": "chosen-by-me"},
               auth=(robot["username"], robot["secret"]))
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
    r = rq.get(f"{registry.url}/v2/_catalog")
    assert r.status_code == 401 and 'scope="registry:catalog:*"' in r.headers["WWW-Authenticate"]
