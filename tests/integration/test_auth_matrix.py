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
upload session of alice's repository are exactly as before (auth_matrix_support.py).
Probes across tenants: test_auth_cross_tenant.py.
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Callable, Optional

import pytest
import requests

from auth_matrix_support import (  # noqa: F401 - fixtures are imported for pytest to find by name
    _catalog_names, attempt, challenge_of, code_of, OCI, OCTET, show, snapshot, world, World,
    _forget_failed_logins)


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
