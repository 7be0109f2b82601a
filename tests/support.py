"""Test helpers: an in-process registry server over real HTTP, and AWS call counting."""
from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import requests


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class RegistryServer:
    """The local server (embedded moto + LambdaGateway) on a free loopback port."""

    url: str
    aws: Any
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.aws.stop()


def start_registry(lambda_limits: bool = False) -> RegistryServer:
    """Start embedded AWS, provision it, and serve the Chalice app in a thread."""
    from werkzeug.serving import make_server

    from chalicelib import bootstrap
    from local.embedded import EmbeddedAWS, provision
    from local.server import LambdaGateway

    aws = EmbeddedAWS().start()
    bootstrap.reset()
    provision()
    import app as chalice_app

    server = make_server("127.0.0.1", 0, LambdaGateway(chalice_app.app, lambda_limits), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return RegistryServer(f"http://127.0.0.1:{server.port}", aws, server, thread)


class AWSCalls:
    """Counts AWS API calls made by the registry's botocore clients."""

    def __init__(self) -> None:
        self.calls: Counter = Counter()
        self._clients: list = []

    def _handler(self, event_name: str, **kwargs: Any) -> None:
        # event name: before-call.<service>.<Operation>
        _, service, op = event_name.split(".", 2)
        self.calls[f"{service}.{op}"] += 1

    def attach(self) -> "AWSCalls":
        from chalicelib import bootstrap

        for client in (bootstrap.s3_client(), bootstrap.dynamodb_client()):
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

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

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
