"""Debian's `docker-registry` (distribution) as the reference registry of the e2e tests."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping

from e2e.client_base import _merge_env, find_free_port


def _bcrypt_hash(password: str) -> str:
    """bcrypt hash for an htpasswd file (distribution accepts only bcrypt)."""
    try:
        import bcrypt  # type: ignore[import-not-found]

        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    except ImportError:
        pass
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # stdlib up to Python 3.12; glibc/libxcrypt does bcrypt

    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 5))


class ReferenceRegistry:
    """Debian's ``docker-registry`` (CNCF distribution 2.8) on 127.0.0.1, filesystem storage.

    Handy as a known-good target to check a test harness against. Context
    manager; ``host`` is ``127.0.0.1:PORT``. AWS_CA_BUNDLE is removed from its
    environment because distribution 2.8 panics at start when it is set.
    ``users={"name": "password"}`` turns on htpasswd (basic) auth.
    """

    def __init__(
        self,
        tmpdir: str | os.PathLike[str],
        port: int | None = None,
        binary: str = "docker-registry",
        users: Mapping[str, str] | None = None,
    ):
        self.tmpdir = Path(tmpdir)
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.binary = binary
        self.users = dict(users or {})
        self.port = port or find_free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.storage = self.tmpdir / "storage"
        self.config_path = self.tmpdir / "config.yml"
        self.log_path = self.tmpdir / "registry.log"
        self.proc: subprocess.Popen | None = None
        self._log_file: Any = None

    def start(self, timeout: float = 30.0) -> "ReferenceRegistry":
        """Write the config, start the registry and wait for ``GET /v2/``."""
        self.storage.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "version: 0.1\n"
            "log:\n  level: info\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {self.storage}\n"
            "  delete:\n    enabled: true\n"
            "http:\n"
            f"  addr: {self.host}\n"
        )
        if self.users:
            htpasswd = self.tmpdir / "htpasswd"
            htpasswd.write_text("".join(f"{u}:{_bcrypt_hash(p)}\n" for u, p in self.users.items()))
            with open(self.config_path, "a") as fh:
                fh.write(f"auth:\n  htpasswd:\n    realm: e2e\n    path: {htpasswd}\n")
        env = _merge_env({"AWS_CA_BUNDLE": None, "REGISTRY_HTTP_ADDR": None})
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", str(self.config_path)],
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise AssertionError(f"docker-registry exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/v2/", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"docker-registry not ready after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the registry process."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, n: int = 40) -> str:
        """Last ``n`` lines of the registry log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def __enter__(self) -> "ReferenceRegistry":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------
# pure-Python OCI image layout
# --------------------------------------------------------------------------
