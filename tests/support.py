"""Test helpers: an in-process registry server over real HTTP, and AWS call counting."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import requests


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def retrying(send: Callable[[], requests.Response], attempts: int = 6) -> requests.Response:
    """Send until the answer is not a retryable 429/503, honouring Retry-After as clients do.

    A storm of concurrent writes on a loaded 2-core machine can leave the embedded backend
    busy for a moment; a read-back that proves a write was kept must not fail on that."""
    for _ in range(attempts - 1):
        r = send()
        if r.status_code not in (429, 503):
            return r
        time.sleep(min(float(r.headers.get("Retry-After") or 1), 5))
    return send()


_AWS_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


def _binding() -> tuple:
    """The pynamodb models' table binding (process-wide: every container binds the same models)."""
    from chalicelib.storage import dynamo

    item = dynamo.Item
    return item.Meta.table_name, item.Meta.region, getattr(item, "_connection", None)


def _bind(binding: tuple) -> None:
    from chalicelib.storage import dynamo

    item = dynamo.Item
    item.Meta.table_name, item.Meta.region, item._connection = binding


def set_env(env: dict) -> None:
    """Set each variable of `env`; a None value unsets it."""
    import os

    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@contextmanager
def table_binding() -> Iterator[None]:
    """Put back the pynamodb models' table binding after a block that binds them elsewhere."""
    saved = _binding()
    try:
        yield
    finally:
        _bind(saved)


def serve(services: Any, lambda_limits: bool = False) -> tuple[Any, threading.Thread, str]:
    """The Chalice app behind a LambdaGateway on a free loopback port, its requests served
    with the container `services`: (server, thread, url)."""
    import app as chalice_app
    from local.keepalive import KeepAliveServer
    from local.server import LambdaGateway

    gateway = LambdaGateway(chalice_app.app, lambda_limits, services=services)
    server = KeepAliveServer("127.0.0.1", 0, gateway)   # the HTTP server of `python -m local`
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.port}"


