"""End-to-end: the default (strict) local registry keeps what it acknowledged.

`python -m local` on its own data directory: skopeo pushes an image and Helm a
chart; the registry is stopped (Ctrl-C: SIGINT), started again, more is pushed, then
every process (server, S3, DynamoDB) is killed with SIGKILL at once and the
registry started again: everything pulls byte-identical.
"""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from e2e.clients import REPO_ROOT, Skopeo, build_oci_layout, find_free_port
from e2e.conftest import ADMIN_PASSWORD, ADMIN_USER, READY_LINE, _server_env
from e2e.helpers import ignore_sigint, require_binaries
from e2e.test_clients import assert_layout_round_trip
from e2e.test_helm import Helm, make_chart, pushed_digest

STARTUP_TIMEOUT = 120.0


class Server:
    """`python -m local` on a fixed port and data directory, restartable."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.port = find_free_port()
        self.data_dir = data_dir
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.host = f"127.0.0.1:{self.port}"

    def start(self) -> "Server":
        env = {**_server_env(self.port), "REGISTRY_DATA_DIR": str(self.data_dir)}
        env.pop("REGISTRY_EMBEDDED", None)  # the default: strict
        env.pop("REGISTRY_TOKEN_KEY_FILE", None)  # kept in the data directory
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "local"], cwd=str(REPO_ROOT), env=env,
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True,
                                         preexec_fn=ignore_sigint)  # Ctrl-C must stop it all the same
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while READY_LINE not in self.log()[offset:]:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill_all()
                raise AssertionError(f"python -m local did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def backend_pids(self) -> list[int]:
        """The embedded S3 and DynamoDB processes (and their workers) of this data directory."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(entry / "cwd") == str(self.data_dir.resolve()):
                        pids.append(int(entry.name))
                except OSError:
                    pass
        return pids

    def stop(self) -> None:
        """Ctrl-C in a terminal: SIGINT to the server's process group."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=60)  # its own watchdog ends a stop after 45 s
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGUSR1)  # faulthandler: where every thread is stuck
            time.sleep(1)
            raise AssertionError(f"python -m local still running 60 s after SIGINT:\n{self.log()[-12000:]}")
        if "most recent call first" in self.log():  # the watchdog's thread dump: a stop that hung
            warnings.warn(f"python -m local needed its stop watchdog:\n{self.log()[-12000:]}")
        deadline = time.monotonic() + 40
        while self.backend_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not self.backend_pids(), "backends still running after the server stopped"

    def kill_all(self) -> None:
        """SIGKILL every process at once: a crash, not a shutdown."""
        pids = self.backend_pids() + ([self.proc.pid] if self.proc and self.proc.poll() is None else [])
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc:
            self.proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while self.backend_pids() and time.monotonic() < deadline:
            time.sleep(0.1)


@pytest.fixture
def server(tmp: Path):
    s = Server(tmp / "data", tmp / "server.log")
    yield s
    s.kill_all()


def test_restart_and_kill_9_keep_pushed_images_and_charts(server: Server, tmp: Path):
    require_binaries("skopeo")
    server.start()
    skopeo = Skopeo(tmp / "skopeo", creds=f"{ADMIN_USER}:{ADMIN_PASSWORD}")
    helm = Helm(3, tmp / "helm")
    images = {}
    charts = {}

    def push(n: int) -> None:
        layout = build_oci_layout(tmp / f"src{n}", layers=2, seed=100 + n)
        ref = f"{server.host}/keep/app:v{n}"
        skopeo.copy(layout["ref"], ref)
        images[ref] = layout
        tgz, _ = make_chart(helm, tmp / f"chart{n}", "keepchart", f"0.{n}.0")
        assert "Login Succeeded" in helm.login(server.host, ADMIN_USER, ADMIN_PASSWORD).output
        digest = pushed_digest(helm.run("push", str(tgz), f"oci://{server.host}/keep", *helm.remote_flags()))
        charts[f"0.{n}.0"] = (tgz.read_bytes(), digest)

    def check(tag: str) -> None:
        assert "administrator: admin" in server.log()
        for i, (ref, layout) in enumerate(images.items()):
            out = tmp / f"pulled-{tag}-{i}"
            skopeo.copy(ref, f"oci:{out}:v")
            assert_layout_round_trip(layout, out)
        assert "Login Succeeded" in helm.login(server.host, ADMIN_USER, ADMIN_PASSWORD).output
        for version, (data, digest) in charts.items():
            out = tmp / f"helm-{tag}-{version}"
            out.mkdir()
            helm.run("pull", f"oci://{server.host}/keep/keepchart", "--version", version, "-d", str(out),
                     *helm.remote_flags())
            assert (out / f"keepchart-{version}.tgz").read_bytes() == data, f"chart {version} changed"

    push(1)
    server.stop()
    server.start()
    check("restart")
    push(2)  # killed at once: every answer came after DynamoDB Local's SQLite commit
    server.kill_all()
    server.start()
    check("kill-9")


def test_backup_while_pushing_restores_a_consistent_registry(tmp: Path):
    """`make backup` while pushes run; `make restore` into another directory; the restored
    registry serves every tag it lists, with every blob, and everything pushed before the
    backup started."""
    import threading

    import requests

    from support import Client, sha256

    a = Server(tmp / "a", tmp / "a.log")
    b = Server(tmp / "b", tmp / "b.log")
    try:
        a.start()
        client = Client(f"http://{a.host}", auth=(ADMIN_USER, ADMIN_PASSWORD))
        before = [client.push_image("bk/app", f"before{i}", layers=2, seed=f"b{i}")[0] for i in range(3)]
        stop = threading.Event()
        pushed_during: list[str] = []

        def pusher() -> None:
            c = Client(f"http://{a.host}", auth=(ADMIN_USER, ADMIN_PASSWORD))
            i = 0
            while not stop.is_set() and i < 200:
                pushed_during.append(c.push_image("bk/app", f"during{i}", layers=2, seed=f"d{i}")[0])
                i += 1

        t = threading.Thread(target=pusher)
        t.start()
        time.sleep(1.0)
        archive = tmp / "backup.tar"
        env = {**os.environ, "REGISTRY_DATA_DIR": str(a.data_dir)}
        made = subprocess.run(["make", "-s", "backup", f"FILE={archive}"], cwd=str(REPO_ROOT), env=env,
                              capture_output=True, text=True, timeout=300)
        time.sleep(0.5)
        stop.set()
        t.join(timeout=120)
        assert made.returncode == 0, made.stdout + made.stderr
        assert pushed_during, "no push overlapped the backup"
        assert oct(archive.stat().st_mode & 0o777) == "0o600"

        env["REGISTRY_DATA_DIR"] = str(b.data_dir)
        done = subprocess.run(["make", "-s", "restore", f"FILE={archive}"], cwd=str(REPO_ROOT), env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        b.start()
        rc = Client(f"http://{b.host}", auth=(ADMIN_USER, ADMIN_PASSWORD))
        tags = rc.request("GET", "/v2/bk/app/tags/list").json()["tags"]
        assert {f"before{i}" for i in range(3)} <= set(tags)
        accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
        for tag in tags:  # every tag the snapshot lists is whole: manifest and every blob
            m = rc.request("GET", f"/v2/bk/app/manifests/{tag}", headers=accept)
            assert m.status_code == 200, (tag, m.text)
            doc = m.json()
            for d in [doc["config"]["digest"]] + [layer["digest"] for layer in doc["layers"]]:
                r = rc.request("GET", f"/v2/bk/app/blobs/{d}")
                body = requests.get(r.headers["Location"]).content if r.status_code == 307 else r.content
                assert sha256(body) == d, (tag, d, r.status_code)
        for digest in before:
            assert rc.request("HEAD", f"/v2/bk/app/manifests/{digest}", headers=accept).status_code == 200
        # a restore refuses to run under a live registry
        refused = subprocess.run(["make", "-s", "restore", f"FILE={archive}"], cwd=str(REPO_ROOT), env=env,
                                 capture_output=True, text=True, timeout=300)
        assert refused.returncode != 0 and "stop it" in refused.stderr
    finally:
        a.kill_all()
        b.kill_all()


def test_a_dead_backend_gives_503_with_retry_after_never_500_or_201(server: Server):
    """kill -9 DynamoDB Local, then ministack: reads and writes answer 503 with Retry-After
    (retryable), never a 500 and never a 201 for a write that did not happen."""
    from support import Client, sha256

    server.start()
    client = Client(f"http://{server.host}", auth=(ADMIN_USER, ADMIN_PASSWORD))
    client.login("dead/app")
    digest, body = client.push_image("dead/app", "v1")
    java = [p for p in server.backend_pids() if b"LoopbackDynamoDBLocal" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert java
    for pid in java:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    responses = [client.request("GET", "/v2/dead/app/manifests/v1", headers=accept),
                 client.request("HEAD", f"/v2/dead/app/manifests/{digest}", headers=accept),
                 client.push_manifest("dead/app", "v2", body),
                 client.request("POST", "/v2/dead/app/blobs/uploads/")]
    for r in responses:
        assert r.status_code == 503 and r.headers.get("Retry-After"), (r.request.method, r.status_code, r.text)
    for pid in server.backend_pids():  # now S3 too: a monolithic blob upload needs it
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    r = client.request("POST", "/v2/dead/app/blobs/uploads/", params={"digest": sha256(b"x")}, data=b"x",
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 503 and r.headers.get("Retry-After"), (r.status_code, r.text)


def test_a_second_registry_on_the_same_data_refuses_and_leaves_the_first_serving(server: Server, tmp: Path):
    import requests

    server.start()
    pids = set(server.backend_pids())
    second = Server(server.data_dir, tmp / "second.log")
    env = {**_server_env(second.port), "REGISTRY_DATA_DIR": str(server.data_dir)}
    env.pop("REGISTRY_TOKEN_KEY_FILE", None)
    done = subprocess.run([sys.executable, "-m", "local"], cwd=str(REPO_ROOT), env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "another local registry" in done.stderr and str(server.data_dir.resolve()) in done.stderr
    assert set(server.backend_pids()) == pids   # its backends were left alone
    digest, body = "sha256:" + hashlib.sha256(b"still-here").hexdigest(), b"still-here"
    auth = (ADMIN_USER, ADMIN_PASSWORD)
    r = requests.post(f"http://{server.host}/v2/lock/check/blobs/uploads/", params={"digest": digest},
                      data=body, auth=auth, timeout=30)
    if r.status_code == 401:   # token auth: fetch one as a client would
        realm = r.headers["WWW-Authenticate"].split('realm="')[1].split('"')[0]
        token = requests.get(realm, params={"service": r.headers["WWW-Authenticate"].split('service="')[1].split('"')[0],
                                            "scope": "repository:lock/check:pull,push"}, auth=auth, timeout=30).json()["token"]
        r = requests.post(f"http://{server.host}/v2/lock/check/blobs/uploads/", params={"digest": digest},
                          data=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 201, r.text
