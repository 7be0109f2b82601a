"""The world of the negative authorisation tests (test_auth_matrix.py, test_auth_cross_tenant.py):\ntwo tenants, robots, an image with a referrer and an open upload; the snapshot that proves\nnothing changed; the token dance as a client does it."""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest
import requests

from support import Client, sha256


SERVICE = "oci-registry"
OCI = "application/vnd.oci.image.manifest.v1+json"
OCTET = {"Content-Type": "application/octet-stream"}


def code_of(resp: requests.Response) -> Optional[str]:
    try:
        return resp.json()["errors"][0]["code"]
    except ValueError:
        return None


def challenge_of(resp: requests.Response) -> dict:
    return dict(re.findall(r'(\w+)="([^"]*)"', resp.headers.get("WWW-Authenticate", "")))


def show(resp: requests.Response) -> str:
    return (f"{resp.request.method} {resp.url} -> {resp.status_code} "
            f"{resp.headers.get('WWW-Authenticate', '')} {resp.text[:300]}")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def reset_login_throttle(*accounts: str) -> None:
    """Forget login attempts from this machine and of `accounts` (the local server sees
    every caller as 127.0.0.1, so the per-source limit would otherwise be shared by the
    whole session, and the wrong-password principal would lock alice out after 10 tries)."""
    from auth_support import reset_login_throttle as reset

    reset(*accounts)


@pytest.fixture(autouse=True)
def _forget_failed_logins(world):
    yield
    reset_login_throttle(world.alice[0], world.revoked[0])


# ---------------------------------------------------------------------------
# the world: two tenants, robots, an image with a referrer, an open upload
# ---------------------------------------------------------------------------
@dataclass
class World:
    url: str
    admin: tuple
    alice: tuple
    bob: tuple
    reader: tuple
    revoked: tuple
    repo: str                 # alice's private repository
    missing: str              # a repository name in alice's namespace that does not exist
    bob_repo: str
    digest: str               # manifest tagged v1
    config: str
    layer: str
    referrer: str             # manifest whose subject is `digest`
    session: str              # open upload session in `repo` holding `session_data`
    session_data: bytes
    new_blob: bytes           # content a write would add
    new_manifest: bytes
    bob_layer: str
    extra: dict = field(default_factory=dict)

    @property
    def new_blob_digest(self) -> str:
        return sha256(self.new_blob)

    @property
    def new_manifest_digest(self) -> str:
        return sha256(self.new_manifest)

    @property
    def session_tail(self) -> bytes:
        return b"tail-bytes"

    @property
    def session_final_digest(self) -> str:
        return sha256(self.session_data + self.session_tail)


def _admin_api(url: str, creds: tuple, method: str, path: str, body: dict, expect: int) -> dict:
    r = requests.request(method, url + path, json=body, auth=creds)
    assert r.status_code == expect, show(r)
    return r.json() if r.content else {}


@pytest.fixture(scope="module")
def world(registry) -> World:
    url, adm = registry.url, registry.admin
    tag = uuid.uuid4().hex[:8]
    alice, bob = (f"alice-{tag}", "alice-password"), (f"bob-{tag}", "bob-password")
    for name, pw in (alice, bob):
        _admin_api(url, adm, "POST", "/admin/users", {"username": name, "password": pw}, 201)
    ns = alice[0]
    reader = _admin_api(url, adm, "POST", f"/admin/namespaces/{ns}/robots", {"name": "reader"}, 201)
    _admin_api(url, adm, "PUT", "/admin/grants", {"account": reader["username"], "role": "read",
                                                  "namespace": ns}, 204)
    gone = _admin_api(url, adm, "POST", f"/admin/namespaces/{ns}/robots", {"name": "gone"}, 201)
    _admin_api(url, adm, "PUT", "/admin/grants", {"account": gone["username"], "role": "write",
                                                  "namespace": ns}, 204)

    repo, bob_repo = f"{ns}/app", f"{bob[0]}/app"
    ca = Client(url, auth=alice)
    digest, body = ca.push_image(repo, "v1", layers=1, seed=f"alice-{tag}")
    doc = json.loads(body)
    sig_digest, _ = ca.push_image(repo, None, seed=f"sig-{tag}", extra={
        "subject": {"mediaType": OCI, "digest": digest, "size": len(body)},
        "artifactType": "application/vnd.example.signature"})
    data = f"session-{tag}".encode()
    r = ca.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, show(r)
    r = ca.request("PATCH", r.headers["Location"], data=data, headers=OCTET)
    assert r.status_code == 202, show(r)
    session = r.headers["Location"].rsplit("/", 1)[1]
    # the revoked robot pushed once while it could, then lost its access
    Client(url, auth=(gone["username"], gone["secret"])).push_image(f"{ns}/robot-made", "v1", seed=tag)
    _admin_api(url, adm, "DELETE", f"/admin/robots/{gone['username']}", {}, 204)

    bob_digest, bob_body = Client(url, auth=bob).push_image(bob_repo, "v1", seed=f"bob-{tag}")
    new_manifest = json.dumps({**doc, "annotations": {"org.example.evil": tag}}).encode()
    return World(url=url, admin=adm, alice=alice, bob=bob, reader=(reader["username"], reader["secret"]),
                 revoked=(gone["username"], gone["secret"]), repo=repo, missing=f"{ns}/does-not-exist",
                 bob_repo=bob_repo, digest=digest, config=doc["config"]["digest"],
                 layer=doc["layers"][0]["digest"], referrer=sig_digest, session=session, session_data=data,
                 new_blob=f"new blob {tag}".encode(), new_manifest=new_manifest,
                 bob_layer=json.loads(bob_body)["layers"][0]["digest"])


