"""Token auth over real HTTP: the Docker token flow and the tokens themselves (claims,
signature, expiry, tampering, refresh); test_auth_accounts.py and test_auth_signing_cli.py
cover the rest.

Rules under test (docs/auth.md):
* no token: a public repository may be pulled, anything else is 401 with a
  Bearer challenge naming the scope;
* an anonymous token lacking the action: 401 (logging in may help);
* an authenticated token lacking it: 403 DENIED, with a Bearer challenge
  unless the token endpoint already refused exactly that action;
* whether a private repository exists never shows before authorisation.
"""
from __future__ import annotations

import json
import time
from typing import Any

import requests

from support import Client

from auth_support import (  # noqa: F401 - fixtures are imported for pytest to find by name
    admin, b64d, b64e, bearer, challenge_of, claims_of, code_of, get_token, ISSUER, OCI, pushed,
    SERVICE, show, token_for, uid, _forget_failed_logins)


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
