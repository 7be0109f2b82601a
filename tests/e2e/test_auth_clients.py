"""End-to-end auth with real clients against the real local registry (`python -m local`).

Accounts are made with this project's admin CLI (`python -m client`, run as a
subprocess, as an operator would); images then move with skopeo, podman,
containerd's ctr and the oras Python SDK, each authenticating through the
Docker token flow with its own credential handling.
"""
from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Optional

import pytest


from e2e.clients import (
    REPO_ROOT,
    Containerd,
    Podman,
    Skopeo,
    build_oci_layout,
    run,
    sha256,
)
from e2e.helpers import require_binaries, server_log_on_failure


def refused_text(stderr: str) -> bool:
    """How skopeo/podman word a 403 (their wording varies by code path)."""
    low = stderr.lower()
    return any(w in low for w in ("denied", "forbidden", "403"))


def cli(registry, *args: str, user: Optional[str] = None, password: Optional[str] = None,
        check: bool = True):
    """`python -m client --registry URL --user U <args>` with the password in REGISTRY_PASSWORD."""
    env = {"REGISTRY_PASSWORD": password if password is not None else registry.password,
           "PYTHONPATH": str(REPO_ROOT), "REGISTRY_URL": None, "REGISTRY_USER": None}
    return run([sys.executable, "-m", "client", "--registry", registry.url, "--user", user or registry.username,
                *args], env=env, cwd=REPO_ROOT, timeout=60, check=check)


def new_user(registry) -> tuple[str, str]:
    name, password = f"e2e-{uuid.uuid4().hex[:10]}", f"pw-{uuid.uuid4().hex}"
    cli(registry, "user", "create", name, "--password", password)
    return name, password


def new_robot(registry, ns: str, name: str = "ci", role: str = "write") -> tuple[str, str]:
    """A robot made with the CLI (its secret comes from the CLI's output) with `role` on `ns`."""
    doc = json.loads(cli(registry, "--json", "robot", "create", ns, name).stdout)
    cli(registry, "grant", doc["username"], role, "--namespace", ns)
    return doc["username"], doc["secret"]


@pytest.fixture
def org(local_registry) -> str:
    ns = f"e2e-org-{uuid.uuid4().hex[:8]}"
    cli(local_registry, "namespace", "create", ns)
    return ns


# --------------------------------------------------------------------------
# skopeo
# --------------------------------------------------------------------------
def test_robot_from_cli_pushes_with_skopeo(local_registry, tmp, org):
    require_binaries("skopeo")
    robot, secret = new_robot(local_registry, org)
    assert robot == f"{org}+ci"
    repo = f"{local_registry.host}/{org}/app"
    layout = build_oci_layout(tmp / "src", layers=2, seed=21)
    skopeo = Skopeo(tmp / "skopeo")
    with server_log_on_failure(local_registry):
        skopeo.run("copy", "--dest-tls-verify=false", "--dest-creds", f"{robot}:{secret}",
                   layout["ref"], f"docker://{repo}:v1")
        raw = skopeo.run("inspect", "--tls-verify=false", "--creds", f"{robot}:{secret}", "--raw",
                         f"docker://{repo}:v1", text=False).stdout
        assert raw == layout["manifest"]
        # the robot's role stops at its namespace
        elsewhere = skopeo.run("copy", "--dest-tls-verify=false", "--dest-creds", f"{robot}:{secret}",
                               layout["ref"], f"docker://{local_registry.host}/{org}-other/app:v1", check=False)
        assert elsewhere.returncode != 0
        assert refused_text(elsewhere.stderr), elsewhere.stderr
        # write is not delete
        gone = skopeo.run("delete", "--tls-verify=false", "--creds", f"{robot}:{secret}", f"docker://{repo}:v1",
                          check=False)
        assert gone.returncode != 0 and refused_text(gone.stderr), gone.stderr
        # after rotation the old secret no longer logs in, the new one does
        new_secret = json.loads(cli(local_registry, "--json", "robot", "rotate", robot).stdout)["secret"]
        old = skopeo.run("inspect", "--tls-verify=false", "--creds", f"{robot}:{secret}", "--raw",
                         f"docker://{repo}:v1", check=False)
        assert old.returncode != 0 and "unauthorized" in old.stderr.lower(), old.stderr
        assert skopeo.run("inspect", "--tls-verify=false", "--creds", f"{robot}:{new_secret}", "--raw",
                          f"docker://{repo}:v1", text=False).stdout == layout["manifest"]
        # revoked: refused
        cli(local_registry, "robot", "revoke", robot)
        revoked = skopeo.run("inspect", "--tls-verify=false", "--creds", f"{robot}:{new_secret}", "--raw",
                             f"docker://{repo}:v1", check=False)
        assert revoked.returncode != 0 and "unauthorized" in revoked.stderr.lower(), revoked.stderr


