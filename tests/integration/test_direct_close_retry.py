"""A closing PUT cut short (API Gateway's 29 s limit, a crash, a dropped connection) is
repeated by the client: the registry loses only that call's slice of work, and a 201
lost on the way shows as the blob being there. The fault is a real HTTP proxy between
the client and the registry that breaks the first closing answer; everything else,
registry and strict S3 included, is real."""
from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
import requests

from client.direct import BytesSource, push_blob
from direct_support import MIB, blob_visible, pull, settings, token  # noqa: F401 (autouse fixture)
from support import sha256

pytestmark = pytest.mark.backends("strict")


class FaultyProxy:
    """Forwards to `upstream`; the first `PUT …?digest=` gets a 504 instead of the answer,
    after the registry handled it (`forward=True`) or without reaching it."""

    def __init__(self, upstream: str, forward: bool) -> None:
        self.broken = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                closing = self.command == "PUT" and "digest=" in self.path and "/blobs/uploads/" in self.path
                if closing and not proxy.broken:
                    proxy.broken += 1
                    if forward:
                        requests.put(upstream + self.path, data=body, headers=headers, allow_redirects=False)
                    self._answer(504, {"Content-Type": "application/json"}, b'{"message":"timed out"}')
                    return
                r = requests.request(self.command, upstream + self.path, data=body, headers=headers,
                                     allow_redirects=False)
                self._answer(r.status_code, {k: v for k, v in r.headers.items()
                                             if k.lower() not in ("content-length", "transfer-encoding",
                                                                  "connection", "content-encoding")}, r.content)

            def _answer(self, status: int, headers: dict, body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v.replace(upstream, self.proxy_url) if k.lower() == "location" else v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        Handler.proxy_url = self.url  # type: ignore[attr-defined]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=[True, False], ids=["answer-lost", "call-lost"])
def proxy(registry, request) -> Iterator[FaultyProxy]:
    p = FaultyProxy(registry.url, forward=request.param)
    yield p
    p.stop()


@pytest.mark.parametrize("size,how", [(MIB + 3, "put"), (11 * MIB, "staged"), (11 * MIB, "in-place")],
                         ids=["single-put", "multipart-staged", "multipart-in-place"])
def test_a_close_cut_short_is_repeated(client, repo, proxy, size, how):
    data = os.urandom(size)
    # the client's session (its token) sends the registry requests through the proxy; 11 MiB
    # with the digest in the plan is one PUT unless the single-PUT limit is below it
    with settings(direct_put_max=MIB if how == "in-place" else 64 * MIB):
        digest = push_blob(client.http, proxy.url, repo, BytesSource(data), part_size=5 * MIB,
                           single_put=how != "staged")
    assert digest == sha256(data) and proxy.broken == 1
    assert blob_visible(client, repo, digest)
    assert pull(client, repo, digest) == digest