def snapshot(w: World) -> dict:
    """Everything a write could have changed, read by the administrator."""
    r = requests.get(f"{w.url}/token", auth=w.admin, params=[
        ("service", SERVICE), ("scope", f"repository:{w.repo}:pull,push"),
        ("scope", f"repository:{w.bob_repo}:pull")])
    assert r.status_code == 200, show(r)
    h = bearer(r.json()["token"])
    base = f"{w.url}/v2/{w.repo}"

    def status(method: str, path: str) -> int:
        return requests.request(method, path, headers=h, allow_redirects=False).status_code

    tags = requests.get(f"{base}/tags/list", headers=h).json()["tags"]
    session = requests.get(f"{base}/blobs/uploads/{w.session}", headers=h)
    referrers = requests.get(f"{base}/referrers/{w.digest}", headers=h).json()["manifests"]
    return {
        "tags": tags,
        "v1": requests.head(f"{base}/manifests/v1", headers=h).headers.get("Docker-Content-Digest"),
        "manifests": {d: status("HEAD", f"{base}/manifests/{d}")
                      for d in (w.digest, w.referrer, w.new_manifest_digest)},
        "evil tag": status("HEAD", f"{base}/manifests/evil"),
        "blobs": {d: status("HEAD", f"{base}/blobs/{d}")
                  for d in (w.layer, w.config, w.new_blob_digest, w.session_final_digest)},
        "session": (session.status_code, session.headers.get("Range")),
        "referrers": sorted(m["digest"] for m in referrers),
        "bob has alice's layer": status("HEAD", f"{w.url}/v2/{w.bob_repo}/blobs/{w.layer}"),
    }


# ---------------------------------------------------------------------------
# the token dance, as a client does it
# ---------------------------------------------------------------------------
@dataclass
class Outcome:
    first: requests.Response                 # the request without a token
    tokens: list = field(default_factory=list)   # token endpoint answers
    final: Optional[requests.Response] = None    # what the client ends up with


def attempt(w: World, creds: Optional[tuple], method: str, path: str, extra_scopes: tuple = (),
            **kw: Any) -> Outcome:
    """Request; on a Bearer challenge fetch a token for the challenged scope (plus
    `extra_scopes`, as clients add the source of a mount) and retry; follow one
    more challenge naming a new scope (the catalog's)."""
    url = w.url + path
    # Credentialed callers send Basic up front (curl -u does): the registry must not take it.
    first = requests.request(method, url, auth=creds, allow_redirects=False, **kw)
    out = Outcome(first=first, final=first)
    if first.status_code != 401:
        return out
    c = challenge_of(first)
    assert first.headers["WWW-Authenticate"].startswith("Bearer "), show(first)
    scopes = ([c["scope"]] if c.get("scope") else []) + list(extra_scopes)
    for _ in range(2):
        params = [("service", c["service"])] + [("scope", s) for s in scopes]
        tok = requests.get(c["realm"], params=params, auth=creds)
        out.tokens.append(tok)
        if tok.status_code != 200:
            out.final = tok
            return out
        headers = {**kw.get("headers", {}), **bearer(tok.json()["token"])}
        rest = {k: v for k, v in kw.items() if k != "headers"}
        resp = requests.request(method, url, headers=headers, allow_redirects=False, **rest)
        out.final = resp
        again = challenge_of(resp).get("scope")
        if resp.status_code in (401, 403) and again and again not in scopes:
            scopes.append(again)
            continue
        return out
    return out

def _catalog_names(w: World, resp: requests.Response) -> list[str]:
    names = list(resp.json()["repositories"])
    auth = {"Authorization": resp.request.headers["Authorization"]}
    while resp.headers.get("Link"):
        resp = requests.get(w.url + re.match(r"<([^>]+)>", resp.headers["Link"]).group(1), headers=auth)
        assert resp.status_code == 200, show(resp)
        names += resp.json()["repositories"]
    return names
