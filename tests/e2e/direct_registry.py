"""Processes for the client/gateway tests: a registry under Lambda's limits and the push gateway.

`LimitedRegistry` runs `python -m local` with REGISTRY_LAMBDA_LIMITS=1 (a request body over
6 MB is refused with 413, as API Gateway + Lambda do) on its own data directory, so the only
way to push a large blob is the direct-to-S3 extension. `Gateway` runs
`python -m client gateway` in front of a registry. Both are real subprocesses, stopped by
the fixture that started them (their own process groups).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from e2e.clients import REPO_ROOT, find_free_port
from e2e.helpers import ignore_sigint

ADMIN = ("admin", "e2e-direct-admin-password")


def _stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=timeout)


def _wait_for(proc: subprocess.Popen, log: Path, line: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while line not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise AssertionError(f"{line!r} never logged (rc={proc.returncode}):\n"
                                 f"{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.05)


class LimitedRegistry:
    def __init__(self, workdir: Path, lambda_limits: bool = True, extra_env: Optional[dict] = None) -> None:
        self.port = find_free_port()
        self.dir = workdir
        self.log = workdir / "registry.log"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_ENDPOINT_URL", "REGISTRY_")) and k != "AWS_CA_BUNDLE"}
        env.update({"PORT": str(self.port), "REGISTRY_ACCESS_LOG": "1", "PYTHONUNBUFFERED": "1",
                    "REGISTRY_ADMIN_USERNAME": ADMIN[0], "REGISTRY_ADMIN_PASSWORD": ADMIN[1],
                    "REGISTRY_DATA_DIR": str(workdir / "data"),
                    "REGISTRY_TOKEN_KEY_FILE": str(workdir / "token-key.pem"),
                    "REGISTRY_SCHEMA1_KEY_FILE": str(workdir / "schema1-key.pem")})
        if lambda_limits:
            env["REGISTRY_LAMBDA_LIMITS"] = "1"
        env.update(extra_env or {})
        self._log_file = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "local"], cwd=str(REPO_ROOT), env=env,
                                     stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        _wait_for(self.proc, self.log, "registry listening")

    host = property(lambda self: f"127.0.0.1:{self.port}")
    url = property(lambda self: f"http://127.0.0.1:{self.port}")
    creds = property(lambda self: f"{ADMIN[0]}:{ADMIN[1]}")

    def log_tail(self, n: int = 60) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def stop(self) -> None:
        _stop(self.proc)
        self._log_file.close()


class Gateway:
    """`python -m client gateway --registry URL --port P --json` as a subprocess."""

    def __init__(self, upstream: str, workdir: Path, workers: int = 4, sigint_ignored: bool = False) -> None:
        self.port = find_free_port()
        self.log = workdir / f"gateway-{self.port}.log"
        self._log_file = open(self.log, "ab")
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
        self.spool = Path(tempfile.mkdtemp(prefix="gw-spool-", dir=str(workdir)))
        # sigint_ignored: started as a background job of a script is (SIGINT inherited as ignored)
        self.proc = subprocess.Popen([sys.executable, "-m", "client", "gateway", "--registry", upstream,
                                      "--port", str(self.port), "--workers", str(workers), "--json",
                                      "--spool-dir", str(self.spool)], cwd=str(REPO_ROOT), env=env,
                                     stdout=self._log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=ignore_sigint if sigint_ignored else None)
        _wait_for(self.proc, self.log, "gateway listening")

    host = property(lambda self: f"127.0.0.1:{self.port}")

    def peak_rss_mib(self) -> Optional[float]:
        """VmHWM of the gateway process (its peak resident set)."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        _stop(self.proc)
        self._log_file.close()
