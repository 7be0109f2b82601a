"""The strict local backends: ministack's S3 and DynamoDB Local, as subprocesses.

ministack (AUTH=true) checks SigV4 presigned URLs, their expiry and SHA-256
checksums as S3 does and keeps objects as files; DynamoDB Local keeps the table
in SQLite, which survives `kill -9`. Both bind to 127.0.0.1 only and use
credentials generated on first start and kept in the data directory (0600).
scripts/install-backends.sh puts them under .tools/.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import string
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Optional

REPO = Path(__file__).resolve().parents[1]
TOOLS = Path(os.environ.get("REGISTRY_TOOLS_DIR") or REPO / ".tools")
MINISTACK_PY = TOOLS / "ministack-venv" / "bin" / "python"
DYNAMODB_DIR = TOOLS / "dynamodb-local"
STARTUP_TIMEOUT = 90.0  # a cold JVM on a busy 2-core machine takes ~10 s


class BackendError(RuntimeError):
    """A backend is not installed or did not become ready."""


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"


def load_credentials(data_dir: Path) -> Credentials:
    """The data directory's credentials, generated (0600) on first use. DynamoDB Local keeps
    one database file per access key id, so the key id also names where the table lives."""
    path = data_dir / "credentials.json"
    if not path.exists():
        alphabet = string.ascii_uppercase + string.digits
        creds = {"access_key_id": "AKL" + "".join(secrets.choice(alphabet) for _ in range(17)),
                 "secret_access_key": secrets.token_urlsafe(30)}
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(creds, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    data = json.loads(path.read_text())
    return Credentials(data["access_key_id"], data["secret_access_key"])


def prepare_data_dir(data_dir: Path) -> None:
    """Create the data directory private to this user (0700): it holds the credentials."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    (data_dir / "s3").mkdir(exist_ok=True)
    (data_dir / "dynamodb").mkdir(exist_ok=True)


def dynamodb_local_command(port: int, db_dir: Path) -> list[str]:
    """DynamoDB Local through our launcher (local/java/LoopbackDynamoDBLocal.java): bound to
    127.0.0.1 and answering only after its SQLite commit, so a 200 survives `kill -9`."""
    lib = DYNAMODB_DIR / "DynamoDBLocal_lib"
    cp = os.pathsep.join([str(DYNAMODB_DIR), str(DYNAMODB_DIR / "DynamoDBLocal.jar"), f"{lib}/*"])
    # a small heap and the quick JIT tier: it serves one developer's registry
    return ["java", "-Xms32m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            f"-Djava.library.path={lib}", "-cp", cp, "LoopbackDynamoDBLocal",
            "-port", str(port), "-dbPath", str(db_dir), "-disableTelemetry"]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the backend gets SIGTERM when the process that started it dies, even by kill -9."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setsid()  # Ctrl-C reaches the local server only; it stops the backends in order


def _check_installed() -> None:
    if not MINISTACK_PY.exists() or not (DYNAMODB_DIR / "LoopbackDynamoDBLocal.class").exists():
        raise BackendError(f"strict backends not installed under {TOOLS}: run `bash scripts/install-backends.sh` "
                           "(or `make setup`), or set REGISTRY_EMBEDDED=memory")


