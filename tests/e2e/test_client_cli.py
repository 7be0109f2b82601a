"""End-to-end: this project's client CLI (`python -m client`) against real registries.

The registry runs as `python -m local` subprocesses: the session one (no limits) and one
under Lambda's limits (REGISTRY_LAMBDA_LIMITS=1: bodies over 6 MB refused), where big
blobs can only travel by the direct-to-S3 extension. Real skopeo and podman check what
the CLI pushed and produce what it pushes (docker-archive as `docker save` writes it).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from e2e.clients import REPO_ROOT, Podman, Skopeo, build_oci_layout, run
from e2e.direct_registry import ADMIN
from e2e.gateway_support import limited  # noqa: F401 (the module's registry under Lambda's limits)
from e2e.helpers import require_binaries, server_log_on_failure

MiB = 1024 * 1024


class CLI:
    """`python -m client` with its own docker config and resume cache."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {"DOCKER_CONFIG": str(home / "docker"), "XDG_CACHE_HOME": str(home / "cache"),
                    "XDG_RUNTIME_DIR": str(home / "run"), "XDG_CONFIG_HOME": str(home / "config"),
                    "REGISTRY_AUTH_FILE": None, "REGISTRY_URL": None, "REGISTRY_USER": None,
                    "REGISTRY_PASSWORD": None, "PYTHONPATH": str(REPO_ROOT)}

    def cmd(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "client", *args]

    def __call__(self, *args: str, input: bytes | None = None, check: bool = True, timeout: float = 600):
        return run(self.cmd(*args), env=self.env, input=input, check=check, timeout=timeout, cwd=REPO_ROOT)

    def login(self, registry, user: str = ADMIN[0], password: str = ADMIN[1]):
        return self("login", registry.url, "--username", user, "--password-stdin", input=password.encode())

    def popen(self, *args: str) -> subprocess.Popen:
        env = {**os.environ, **{k: v for k, v in self.env.items() if v is not None}}
        for k, v in self.env.items():
            if v is None:
                env.pop(k, None)
        return subprocess.Popen(self.cmd(*args), env=env, cwd=str(REPO_ROOT), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.fixture
def cli(tmp: Path) -> CLI:
    return CLI(tmp / "cli")


def _creds_of(registry) -> tuple[str, str]:
    return (registry.username, registry.password) if hasattr(registry, "username") else ADMIN


# ---------------------------------------------------------------------------------------
def test_login_stores_like_docker_login_and_later_commands_use_it(local_registry, cli, tmp, uniq):
    user, password = _creds_of(local_registry)
    bad = cli("login", local_registry.url, "--username", user, "--password-stdin", input=b"wrong", check=False)
    assert bad.returncode == 1 and "401" in bad.stderr, bad.stderr
    assert not (tmp / "cli" / "docker" / "config.json").exists(), "refused credentials were stored"
    out = cli("login", local_registry.url, "--username", user, "--password-stdin", input=password.encode())
    assert "Login Succeeded" in out.stdout
    config_file = tmp / "cli" / "docker" / "config.json"
    doc = json.loads(config_file.read_text())
    assert doc["auths"][local_registry.host] == {
        "auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    assert config_file.stat().st_mode & 0o077 == 0, "config.json readable by others"
    # no credentials on the command line from now on, admin commands included
    assert f"Login succeeded: {user}" in cli("--registry", local_registry.url, "login").stdout
    art = tmp / "hello.txt"
    art.write_text("hello from the CLI")
    ref = f"{local_registry.host}/e2e/{uniq}/art:v1"
    cli("push", str(art), ref, "--artifact-type", "application/vnd.e2e.test")
    cli("pull", ref, str(tmp / "out"))
    assert (tmp / "out" / "hello.txt").read_text() == "hello from the CLI"
    # skopeo sees the same credentials file as docker's: DOCKER_CONFIG is honoured by both
    skopeo = Skopeo(tmp / "skopeo")
    raw = skopeo.run("inspect", "--tls-verify=false", "--raw", "--authfile", str(config_file), f"docker://{ref}")
    assert json.loads(raw.stdout)["artifactType"] == "application/vnd.e2e.test"
    # podman-style auth.json (REGISTRY_AUTH_FILE) is read too
    cli("logout", local_registry.url)
    assert local_registry.host not in json.loads(config_file.read_text())["auths"]
    denied = cli("pull", ref, str(tmp / "out2"), check=False)
    assert denied.returncode == 1 and "401" in denied.stderr, denied.stderr
    auth_json = tmp / "auth.json"
    auth_json.write_text(json.dumps({"auths": {local_registry.host: {
        "auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}))
    cli.env["REGISTRY_AUTH_FILE"] = str(auth_json)
    cli("pull", ref, str(tmp / "out3"))
    assert (tmp / "out3" / "hello.txt").read_text() == "hello from the CLI"


def test_login_through_a_credential_helper(local_registry, cli, tmp):
    """With `credsStore` set, the secret goes to docker-credential-<name>, not config.json."""
    user, password = _creds_of(local_registry)
    bindir, store = tmp / "bin", tmp / "helper-store.json"
    bindir.mkdir()
    helper = bindir / "docker-credential-e2efile"
    # a real helper speaking the docker-credential protocol, keeping secrets in a file
    helper.write_text(f"""#!{sys.executable}
import json, sys
path = {str(store)!r}
try:
    db = json.load(open(path))
except OSError:
    db = {{}}
action, data = sys.argv[1], sys.stdin.read()
if action == "store":
    doc = json.loads(data); db[doc["ServerURL"]] = doc; json.dump(db, open(path, "w"))
elif action == "get":
    if data.strip() not in db:
        print("credentials not found in native keychain"); sys.exit(1)
    print(json.dumps(db[data.strip()]))
elif action == "erase":
    db.pop(data.strip(), None); json.dump(db, open(path, "w"))
""")
    helper.chmod(0o755)
    (tmp / "cli" / "docker").mkdir(parents=True)
    (tmp / "cli" / "docker" / "config.json").write_text(json.dumps({"credsStore": "e2efile"}))
    cli.env["PATH"] = f"{bindir}:{os.environ['PATH']}"
    cli("login", local_registry.url, "--username", user, "--password-stdin", input=password.encode())
    doc = json.loads((tmp / "cli" / "docker" / "config.json").read_text())
    assert doc["auths"][local_registry.host] == {} and doc["credsStore"] == "e2efile"
    assert json.loads(store.read_text())[local_registry.host]["Secret"] == password
    art = tmp / "a.bin"
    art.write_bytes(os.urandom(1000))
    cli("push", str(art), f"{local_registry.host}/{user}/helper-art:v1", "--artifact-type", "application/x.e2e")


def test_oci_layout_push_pull_round_trip_checked_by_skopeo(local_registry, cli, tmp, uniq):
    require_binaries("skopeo")
    cli.login(local_registry, *_creds_of(local_registry))
    layout = build_oci_layout(tmp / "src", layers=3, seed=41)
    ref = f"{local_registry.host}/e2e/{uniq}/app:v1"
    with server_log_on_failure(local_registry):
        out = cli("--json", "push", layout["ref"], ref)
        done = events(out.stdout)
        assert done[-1] == {"event": "pushed", "reference": ref, "digest": layout["manifest_digest"]}
        assert {e["digest"] for e in done if e["event"] == "blob"} == set(layout["blobs"]) - {
            layout["manifest_digest"]}
        skopeo = Skopeo(tmp / "skopeo", creds=local_registry.creds)
        assert skopeo.inspect(ref, raw=True) == layout["manifest"]
        cli("pull", ref, f"oci:{tmp / 'pulled'}:v1")
        index = json.loads((tmp / "pulled" / "index.json").read_text())
        assert index["manifests"][0]["digest"] == layout["manifest_digest"]
        assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "v1"
        for digest, data in layout["blobs"].items():
            assert (tmp / "pulled" / "blobs" / "sha256" / digest.split(":")[1]).read_bytes() == data
        # a second push uploads nothing: every blob is already there
        again = events(cli("--json", "push", layout["ref"], ref).stdout)
        assert {e["how"] for e in again if e["event"] == "blob"} == {"exists"}


def test_docker_archive_push_then_podman_pull(limited, cli, tmp, uniq):
    """`docker save` format (made by skopeo) pushed by the CLI under Lambda limits; podman pulls it."""
    require_binaries("skopeo", "podman")
    big = build_oci_layout(tmp / "src", layers=2, seed=5)
    archive = tmp / "image.tar"
    Skopeo(tmp / "skopeo").copy(big["ref"], f"docker-archive:{archive}:e2e/app:v1")
    cli.login(limited)
    ref = f"{limited.host}/admin/{uniq}:v1"
    with server_log_on_failure(limited):
        cli("push", f"docker-archive:{archive}", ref)
        podman = Podman(tmp / "podman", creds=limited.creds)
        podman.pull(ref)
        info = podman.inspect(ref)
        assert info["RootFS"]["Layers"] == big["diff_ids"], info["RootFS"]
        saved = tmp / "podman-saved.tar"
        podman.run("save", "--format", "docker-archive", "-o", str(saved), ref)
        assert saved.stat().st_size > 0
        # and back: pulled as a docker-archive by the CLI, loadable by podman
        cli("pull", ref, f"docker-archive:{tmp / 'pulled.tar'}")
        podman2 = Podman(tmp / "podman2")
        loaded = podman2.run("load", "-i", str(tmp / "pulled.tar"))
        assert "Loaded image" in loaded.stdout + loaded.stderr


def _big_file(path: Path, size: int, seed: int = 1) -> str:
    import random

    rng, h = random.Random(seed), hashlib.sha256()
    with open(path, "wb") as fh:
        left = size
        while left:
            block = rng.randbytes(min(left, 8 * MiB))
            fh.write(block)
            h.update(block)
            left -= len(block)
    return "sha256:" + h.hexdigest()


def test_large_artifact_direct_under_lambda_limits(limited, cli, tmp, uniq):
    """A 20 MiB file under REGISTRY_LAMBDA_LIMITS=1 (one presigned PUT): only the direct path can
    carry it. The multipart path is the resume test's."""
    src = tmp / "big.bin"
    digest = _big_file(src, 20 * MiB + 12345)
    cli.login(limited)
    ref = f"{limited.host}/admin/{uniq}:v1"
    with server_log_on_failure(limited):
        out = events(cli("--json", "push", str(src), ref, "--artifact-type", "application/x.e2e.big").stdout)
        blob = [e for e in out if e["event"] == "blob" and e["digest"] == digest]
        assert blob and blob[0]["how"] == "direct", out[-5:]
        cli("pull", ref, str(tmp / "out"))
        assert _sha_file(tmp / "out" / "big.bin") == digest
        # refused without the direct path: the standard upload hits the cap
        refused = cli("push", str(src), f"{limited.host}/admin/{uniq}-nodirect:v1", "--no-direct",
                      "--chunk-size", "8", "--artifact-type", "application/x.e2e.big", check=False)
        assert refused.returncode == 1 and "413" in refused.stderr, refused.stderr[-2000:]


def _sha_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(8 * MiB), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


# The interruption is a SIGKILL sent when the first progress event past a threshold is read.
# The killed push runs under `--limit-rate`, so the rest of its upload takes seconds after that
# event (8.5 s and 10 s below): the kill always lands mid-upload, however idle the machine.
def test_interrupted_push_resumes(limited, cli, tmp, uniq):
    """Kill the CLI mid-upload; the next push sends only the parts S3 does not hold yet."""
    src = tmp / "resume.bin"
    size = 100 * MiB + 5  # 7 parts of 16 MiB: over the single-PUT threshold (64 MiB)
    digest = _big_file(src, size, seed=9)
    cli.login(limited)
    ref = f"{limited.host}/admin/{uniq}:v1"
    with server_log_on_failure(limited):
        proc = cli.popen("--json", "push", "-j", "1", "--limit-rate", "8", str(src), ref,
                         "--artifact-type", "application/x.e2e")
        seen = 0
        for line in proc.stdout:
            ev = json.loads(line)
            if ev["event"] == "progress" and ev["digest"] == digest:
                seen = ev["bytes"]
                if seen >= 32 * MiB:
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
        proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr.read())
        assert 0 < seen < size
        out = events(cli("--json", "push", str(src), ref, "--artifact-type", "application/x.e2e").stdout)
        resumed = [e for e in out if e["event"] == "resumed"]
        assert resumed and resumed[0]["digest"] == digest and resumed[0]["bytes"] >= 16 * MiB, out[:5]
        assert [e["how"] for e in out if e["event"] == "blob" and e["digest"] == digest] == ["direct"]
        cli("pull", ref, str(tmp / "out"))
        assert _sha_file(tmp / "out" / "resume.bin") == digest


def test_two_clients_push_the_same_blob_at_once(limited, cli, tmp, uniq):
    src = tmp / "same.bin"
    digest = _big_file(src, 40 * MiB, seed=3)
    cli.login(limited)
    results: dict[int, subprocess.CompletedProcess] = {}

    def push(i: int) -> None:
        results[i] = cli("--json", "push", str(src), f"{limited.host}/admin/{uniq}:c{i}",
                         "--artifact-type", "application/x.e2e", check=False)

    with server_log_on_failure(limited):
        threads = [threading.Thread(target=push, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        for i, proc in results.items():
            assert proc.returncode == 0, f"client {i}:\n{proc.stderr[-3000:]}"
        for i in range(2):
            cli("pull", f"{limited.host}/admin/{uniq}:c{i}", str(tmp / f"out{i}"))
            assert _sha_file(tmp / f"out{i}" / "same.bin") == digest


def test_copy_between_registries_and_progress_lines(local_registry, limited, cli, tmp, uniq):
    require_binaries("skopeo")
    user, password = _creds_of(local_registry)
    cli.login(local_registry, user, password)
    cli.login(limited)
    layout = build_oci_layout(tmp / "src", layers=2, seed=77)
    src_ref = f"{local_registry.host}/e2e/{uniq}/app:v1"
    dst_ref = f"{limited.host}/admin/{uniq}-copy:v1"
    cli("push", layout["ref"], src_ref, "-q")
    out = events(cli("--json", "copy", src_ref, dst_ref).stdout)
    assert out[-1]["event"] == "copied" and out[-1]["digest"] == layout["manifest_digest"]
    skopeo = Skopeo(tmp / "skopeo", creds=limited.creds)
    assert skopeo.inspect(dst_ref, raw=True) == layout["manifest"]
    # within one registry, copy mounts instead of moving bytes
    again = events(cli("--json", "copy", dst_ref, f"{limited.host}/admin/{uniq}-mounted:v2").stdout)
    assert {e["how"] for e in again if e["event"] == "blob"} == {"mounted"}


def test_bad_input_is_a_clear_error(local_registry, cli, tmp):
    cases = [
        (["push", str(tmp / "missing.bin"), f"{local_registry.host}/a/b:v1"], "no such file"),
        (["push", "oci:" + str(tmp / "nolayout"), f"{local_registry.host}/a/b:v1"], "not an OCI image layout"),
        (["push", str(tmp), "NOT A REF"], "registry host"),
        (["pull", f"{local_registry.host}/a/b:bad tag", str(tmp / "x")], "not a valid"),
    ]
    for args, text in cases:
        proc = cli(*args, check=False)
        assert proc.returncode == 1 and text in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_any_registry_distribution_with_basic_auth(local_registry, cli, tmp, uniq):
    """CNCF distribution 2.8 (htpasswd Basic auth, no direct uploads, absolute Locations with
    `_state`): login, chunked push, pull, and copy from this registry."""
    require_binaries("docker-registry", "skopeo")
    from e2e.clients import ReferenceRegistry

    with ReferenceRegistry(tmp / "distribution", users={"dist": "dist-password"}) as dist:
        cli("login", dist.url, "--username", "dist", "--password-stdin", input=b"dist-password")
        bad = cli("login", dist.url, "--username", "dist", "--password-stdin", input=b"nope", check=False)
        assert bad.returncode == 1 and "401" in bad.stderr
        big = tmp / "big.bin"
        digest = _big_file(big, 12 * MiB + 7, seed=21)
        ref = f"{dist.host}/e2e/{uniq}:v1"
        out = events(cli("--json", "push", str(big), ref, "--artifact-type", "application/x.e2e").stdout)
        assert [e["how"] for e in out if e["event"] == "blob" and e["digest"] == digest] == ["chunked"]
        cli("pull", ref, str(tmp / "out"))
        assert _sha_file(tmp / "out" / "big.bin") == digest
        # an image from this registry copied to distribution, byte-identical manifest
        user, password = _creds_of(local_registry)
        cli.login(local_registry, user, password)
        layout = build_oci_layout(tmp / "src", layers=2, seed=31)
        cli("push", layout["ref"], f"{local_registry.host}/e2e/{uniq}/img:v1")
        cli("copy", f"{local_registry.host}/e2e/{uniq}/img:v1", f"{dist.host}/e2e/{uniq}/img:v1")
        skopeo = Skopeo(tmp / "skopeo", creds="dist:dist-password")
        assert skopeo.inspect(f"{dist.host}/e2e/{uniq}/img:v1", raw=True) == layout["manifest"]


def test_interrupted_chunked_push_resumes_on_distribution(cli, tmp, uniq):
    """Without the direct extension the resume goes by the session's Range (distribution 2.8)."""
    require_binaries("docker-registry")
    from e2e.clients import ReferenceRegistry

    src = tmp / "chunked.bin"
    size = 48 * MiB + 3
    digest = _big_file(src, size, seed=17)
    with ReferenceRegistry(tmp / "distribution") as dist:
        ref = f"{dist.host}/e2e/{uniq}:v1"
        args = ("--json", "push", "--chunk-size", "1", str(src), ref, "--artifact-type", "application/x.e2e")
        proc = cli.popen(*args[:2], "--limit-rate", "4", *args[2:])
        seen = 0
        for line in proc.stdout:
            ev = json.loads(line)
            if ev["event"] == "progress" and ev["digest"] == digest and ev["bytes"] >= 8 * MiB:
                seen = ev["bytes"]
                os.killpg(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL and 0 < seen < size
        out = events(cli(*args).stdout)
        resumed = [e for e in out if e["event"] == "resumed"]
        assert resumed and resumed[0]["bytes"] >= 8 * MiB, out[:5]
        assert [e["how"] for e in out if e["event"] == "blob" and e["digest"] == digest] == ["chunked"]
        cli("pull", ref, str(tmp / "out"))
        assert _sha_file(tmp / "out" / "chunked.bin") == digest
