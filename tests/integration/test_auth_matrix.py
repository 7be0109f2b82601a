"""Negative authorisation matrix: who may not do what, and proof that nothing changed.

Principals (each acting on a private repository of tenant "alice"):
* anonymous        no credentials: 401 UNAUTHORIZED without a token and with an anonymous one;
* wrong password   alice's name, wrong password: the token endpoint answers 401 (Basic challenge);
* reader robot     `alice+reader` with the read role: pulls work, writes are 403 DENIED;
* other tenant     user bob (owns namespace bob): 403 DENIED on alice's repository;
* revoked robot    a write robot that was revoked: the token endpoint answers 401.

Every request goes through the token dance the way clients do it (request,
challenge, token for the challenged scope, retry). After each probe the
administrator checks that tags, manifests, blobs, referrers and the open
upload session of alice's repository are exactly as before.
"""
from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

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
    from test_auth import reset_login_throttle as reset

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


def test_world_is_as_expected(world):
    snap = snapshot(world)
    assert snap["tags"] == ["v1"] and snap["v1"] == world.digest
    assert snap["manifests"] == {world.digest: 200, world.referrer: 200, world.new_manifest_digest: 404}
    assert snap["evil tag"] == 404
    assert snap["blobs"] == {world.layer: 200, world.config: 200, world.new_blob_digest: 404,
                             world.session_final_digest: 404}
    assert snap["session"] == (204, f"0-{len(world.session_data) - 1}")
    assert snap["referrers"] == [world.referrer]
    assert snap["bob has alice's layer"] == 404


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


# ---------------------------------------------------------------------------
# the matrix
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    action: str                                   # pull, push, delete or catalog
    request: Callable[[World, str], tuple]        # (world, principal) -> (method, path, kwargs)
    ok: int                                       # status when allowed


def _upload_put(w: World, _p: str) -> tuple:
    return ("PUT", f"/v2/{w.repo}/blobs/uploads/{w.session}?digest={w.session_final_digest}",
            {"data": w.session_tail, "headers": OCTET})


def _mount(w: World, p: str) -> tuple:
    # someone who may push somewhere pushes to their own repository
    target = w.bob_repo if p == "other_tenant" else w.repo
    return ("POST", f"/v2/{target}/blobs/uploads/?mount={w.layer}&from={w.repo}", {})


FAMILIES: dict[str, Family] = {
    "manifest GET tag": Family("pull", lambda w, p: ("GET", f"/v2/{w.repo}/manifests/v1", {}), 200),
    "manifest GET digest": Family("pull", lambda w, p: ("GET", f"/v2/{w.repo}/manifests/{w.digest}", {}), 200),
    "manifest HEAD tag": Family("pull", lambda w, p: ("HEAD", f"/v2/{w.repo}/manifests/v1", {}), 200),
    "manifest HEAD digest": Family("pull", lambda w, p: ("HEAD", f"/v2/{w.repo}/manifests/{w.digest}", {}), 200),
    "manifest PUT tag": Family("push", lambda w, p: ("PUT", f"/v2/{w.repo}/manifests/evil", {
        "data": w.new_manifest, "headers": {"Content-Type": OCI}}), 201),
    "manifest PUT digest": Family("push", lambda w, p: ("PUT", f"/v2/{w.repo}/manifests/{w.new_manifest_digest}", {
        "data": w.new_manifest, "headers": {"Content-Type": OCI}}), 201),
    "manifest DELETE tag": Family("delete", lambda w, p: ("DELETE", f"/v2/{w.repo}/manifests/v1", {}), 202),
    "manifest DELETE digest": Family("delete", lambda w, p: ("DELETE", f"/v2/{w.repo}/manifests/{w.digest}", {}),
                                     202),
    "blob HEAD": Family("pull", lambda w, p: ("HEAD", f"/v2/{w.repo}/blobs/{w.layer}", {}), 200),
    "blob GET": Family("pull", lambda w, p: ("GET", f"/v2/{w.repo}/blobs/{w.layer}", {}), 307),
    "blob DELETE": Family("delete", lambda w, p: ("DELETE", f"/v2/{w.repo}/blobs/{w.layer}", {}), 202),
    "upload POST": Family("push", lambda w, p: ("POST", f"/v2/{w.repo}/blobs/uploads/?digest={w.new_blob_digest}", {
        "data": w.new_blob, "headers": OCTET}), 201),
    "upload PATCH": Family("push", lambda w, p: ("PATCH", f"/v2/{w.repo}/blobs/uploads/{w.session}", {
        "data": b"0123456789", "headers": {**OCTET, "Content-Range": f"{len(w.session_data)}-"
                                                                     f"{len(w.session_data) + 9}"}}), 202),
    "upload PUT": Family("push", _upload_put, 201),
    "upload GET": Family("push", lambda w, p: ("GET", f"/v2/{w.repo}/blobs/uploads/{w.session}", {}), 204),
    "upload DELETE": Family("push", lambda w, p: ("DELETE", f"/v2/{w.repo}/blobs/uploads/{w.session}", {}), 204),
    "mount": Family("push", _mount, 201),
    "tags list": Family("pull", lambda w, p: ("GET", f"/v2/{w.repo}/tags/list", {}), 200),
    "referrers": Family("pull", lambda w, p: ("GET", f"/v2/{w.repo}/referrers/{w.digest}", {}), 200),
    "catalog": Family("catalog", lambda w, p: ("GET", "/v2/_catalog?n=1000", {}), 200),
}
PRINCIPALS = ("anonymous", "wrong_password", "reader_robot", "other_tenant", "revoked_robot")


