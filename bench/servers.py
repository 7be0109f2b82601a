"""The registries under test, all on 127.0.0.1.

* `InProcessRegistry`: this registry's Chalice app behind the local server's
  API Gateway shim (`local.server.LambdaGateway`) in a thread of this process,
  on a counting moto server; records per-request handler CPU and wall time.
* `LocalServerProcess`: the real `python -m local` as a subprocess (embedded
  moto in the same process, as `make run`).
* `Distribution`: Debian's `docker-registry` (CNCF distribution 2.8) with the
  filesystem driver, or the s3 driver pointed at a (counting) moto server.
"""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from .aws import BotoCalls, CountingMoto
from .util import PYTHON, ROOT, clean_env, ensure_import_path, free_port, stop_process, wait_http

TABLE = "bench-registry"
BUCKET = "bench-blobs"


class InProcessRegistry:
    """This registry, served from a thread of this process, on a counting moto."""

    def __init__(self, lambda_limits: bool = False, auth: Optional[tuple[str, str]] = None,
                 suffix: str = "") -> None:
        self.lambda_limits = lambda_limits
        self.auth = auth          # (user, password): token auth with this administrator
        self.suffix = suffix      # moto keeps one backend per process: separate table/bucket
        self.moto = CountingMoto()
        self.boto = BotoCalls()
        self.records: list[dict] = []   # one per HTTP request: method, path, status, cpu, wall
        self._lock = threading.Lock()
        self._server: Any = None
        self.url = ""
        self.app: Any = None

    def start(self) -> "InProcessRegistry":
        ensure_import_path()
        self.moto.start()
        self.moto.export_env()
        os.environ["REGISTRY_TABLE"] = TABLE + self.suffix
        os.environ["REGISTRY_BUCKET"] = BUCKET + self.suffix
        os.environ["REGISTRY_ACCESS_LOG"] = "0"
        if self.auth:
            import tempfile

            os.environ["REGISTRY_AUTH"] = "token"
            os.environ["REGISTRY_TOKEN_KEY_FILE"] = os.path.join(tempfile.mkdtemp(prefix="bench-key-"), "key.pem")
            os.environ["REGISTRY_ADMIN_USERNAME"], os.environ["REGISTRY_ADMIN_PASSWORD"] = self.auth
        else:
            # distribution runs without auth in every comparison; so does this registry
            os.environ["REGISTRY_AUTH"] = "none"
        if self.lambda_limits:
            os.environ["REGISTRY_LAMBDA_LIMITS"] = "1"
        else:
            os.environ.pop("REGISTRY_LAMBDA_LIMITS", None)
        from chalicelib import container
        from chalicelib.http import inject
        from local.embedded import provision
        from local.server import LambdaGateway
        from local.keepalive import KeepAliveServer

        from local.keys import ensure_key_files

        ensure_key_files()
        import app as chalice_app

        services = container.build()  # this server's container, from the environment above
        inject.provide(services)      # requests invoked on the app directly (s_cpu) use it too
        provision(services)
        if self.auth:
            from local.embedded import ensure_admin

            ensure_admin(services)
        self.app = chalice_app.app
        gateway = LambdaGateway(chalice_app.app, self.lambda_limits, services=services)

        def recording(environ: dict, start_response: Callable) -> Any:
            status: list = []

            def sr(st: str, headers: list, exc_info: Any = None) -> Any:
                status.append(int(st.split()[0]))
                return start_response(st, headers, exc_info) if exc_info else start_response(st, headers)

            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            t0, c0 = time.perf_counter(), time.thread_time()
            body = gateway(environ, sr)
            cpu, wall = time.thread_time() - c0, time.perf_counter() - t0
            with self._lock:
                self.records.append({"method": environ["REQUEST_METHOD"], "path": environ.get("PATH_INFO", ""),
                                     "query": environ.get("QUERY_STRING", ""), "length": length,
                                     "status": status[0] if status else 0, "cpu": cpu, "wall": wall})
            return body

        self._server = KeepAliveServer("127.0.0.1", 0, recording)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.port}"
        self.boto.attach([services.s3_client(), services.dynamodb_client()])
        return self

    @property
    def host(self) -> str:
        return self.url.split("//", 1)[1]

    def take_records(self) -> list[dict]:
        with self._lock:
            out, self.records = self.records, []
        return out

    def stop(self) -> None:
        self.boto.detach()
        if self._server is not None:
            self._server.shutdown()
        self.moto.stop()