def test_anonymous_skopeo_private_refused_public_allowed(local_registry, tmp, org):
    require_binaries("skopeo")
    repo = f"{local_registry.host}/{org}/pub"
    layout = build_oci_layout(tmp / "src", layers=1, seed=22)
    with server_log_on_failure(local_registry):
        Skopeo(tmp / "admin", creds=local_registry.creds).copy(layout["ref"], f"{repo}:v1")
        anon = Skopeo(tmp / "anon")
        refused = anon.run("inspect", "--tls-verify=false", "--raw", f"docker://{repo}:v1", check=False)
        assert refused.returncode != 0 and "unauthorized" in refused.stderr.lower(), refused.stderr
        refused = anon.run("copy", "--src-tls-verify=false", f"docker://{repo}:v1", f"oci:{tmp / 'x'}:v1",
                           check=False)
        assert refused.returncode != 0

        cli(local_registry, "public", f"{org}/pub")
        assert anon.run("inspect", "--tls-verify=false", "--raw", f"docker://{repo}:v1",
                        text=False).stdout == layout["manifest"]
        out = tmp / "pulled"
        anon.run("copy", "--src-tls-verify=false", f"docker://{repo}:v1", f"oci:{out}:v1")
        index = json.loads((out / "index.json").read_text())
        assert index["manifests"][0]["digest"] == layout["manifest_digest"]
        for digest in layout["layer_digests"]:
            assert (out / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes() == layout["blobs"][digest]
        assert anon.list_tags(repo) == ["v1"]
        # public is for pulling only
        push = anon.run("copy", "--dest-tls-verify=false", layout["ref"], f"docker://{repo}:v2", check=False)
        assert push.returncode != 0 and "unauthorized" in push.stderr.lower(), push.stderr
        cli(local_registry, "private", f"{org}/pub")
        again = anon.run("inspect", "--tls-verify=false", "--raw", f"docker://{repo}:v1", check=False)
        assert again.returncode != 0 and "unauthorized" in again.stderr.lower(), again.stderr


def test_wrong_password_fails_fast(local_registry, tmp, org):
    require_binaries("skopeo")
    user, password = new_user(local_registry)
    repo = f"{local_registry.host}/{user}/app"
    layout = build_oci_layout(tmp / "src", layers=1, seed=23)
    skopeo = Skopeo(tmp / "skopeo")
    with server_log_on_failure(local_registry):
        # (timeout=60: a client that retried a refused login for long would fail the run)
        bad = skopeo.run("copy", "--dest-tls-verify=false", "--dest-creds", f"{user}:wrong-password",
                         layout["ref"], f"docker://{repo}:v1", check=False, timeout=60)
        assert bad.returncode != 0
        assert "unauthorized" in bad.stderr.lower() or "invalid username or password" in bad.stderr.lower(), bad.stderr
        bad = skopeo.run("inspect", "--tls-verify=false", "--creds", f"{user}:wrong-password",
                         f"docker://{repo}:v1", check=False, timeout=60)
        assert bad.returncode != 0
        # the right password works (one failure is far from the throttle)
        skopeo.run("copy", "--dest-tls-verify=false", "--dest-creds", f"{user}:{password}",
                   layout["ref"], f"docker://{repo}:v1")
        bad_cli = cli(local_registry, "login", user=user, password="wrong-password", check=False)
        assert bad_cli.returncode == 1 and "UNAUTHORIZED" in bad_cli.stderr


# --------------------------------------------------------------------------
# podman
# --------------------------------------------------------------------------
def test_podman_login_push_pull(local_registry, tmp):
    require_binaries("podman")
    user, password = new_user(local_registry)
    host = local_registry.host
    layout = build_oci_layout(tmp / "src", layers=2, seed=24)
    podman = Podman(tmp / "podman")  # no --creds: everything goes through `podman login`
    with server_log_on_failure(local_registry):
        bad = run([*podman._global(), "login", "--tls-verify=false", "--username", user, "--password-stdin", host],
                  env=podman.env, input=b"wrong-password\n", check=False, timeout=60)
        assert bad.returncode != 0, bad.stdout
        login = run([*podman._global(), "login", "--tls-verify=false", "--username", user, "--password-stdin",
                     host], env=podman.env, input=f"{password}\n".encode(), timeout=60)
        assert "Login Succeeded" in login.stdout, login.stdout + login.stderr
        auth = json.loads(Path(podman.env["REGISTRY_AUTH_FILE"]).read_text())
        assert host in auth["auths"]

        podman.run("pull", "--signature-policy", str(podman.policy), layout["ref"])
        local = podman.images()
        image = next(img for img in local if img["Id"] == layout["config_digest"].split(":", 1)[1])
        target = f"{host}/{user}/app:v1"
        podman.run("push", "--tls-verify=false", "--signature-policy", str(podman.policy), image["Id"],
                   f"docker://{target}")
        # pulled back by a fresh podman that logs in on its own
        other = Podman(tmp / "podman2")
        run([*other._global(), "login", "--tls-verify=false", "--username", user, "--password-stdin", host],
            env=other.env, input=f"{password}\n".encode(), timeout=60)
        image_id = other.pull(target)
        assert image_id == layout["config_digest"].split(":", 1)[1]
        assert other.inspect(target)["RootFS"]["Layers"] == layout["diff_ids"]
        # logged out: the private repository is refused
        run([*other._global(), "logout", host], env=other.env, timeout=60)
        other.rmi(target)
        refused = other.run("pull", "--tls-verify=false", "--signature-policy", str(other.policy), target,
                            check=False)
        assert refused.returncode != 0 and "unauthorized" in refused.stderr.lower(), refused.stderr


# --------------------------------------------------------------------------
# containerd
# --------------------------------------------------------------------------
def test_ctr_pull_with_user(local_registry, tmp, org):
    require_binaries("skopeo", "containerd", "ctr")
    reader, reader_pw = new_user(local_registry)
    cli(local_registry, "grant", reader, "read", "--repository", f"{org}/app")
    ref = f"{local_registry.host}/{org}/app:v1"
    layout = build_oci_layout(tmp / "src", layers=2, seed=25)
    with server_log_on_failure(local_registry):
        Skopeo(tmp / "skopeo", creds=local_registry.creds).copy(layout["ref"], ref)
        admin = Skopeo(tmp / "admin", creds=local_registry.creds)
        with Containerd(tmp / "ctrd") as ctrd:
            anonymous = ctrd.ctr("images", "pull", "--plain-http", ref, check=False)
            assert anonymous.returncode != 0
            assert "401" in anonymous.stderr or "unauthorized" in anonymous.stderr.lower(), anonymous.stderr
            ctrd.pull(ref, plain_http=True, user=f"{reader}:{reader_pw}")
            listed = {img["ref"]: img for img in ctrd.images_list()}
            assert listed[ref]["digest"] == layout["manifest_digest"]
            for digest in layout["layer_digests"]:
                assert ctrd.ctr("content", "get", digest, text=False).stdout == layout["blobs"][digest]
            # read is not write: ctr cannot push with those credentials
            pushed = ctrd.ctr("images", "push", "--plain-http", "--user", f"{reader}:{reader_pw}",
                              f"{local_registry.host}/{org}/app:v2", ref, check=False)
            assert pushed.returncode != 0, pushed.stdout
            assert admin.list_tags(f"{local_registry.host}/{org}/app") == ["v1"]  # nothing was pushed
            # a wrong password is refused
            wrong = ctrd.ctr("images", "pull", "--plain-http", "--user", f"{reader}:wrong-password",
                             ref.replace(":v1", "@" + layout["manifest_digest"]), check=False)
            assert wrong.returncode != 0 and "401" in wrong.stderr, wrong.stderr


# --------------------------------------------------------------------------
# oras (Python SDK)
# --------------------------------------------------------------------------
def test_oras_sdk_login_push_pull(local_registry, tmp, org):
    oras_client = pytest.importorskip("oras.client", reason="oras Python SDK not installed in the venv")
    robot, secret = new_robot(local_registry, org, name="oras")
    host = local_registry.host
    target = f"{host}/{org}/artifact:v1"
    src = tmp / "upload" / "notes.txt"
    src.parent.mkdir()
    content = os.urandom(2048)
    src.write_bytes(content)
    with server_log_on_failure(local_registry):
        client = oras_client.OrasClient(hostname=host, insecure=True)
        client.login(username=robot, password=secret, hostname=host, tls_verify=False,
                     config_path=str(tmp / "oras-config.json"))
        resp = client.push(target=target, files=[str(src)], disable_path_validation=True, quiet=True)
        assert resp.status_code == 201, f"{resp.status_code}: {resp.text}"
        out = tmp / "download"
        out.mkdir()
        files = client.pull(target=target, outdir=str(out))
        assert [Path(f).read_bytes() for f in files] == [content]
        assert client.get_tags(f"{host}/{org}/artifact") == ["v1"]
        # another robot without a role, logged in with the SDK, may not pull it
        doc = json.loads(cli(local_registry, "--json", "robot", "create", org, "norole").stdout)
        stranger = oras_client.OrasClient(hostname=host, insecure=True)
        stranger.login(username=doc["username"], password=doc["secret"], hostname=host, tls_verify=False,
                       config_path=str(tmp / "oras-config-2.json"))
        with pytest.raises(Exception):
            stranger.pull(target=target, outdir=str(tmp / "nope"))
        # and a wrong secret fails. oras-py retries any failed request five times with
        # exponential back-off (about two minutes), so ask once, without its retry wrapper.
        wrong = oras_client.OrasClient(hostname=host, insecure=True)
        wrong.login(username=robot, password="wrong-secret", hostname=host, tls_verify=False,
                    config_path=str(tmp / "oras-config-3.json"))
        once = type(wrong).do_request.__wrapped__
        with pytest.raises(ValueError, match="authentication"):
            once(wrong, f"http://{host}/v2/{org}/artifact/manifests/v1", "GET")
        assert sha256(content) in json.dumps(client.get_manifest(target))