def creds_of(w: World, principal: str) -> Optional[tuple]:
    return {"anonymous": None, "wrong_password": (w.alice[0], "not-alice-password"),
            "reader_robot": w.reader, "other_tenant": w.bob, "revoked_robot": w.revoked}[principal]


def expectation(principal: str, family: str) -> tuple[int, Optional[str], str]:
    """(status, error code, who answers: "registry" or "token endpoint")."""
    action = FAMILIES[family].action
    if principal == "anonymous":
        return 401, "UNAUTHORIZED", "registry"
    if principal in ("wrong_password", "revoked_robot"):
        return 401, "UNAUTHORIZED", "token endpoint"
    if principal == "reader_robot":
        if action in ("pull", "catalog"):
            return FAMILIES[family].ok, None, "registry"
        return 403, "DENIED", "registry"
    # another tenant's user
    if family == "catalog":
        return 200, None, "registry"
    if family == "mount":
        return 202, None, "registry"   # a normal upload into their own repository, never 201
    return 403, "DENIED", "registry"


def _catalog_names(w: World, resp: requests.Response) -> list[str]:
    names = list(resp.json()["repositories"])
    auth = {"Authorization": resp.request.headers["Authorization"]}
    while resp.headers.get("Link"):
        resp = requests.get(w.url + re.match(r"<([^>]+)>", resp.headers["Link"]).group(1), headers=auth)
        assert resp.status_code == 200, show(resp)
        names += resp.json()["repositories"]
    return names


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("principal", PRINCIPALS)
def test_matrix(world, principal, family):
    w = world
    before = snapshot(w)
    method, path, kw = FAMILIES[family].request(w, principal)
    extra = (f"repository:{w.repo}:pull",) if family == "mount" else ()
    out = attempt(w, creds_of(w, principal), method, path, extra_scopes=extra, **kw)
    status, code, who = expectation(principal, family)
    final = out.final

    # no token: always a Bearer challenge first (nothing here is public), Basic is not accepted
    assert out.first.status_code == 401, show(out.first)
    assert challenge_of(out.first)["realm"] == f"{w.url}/token"
    if method != "HEAD":
        assert code_of(out.first) == "UNAUTHORIZED"

    assert final.status_code == status, f"{principal} / {family}: {show(final)}"
    if who == "token endpoint":
        assert final.url.split("?")[0] == f"{w.url}/token"
        assert final.headers["WWW-Authenticate"].startswith("Basic ")
    else:
        assert final.url.split("?")[0] == w.url + path.split("?")[0], show(final)
    if code and (method != "HEAD" or who == "token endpoint"):
        assert code_of(final) == code, show(final)
    if code == "DENIED":
        # the token endpoint refused exactly this action: no challenge, asking again won't help
        assert "WWW-Authenticate" not in final.headers, show(final)
    if principal == "anonymous":
        # with an anonymous token as well as without one
        assert out.tokens and out.tokens[-1].status_code == 200
        payload = out.tokens[-1].json()["token"].split(".")[1]
        assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"] == ""

    if family == "catalog" and status == 200:
        names = _catalog_names(w, final)
        assert w.bob_repo not in names or principal == "other_tenant"
        assert (w.repo in names) == (principal == "reader_robot"), names
    if family == "mount" and principal == "other_tenant":
        assert "Docker-Upload-UUID" in final.headers and final.headers["Location"].startswith(
            f"/v2/{w.bob_repo}/blobs/uploads/"), show(final)

    after = snapshot(w)
    assert after == before, f"{principal} / {family} changed something"