class LocalServerProcess:
    """`python -m local` on a free port (embedded moto in that process)."""

    READY = "registry listening"

    def __init__(self, workdir: Path, extra_env: Optional[dict] = None) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.extra_env = extra_env or {}
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = workdir / f"local-{self.port}.log"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self, timeout: float = 60.0) -> "LocalServerProcess":
        env = clean_env({"PORT": str(self.port), "REGISTRY_ACCESS_LOG": "0", "PYTHONUNBUFFERED": "1",
                         # moto logs every request it answers at INFO; keep that cost out of the numbers
                         "LOG_LEVEL": "WARNING", "REGISTRY_AUTH": "none",
                         # no per-request EMF metric line on stderr: distribution runs here
                         # without its access log too (level error, accesslog disabled)
                         "POWERTOOLS_METRICS_DISABLED": "true",
                         "REGISTRY_TOKEN_KEY_FILE": str(self.workdir / "token-key.pem"),
                         # its own data (the default strict backend keeps it), never .local-data/
                         "REGISTRY_DATA_DIR": str(self.workdir / "data"),
                         **self.extra_env})
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([PYTHON, "-m", "local"], cwd=str(ROOT), env=env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while self.READY not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"python -m local did not start:\n{self.log_tail()}")
            time.sleep(0.05)
        return self

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.proc)


class Distribution:
    """Debian's docker-registry (distribution 2.8), filesystem or s3 storage."""

    def __init__(self, workdir: Path, s3_endpoint: Optional[str] = None, bucket: str = "dist-blobs",
                 cache: bool = False, access_log: bool = False, binary: str = "docker-registry") -> None:
        self.workdir = workdir
        self.s3_endpoint = s3_endpoint
        self.bucket = bucket
        self.cache = cache
        self.access_log = access_log
        self.binary = binary
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = workdir / f"distribution-{self.port}.log"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def _config(self) -> str:
        level = "info" if self.access_log else "error"
        lines = ["version: 0.1", "log:", f"  level: {level}", "  accesslog:",
                 f"    disabled: {'false' if self.access_log else 'true'}", "storage:"]
        if self.s3_endpoint:
            lines += ["  s3:", "    accesskey: bench", "    secretkey: bench", "    region: us-east-1",
                      f"    regionendpoint: {self.s3_endpoint}", f"    bucket: {self.bucket}",
                      "    secure: false", "    v4auth: true", "    forcepathstyle: true",
                      "    rootdirectory: /registry"]
        else:
            storage = self.workdir / f"storage-{self.port}"
            storage.mkdir(parents=True, exist_ok=True)
            lines += ["  filesystem:", f"    rootdirectory: {storage}"]
        lines += ["  delete:", "    enabled: true"]
        if self.cache:
            lines += ["  cache:", "    blobdescriptor: inmemory"]
        lines += ["http:", f"  addr: {self.host}"]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 30.0) -> "Distribution":
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / f"distribution-{self.port}.yml"
        cfg.write_text(self._config())
        # distribution 2.8 panics at start when AWS_CA_BUNDLE is set: clean_env drops it.
        env = clean_env({"REGISTRY_HTTP_ADDR": None})
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "serve", str(cfg)], env=env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        try:
            wait_http(self.url + "/v2/", timeout=timeout)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"docker-registry did not start:\n{self.log_tail()}")
        return self

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def log_offset(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def requests_since(self, offset: int) -> list[tuple[str, str]]:
        """(method, uri) of the HTTP requests logged after `offset` (access_log=True)."""
        import re

        out = []
        with open(self.log_path, "rb") as fh:
            fh.seek(offset)
            for line in fh.read().decode(errors="replace").splitlines():
                if "response completed" not in line:
                    continue
                m = re.search(r'http\.request\.method=(\S+)', line)
                u = re.search(r'http\.request\.uri=(?:"([^"]*)"|(\S+))', line)
                if m and u:
                    out.append((m.group(1).strip('"'), u.group(1) or u.group(2)))
        return out

    def stop(self) -> None:
        stop_process(self.proc)
