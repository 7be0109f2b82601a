"""End-to-end fixtures: the REAL local registry (`python -m local`) as a subprocess.

The server runs with its embedded, in-memory S3 and DynamoDB on a free
loopback port for the whole test session; tests talk to it with real client
binaries (see ``clients.py``). Its stdout/stderr go to a log file whose tail
tests put into their assertion messages.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from e2e.clients import REPO_ROOT, find_free_port

STARTUP_TIMEOUT = 60.0
READY_LINE = "registry listening"
_EMBEDDED_OK = re.compile(r'INFO werkzeug: .*" 2\d\d -$')


ADMIN_USER = "admin"
ADMIN_PASSWORD = "e2e-admin-password"


@dataclass
class LocalRegistry:
    """Handle on the running `python -m local` process."""

    port: int
    proc: subprocess.Popen
    log_path: Path
    _log_file: Any = field(default=None, repr=False)
    username: str = ADMIN_USER
    password: str = ADMIN_PASSWORD

    @property
    def creds(self) -> str:
        """`user:password` of the administrator the server was started with."""
        return f"{self.username}:{self.password}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def log_tail(self, n: int = 60) -> str:
        """Last ``n`` lines of the server's combined stdout/stderr.

        The registry's own access log is off (REGISTRY_ACCESS_LOG=0), but the
        embedded S3/DynamoDB server still logs every request it answers; its
        successful (2xx) requests are left out as noise.
        """
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "<no server log>"
        lines = [ln for ln in lines if not _EMBEDDED_OK.search(ln)]
        return "\n".join(lines[-n:])

    def log_offset(self) -> int:
        """Current size of the server log (pass to ``log_since``)."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        """Everything the server logged after ``offset`` (from ``log_offset``)."""
        with open(self.log_path, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            # own process group (start_new_session): signal only what we started
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def _server_env(port: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in list(env):
        if var.startswith("AWS_ENDPOINT_URL") or var == "AWS_CA_BUNDLE":
            env.pop(var)
    env.pop("REGISTRY_USE_AWS", None)
    env.pop("REGISTRY_LAMBDA_LIMITS", None)
    env.update({"PORT": str(port), "REGISTRY_ACCESS_LOG": "0", "PYTHONUNBUFFERED": "1",
                "REGISTRY_ADMIN_USERNAME": ADMIN_USER, "REGISTRY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "REGISTRY_TOKEN_KEY_FILE": os.path.join(tempfile.mkdtemp(prefix="e2e-key-"), "token-key.pem"),
                # its own data (never the developer's .local-data/); the backend: strict by default
                "REGISTRY_DATA_DIR": tempfile.mkdtemp(prefix="e2e-data-")})
    return env


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """Start `python -m local` on a free port; yield a handle; terminate it at the end."""
    log_dir = tmp_path_factory.mktemp("local-registry")
    log_path = log_dir / "server.log"
    port = find_free_port()
    log_file = open(log_path, "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=str(REPO_ROOT),
        env=_server_env(port),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = LocalRegistry(port=port, proc=proc, log_path=log_path, _log_file=log_file)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                raise AssertionError(
                    f"`python -m local` exited with {proc.returncode} during start-up:\n{server.log_tail()}"
                )
            if READY_LINE in log_path.read_text(errors="replace"):
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"`python -m local` not ready after {STARTUP_TIMEOUT:.0f}s:\n{server.log_tail()}"
                )
            time.sleep(0.05)
    except BaseException:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture
def tmp() -> Iterator[Path]:
    """A short scratch directory (unix socket paths must stay short), removed afterwards."""
    # Lowercase hex only: podman names an `oci:` image after its path, and mkdtemp's random
    # part may end in "_", which no image reference allows (a 1-in-37 flaky failure).
    path = Path(tempfile.gettempdir()) / f"e2e-{uuid.uuid4().hex[:12]}"
    path.mkdir(mode=0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def uniq() -> str:
    """A fresh repository-name component per test."""
    return uuid.uuid4().hex[:12]