class StrictBackends:
    """Starts, readies and stops ministack (S3) and DynamoDB Local on loopback ports."""

    def __init__(self, data_dir: Path, s3_port: Optional[int] = None,
                 dynamodb_port: Optional[int] = None, log: Optional[IO[bytes]] = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.s3_port = s3_port or free_port()
        self.dynamodb_port = dynamodb_port or free_port()
        self.log_path = self.data_dir / "backends.log"
        self._log = log
        self._procs: list[subprocess.Popen] = []
        self.credentials: Optional[Credentials] = None
        self._lock_fd: Optional[int] = None

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def dynamodb_url(self) -> str:
        return f"http://127.0.0.1:{self.dynamodb_port}"

    def describe(self) -> str:
        return (f"S3 (ministack) at {self.s3_url} and DynamoDB Local at {self.dynamodb_url}, "
                f"data kept in {self.data_dir}")

    def environment(self) -> dict[str, str]:
        """What the registry's AWS SDK needs to reach these backends."""
        assert self.credentials is not None
        return {"AWS_ENDPOINT_URL_S3": self.s3_url, "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_url,
                "AWS_ACCESS_KEY_ID": self.credentials.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.credentials.secret_access_key,
                "AWS_DEFAULT_REGION": self.credentials.region}

    def start(self) -> "StrictBackends":
        """Start both backends in parallel and wait until each answers a real request."""
        _check_installed()
        prepare_data_dir(self.data_dir)
        self._take_data_dir()
        self._stop_leftovers()
        self.credentials = load_credentials(self.data_dir)
        if self._log is None:
            self._log = open(self.log_path, "ab")
        try:
            self._procs.append(self._spawn(self._ministack_cmd(), self._ministack_env()))
            self._procs.append(self._spawn(self._dynamodb_cmd(), dict(os.environ)))
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        return subprocess.Popen(cmd, env=env, cwd=str(self.data_dir), stdin=subprocess.DEVNULL,
                                stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)

    def _ministack_cmd(self) -> list[str]:
        return [str(MINISTACK_PY), "-m", "hypercorn", "ministack_strict:app", "--bind",
                f"127.0.0.1:{self.s3_port}", "--log-level", "WARNING", "--keep-alive", "75"]

    def _ministack_env(self) -> dict[str, str]:
        assert self.credentials is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
        env.update({"PYTHONPATH": str(Path(__file__).resolve().parent / "shim"),
                    "AUTH": "true", "SERVICES": "s3", "S3_PERSIST": "1",
                    "S3_DATA_DIR": str(self.data_dir / "s3"), "BIND_HOST": "127.0.0.1",
                    # parts of unfinished multipart uploads wait here (local/shim/ministack_files.py)
                    "S3_PART_SPOOL": str(self.data_dir / "s3-parts"),
                    "GATEWAY_PORT": str(self.s3_port), "LOG_LEVEL": "WARNING",
                    "MINISTACK_REGION": self.credentials.region,
                    "AWS_ACCESS_KEY_ID": self.credentials.access_key_id,
                    "AWS_SECRET_ACCESS_KEY": self.credentials.secret_access_key})
        return env

    def _dynamodb_cmd(self) -> list[str]:
        return dynamodb_local_command(self.dynamodb_port, self.data_dir / "dynamodb")

    def _wait_ready(self) -> None:
        import boto3
        from botocore.config import Config

        assert self.credentials is not None
        c = self.credentials
        cfg = Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10,
                     s3={"addressing_style": "path"}, signature_version="s3v4")
        session = boto3.session.Session(aws_access_key_id=c.access_key_id,
                                        aws_secret_access_key=c.secret_access_key, region_name=c.region)
        probes = {"S3 (ministack)": lambda: session.client("s3", endpoint_url=self.s3_url, config=cfg).list_buckets(),
                  "DynamoDB Local": lambda: session.client("dynamodb", endpoint_url=self.dynamodb_url,
                                                           config=cfg).list_tables()}
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while probes:
            for name, probe in list(probes.items()):
                try:
                    probe()
                    del probes[name]
                except Exception:  # not up yet
                    pass
            for p in self._procs:
                if p.poll() is not None:
                    raise BackendError(f"{p.args[0]} exited with {p.returncode} at start; see {self.log_path}")
            if probes and time.monotonic() > deadline:
                raise BackendError(f"{', '.join(probes)} not ready after {STARTUP_TIMEOUT:.0f}s; see {self.log_path}")
            if probes:
                time.sleep(0.1)

    def _take_data_dir(self) -> None:
        """Hold `<data dir>/registry.lock` for as long as these backends run (the OS lets go
        at exit, kill -9 included). A second registry on the same data directory stops here,
        before _stop_leftovers would kill the backends of the one already serving."""
        import fcntl

        if self._lock_fd is not None:
            return
        fd = os.open(self.data_dir / "registry.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise BackendError(f"another local registry (pid {holder}) is using {self.data_dir}: stop it "
                               f"first, or give this one its own REGISTRY_DATA_DIR") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    # A kill -9 of the local server takes its backends along (PDEATHSIG), but a backend whose
    # parent was not us (e.g. hypercorn's worker) may outlive it: stop every backend process
    # working in this data directory first, so two never write the same files.
    def _stop_leftovers(self) -> None:
        for pid in backend_processes(self.data_dir):
            _terminate_pid(pid)

    def stop(self) -> None:
        """SIGTERM both (DynamoDB Local closes SQLite; ministack flushes), then SIGKILL stragglers."""
        for p in self._procs:
            if p.poll() is None:
                p.terminate()
        for p in self._procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        self._procs.clear()
        # hypercorn serves from a spawned worker, which outlives a parent that had to be killed
        for pid in backend_processes(self.data_dir):
            _terminate_pid(pid)
        if self._log is not None and self._log is not sys.stdout:
            self._log.close()
            self._log = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)   # the data directory is free for the next start
            self._lock_fd = None


def backend_processes(data_dir: Path) -> list[int]:
    """Embedded S3/DynamoDB processes (and their workers) working in `data_dir`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if os.readlink(entry / "cwd") != str(Path(data_dir).resolve()):
                continue
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"ministack" in cmdline or b"LoopbackDynamoDBLocal" in cmdline:
            found.append(int(entry.name))
    return found


def _terminate_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