# ---------------------------------------------------------------------------
# cross-tenant probes
# ---------------------------------------------------------------------------
@pytest.fixture
def bob(world) -> Client:
    return Client(world.url, auth=world.bob)


def test_digest_guessing(world, bob):
    """Knowing alice's digests gets bob nothing: under his own name they are unknown,
    under alice's he is denied."""
    w = world
    for method in ("GET", "HEAD"):
        r = bob.request(method, f"/v2/{w.bob_repo}/blobs/{w.layer}")
        assert r.status_code == 404, show(r)
        if method == "GET":
            assert code_of(r) == "BLOB_UNKNOWN"
        r = bob.request(method, f"/v2/{w.bob_repo}/manifests/{w.digest}")
        assert r.status_code == 404, show(r)
        if method == "GET":
            assert code_of(r) == "MANIFEST_UNKNOWN"
    for path in (f"/v2/{w.repo}/blobs/{w.layer}", f"/v2/{w.repo}/manifests/{w.digest}",
                 f"/v2/{w.repo}/manifests/v1", f"/v2/{w.repo}/blobs/{w.config}"):
        r = Client(w.url, auth=w.bob).request("GET", path)
        assert r.status_code == 403 and code_of(r) == "DENIED", show(r)
    # an index in bob's repository naming alice's manifest cannot pull it in
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [{"mediaType": OCI, "digest": w.digest, "size": 10}]}).encode()
    r = bob.push_manifest(w.bob_repo, "steal", index, media_type="application/vnd.oci.image.index.v1+json")
    assert r.status_code == 400 and code_of(r) in ("MANIFEST_BLOB_UNKNOWN", "MANIFEST_UNKNOWN"), show(r)
    # nor can a manifest referencing alice's blobs
    r = bob.push_manifest(w.bob_repo, "steal", w.new_manifest)
    assert r.status_code == 400 and code_of(r) == "MANIFEST_BLOB_UNKNOWN", show(r)
    assert bob.request("GET", f"/v2/{w.bob_repo}/tags/list").json()["tags"] == ["v1"]


def test_mount_across_tenants_is_a_normal_upload(world, bob):
    w = world
    before = snapshot(w)
    # even with pull on alice's repository asked for (and refused) in the token
    c = Client(w.url, auth=w.bob)
    tok = requests.get(f"{w.url}/token", auth=w.bob, params=[
        ("service", SERVICE), ("scope", f"repository:{w.bob_repo}:pull,push"), ("scope", f"repository:{w.repo}:pull")])
    token = tok.json()["token"]
    for query in (f"mount={w.layer}&from={w.repo}", f"mount={w.layer}", f"mount={w.config}&from={w.repo}"):
        r = requests.post(f"{w.url}/v2/{w.bob_repo}/blobs/uploads/?{query}", headers=bearer(token))
        assert r.status_code == 202, f"{query}: {show(r)}"
        assert "Docker-Upload-UUID" in r.headers
    for d in (w.layer, w.config):
        assert c.request("HEAD", f"/v2/{w.bob_repo}/blobs/{d}").status_code == 404
    # controls: mounting works where the source is readable ...
    r = requests.post(f"{w.url}/v2/{w.bob_repo}-copy/blobs/uploads/?mount={w.bob_layer}&from={w.bob_repo}",
                      headers=bearer(requests.get(f"{w.url}/token", auth=w.bob, params=[
                          ("service", SERVICE), ("scope", f"repository:{w.bob_repo}-copy:pull,push"),
                          ("scope", f"repository:{w.bob_repo}:pull")]).json()["token"]))
    assert r.status_code == 201, show(r)
    # ... and alice's blob is mountable for someone who may read it (alice herself)
    r = requests.post(f"{w.url}/v2/{w.alice[0]}/copy/blobs/uploads/?mount={w.layer}&from={w.repo}",
                      headers=bearer(requests.get(f"{w.url}/token", auth=w.alice, params=[
                          ("service", SERVICE), ("scope", f"repository:{w.alice[0]}/copy:pull,push"),
                          ("scope", f"repository:{w.repo}:pull")]).json()["token"]))
    assert r.status_code == 201, show(r)
    # bob mounting into alice's namespace: denied outright
    r = Client(w.url, auth=w.bob).request("POST", f"/v2/{w.repo}/blobs/uploads/?mount={w.bob_layer}&from={w.bob_repo}")
    assert r.status_code == 403 and code_of(r) == "DENIED"
    assert snapshot(w) == before


