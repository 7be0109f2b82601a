"""Token auth over real HTTP: KMS signing keys, tokens renewed mid-push, and the admin
CLI (`python -m client`) as a subprocess (docs/auth.md).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Optional

import pytest
import requests

from support import Client, TokenAuth, sha256

from auth_support import (  # noqa: F401 - fixtures are imported for pytest to find by name
    admin, b64d, bearer, challenge_of, claims_of, get_token, ISSUER, ROOT, SERVICE, show,
    token_for, uid, _forget_failed_logins)


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