@dataclass
class RegistryServer:
    """The local server (embedded backend + LambdaGateway) on a free loopback port.

    backend: "memory" (moto in this process) or "strict" (ministack S3 + DynamoDB Local
    subprocesses on their own ports, data in `data_dir`, a fresh temp dir per server).
    `services` is the container its requests are served with (chalicelib/container.py)."""

    url: str
    aws: Any
    server: Any
    thread: threading.Thread
    admin: tuple = ("admin", "admin-password-for-tests")
    backend: str = "memory"
    data_dir: Optional[str] = None
    _saved_env: dict = field(default_factory=dict, repr=False)
    services: Any = None
    _live: tuple = field(default=(), repr=False)   # (its AWS environment, its table binding)

    def remember(self) -> "RegistryServer":
        """Note this server's process-wide state (AWS endpoints and credentials in the
        environment, the pynamodb models' binding) so that activate() can restore it."""
        import os

        self._live = ({k: os.environ.get(k) for k in _AWS_ENV}, _binding())
        return self

    def activate(self) -> None:
        """Point the process-wide state back at this server: its environment, its table
        binding and its container for direct handler calls. Two servers may then stay up in
        one process, used one after the other (tests/integration/conftest.py)."""
        from chalicelib.http import inject

        env, binding = self._live
        set_env(env)
        _bind(binding)
        inject.provide(self.services)

    @contextmanager
    def variant(self, lambda_limits: bool = False, clients: Optional[dict] = None,
                **settings: Any) -> Iterator[str]:
        """A second gateway on the same embedded AWS whose container has `settings` changed
        (Settings field names) and, optionally, prebuilt AWS clients: yields its URL. This
        server and every other test's stay as they are."""
        import dataclasses

        from chalicelib import container

        if lambda_limits:  # the front door's limits, and the settings that follow from them
            settings.setdefault("lambda_limits", True)
        services = container.build(dataclasses.replace(self.services.settings, **settings), clients=clients)
        server, _, url = serve(services, lambda_limits)
        try:
            yield url
        finally:
            server.shutdown()
            server.server_close()

    def stop(self) -> None:
        import shutil

        self.server.shutdown()
        self.server.server_close()
        self.aws.stop()
        set_env(self._saved_env)  # the next server starts from a clean slate
        if self.backend == "strict" and self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def start_registry(lambda_limits: bool = False, backend: str = "memory") -> RegistryServer:
    """Start an embedded backend ("memory" or "strict"), provision it, and serve the Chalice
    app in a thread with a container of its own. One at a time per process: the pynamodb
    models' table binding is process-wide."""
    from chalicelib import container
    from chalicelib.http import inject
    from local.embedded import EmbeddedAWS, ensure_admin, provision, start_backend
    from local.keys import ensure_key_files

    import os
    import tempfile

    if backend not in ("memory", "strict"):
        raise ValueError(f"backend {backend!r}: 'memory' or 'strict'")
    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    data_dir = None
    if backend == "strict":
        data_dir = tempfile.mkdtemp(prefix="registry-strict-")
        aws = start_backend("strict", data_dir)
    else:
        aws = EmbeddedAWS().start()
    admin = ("admin", "admin-password-for-tests")
    os.environ["REGISTRY_ADMIN_USERNAME"], os.environ["REGISTRY_ADMIN_PASSWORD"] = admin
    keys_dir = tempfile.mkdtemp()
    os.environ.setdefault("REGISTRY_TOKEN_KEY_FILE", os.path.join(keys_dir, "token-key.pem"))
    os.environ.setdefault("REGISTRY_SCHEMA1_KEY_FILE", os.path.join(keys_dir, "schema1-key.pem"))
    ensure_key_files()
    import app  # noqa: F401 - first: importing it installs a container of its own, replaced below

    services = container.build()   # settings and endpoints from the environment set above
    provision(services)
    ensure_admin(services)
    inject.provide(services)       # app.handler called directly (Lambda events) uses it too
    server, thread, url = serve(services, lambda_limits)
    return RegistryServer(url, aws, server, thread, admin, backend, data_dir, saved, services).remember()


# Threads that work off the request path (usage flushes, event deliveries): their calls
# are not a request's, and may start at any moment; tests that count them call the work
# themselves (test_metering.py).
BACKGROUND_THREADS = ("usage-flush", "events")