def test_upload_session_of_another_tenant(world, bob):
    """Alice's upload id used under bob's repository is unknown; under hers, denied."""
    w = world
    before = snapshot(w)
    for method, kw in (("GET", {}), ("PATCH", {"data": b"evil", "headers": OCTET}),
                       ("PUT", {"params": {"digest": w.session_final_digest}, "data": w.session_tail}),
                       ("DELETE", {})):
        r = bob.request(method, f"/v2/{w.bob_repo}/blobs/uploads/{w.session}", **kw)
        assert r.status_code == 404 and code_of(r) == "BLOB_UPLOAD_UNKNOWN", f"{method}: {show(r)}"
        r = Client(w.url, auth=w.bob).request(method, f"/v2/{w.repo}/blobs/uploads/{w.session}", **kw)
        assert r.status_code == 403 and code_of(r) == "DENIED", f"{method}: {show(r)}"
    assert snapshot(w) == before


def test_catalog_across_tenants(world):
    w = world
    alices = {w.repo, f"{w.alice[0]}/robot-made"}
    for creds, visible, hidden in ((w.bob, {w.bob_repo}, alices), (w.alice, alices, {w.bob_repo}),
                                   (w.reader, alices, {w.bob_repo})):
        tok = requests.get(f"{w.url}/token", auth=creds, params={"service": SERVICE,
                                                                 "scope": "registry:catalog:*"})
        r = requests.get(f"{w.url}/v2/_catalog?n=1000", headers=bearer(tok.json()["token"]))
        assert r.status_code == 200, show(r)
        names = set(_catalog_names(w, r))
        assert visible <= names and not hidden & names, (creds[0], sorted(names))


def test_referrers_across_tenants(world, bob):
    w = world
    r = bob.request("GET", f"/v2/{w.bob_repo}/referrers/{w.digest}")
    assert r.status_code == 200 and r.json()["manifests"] == [], show(r)
    r = Client(w.url, auth=w.bob).request("GET", f"/v2/{w.repo}/referrers/{w.digest}")
    assert r.status_code == 403 and code_of(r) == "DENIED"
    r = Client(w.url, auth=w.bob).request("GET", f"/v2/{w.repo}/referrers/{w.digest}",
                                          params={"artifactType": "application/vnd.example.signature"})
    assert r.status_code == 403


def test_denials_do_not_reveal_existence(world):
    """Bob is refused the same way for alice's repository and for a name in her
    namespace that does not exist."""
    w = world
    for suffix in ("manifests/v1", f"manifests/{w.digest}", f"blobs/{w.layer}", "tags/list",
                   f"referrers/{w.digest}"):
        a = Client(w.url, auth=w.bob).request("GET", f"/v2/{w.repo}/{suffix}")
        b = Client(w.url, auth=w.bob).request("GET", f"/v2/{w.missing}/{suffix}")
        assert a.status_code == b.status_code == 403, (show(a), show(b))
        da, db = a.json(), b.json()
        assert da["errors"][0]["code"] == db["errors"][0]["code"] == "DENIED"
        assert json.dumps(da).replace(w.repo, "NAME") == json.dumps(db).replace(w.missing, "NAME")
        assert set(a.headers) == set(b.headers)