class AWSCalls:
    """Counts AWS API calls made by the registry's botocore clients on request threads."""

    def __init__(self) -> None:
        self.calls: Counter = Counter()
        self._clients: list = []

    def _handler(self, event_name: str, **kwargs: Any) -> None:
        # event name: before-call.<service>.<Operation>
        if threading.current_thread().name in BACKGROUND_THREADS:
            return
        _, service, op = event_name.split(".", 2)
        self.calls[f"{service}.{op}"] += 1

    def attach(self, services: Any = None) -> "AWSCalls":
        from chalicelib.http.inject import services as installed

        svc = services or installed()
        for client in (svc.s3_client(), svc.dynamodb_client()):
            client.meta.events.register("before-call.*.*", self._handler)
            self._clients.append(client)
        return self

    def detach(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-call.*.*", self._handler)
        self._clients.clear()

    def by_service(self) -> dict[str, int]:
        out: Counter = Counter()
        for k, v in self.calls.items():
            out[k.split(".")[0]] += v
        return dict(out)

    def reset(self) -> None:
        self.calls.clear()


@contextmanager
def count_aws_calls() -> Iterator[AWSCalls]:
    counter = AWSCalls().attach()
    try:
        yield counter
    finally:
        counter.detach()


class Client:
    """A thin distribution-API client over requests, for tests."""

    def __init__(self, base: str, auth: Optional[tuple] = None) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.auth = TokenAuth(*auth) if auth else None

    def login(self, repo: str, actions: str = "pull,push,delete") -> None:
        """Fetch a token for `repo` up front, so later requests carry it from the start."""
        auth = self.http.auth
        r = requests.get(self.url("/v2/"))
        c = TokenAuth.parse_challenge(r.headers["WWW-Authenticate"])
        auth.scopes = [f"repository:{repo}:{actions}"]
        auth.token = auth.fetch(c["realm"], c["service"], auth.scopes[0])

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("allow_redirects", False)
        return self.http.request(method, self.url(path), **kw)

    def push_blob(self, repo: str, data: bytes) -> str:
        """Monolithic POST+PUT; returns the digest."""
        digest = sha256(data)
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, r.text
        r = self.request("PUT", r.headers["Location"], params={"digest": digest}, data=data,
                         headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        return digest

    def push_manifest(self, repo: str, ref: str, doc: Any,
                      media_type: str = "application/vnd.oci.image.manifest.v1+json") -> requests.Response:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return self.request("PUT", f"/v2/{repo}/manifests/{ref}", data=body,
                            headers={"Content-Type": media_type})

    def push_image(self, repo: str, tag: Optional[str], layers: int = 1, seed: str = "x",
                   extra: Optional[dict] = None) -> tuple[str, bytes]:
        """Push a small OCI image (config + layers); returns (digest, manifest bytes)."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed,
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        cfg = self.push_blob(repo, config)
        descs = []
        for i in range(layers):
            data = f"layer {seed} {i}".encode() * 10
            descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                          "digest": self.push_blob(repo, data), "size": len(data)})
        doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                          "digest": cfg, "size": len(config)}, "layers": descs}
        doc.update(extra or {})
        body = json.dumps(doc).encode()
        r = self.push_manifest(repo, tag or sha256(body), body)
        assert r.status_code == 201, r.text
        return sha256(body), body


class TokenAuth(requests.auth.AuthBase):
    """Does the Docker token dance like real clients: on a Bearer challenge, fetch a
    token for the challenged scope (with Basic credentials if given) and retry."""

    def __init__(self, username: Optional[str] = None, password: Optional[str] = None) -> None:
        self.creds = (username, password) if username else None
        self.tokens: dict[str, str] = {}
        self.token: Optional[str] = None
        self.fetches = 0

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.token and "Authorization" not in r.headers:
            r.headers["Authorization"] = f"Bearer {self.token}"
        r.register_hook("response", self._handle_401)
        return r

    @staticmethod
    def parse_challenge(value: str) -> dict:
        import re
        return dict(re.findall(r'(\w+)="([^"]*)"', value))

    def fetch(self, realm: str, service: str, scope: Optional[str]) -> str:
        params = {"service": service}
        if scope:
            params["scope"] = scope
        self.fetches += 1
        resp = requests.get(realm, params=params, auth=self.creds)
        resp.raise_for_status()
        return resp.json()["token"]

    def _handle_401(self, resp: requests.Response, **kwargs: Any) -> requests.Response:
        challenge = resp.headers.get("WWW-Authenticate", "")
        if resp.status_code not in (401, 403) or not challenge.startswith("Bearer") or getattr(resp.request, "_retried", False):
            return resp
        c = self.parse_challenge(challenge)
        scope = c.get("scope")
        # keep access to everything asked so far, as clients do for one operation
        self.scopes = getattr(self, "scopes", [])
        if scope and scope not in self.scopes:
            self.scopes.append(scope)
        # Real clients scope a token to one operation; a long-lived test session must not
        # grow past what the token endpoint accepts (64 scopes), so keep the recent ones.
        del self.scopes[:-16]
        self.token = self.fetch(c["realm"], c["service"], " ".join(self.scopes) or None)
        resp.content  # release the connection
        req = resp.request.copy()
        req.headers["Authorization"] = f"Bearer {self.token}"
        req._retried = True
        new = resp.connection.send(req, **kwargs)
        new.history.append(resp)
        new.request = req
        return new
