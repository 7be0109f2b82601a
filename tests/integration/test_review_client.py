"""The client and its push gateway with a hostile or broken server (docs/security.md):
credentials never leave the upstream's origin (absolute Locations, cross-host redirects,
token renewals), answers are read with caps, and URLs the gateway rewrites point at the
gateway itself, not at a Host header the client made up."""
from __future__ import annotations

import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import pytest
import requests

from client.direct import DirectUpload, DirectUploadError
from client.gateway import Gateway, Handler
from client.gateway_auth import ForwardedAuth, TokenBook

MIB = 1024 * 1024


class Server:
    """A tiny HTTP server: records (path, Authorization) and answers with `answer(handler)`."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.seen: list[tuple[str, str]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def _any(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                outer.seen.append((self.path, self.headers.get("Authorization") or ""))
                answer(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_HEAD = _any

            def log_message(self, *a) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.huge = queue.Queue()  # type: ignore[attr-defined]  # outcomes of _huge bodies
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.alias = f"http://localhost:{self.httpd.server_address[1]}"  # same server, another host name

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _send(h: BaseHTTPRequestHandler, status: int, body: bytes = b"", **headers: str) -> None:
    h.send_response(status)
    for k, v in headers.items():
        h.send_header(k.replace("_", "-"), v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def _huge(h: BaseHTTPRequestHandler) -> None:
    """200 with a body that never ends (chunked): only a cap stops the reader."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    chunk = b"[" * 65536
    try:
        for _ in range(64 * 16):  # 64 MiB at most
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        h.wfile.write(b"0\r\n\r\n")
        h.server.huge.put("whole")  # type: ignore[attr-defined]
    except OSError:
        h.server.huge.put("cut")  # type: ignore[attr-defined]  # the reader hung up early


def _was_cut(server: "Server") -> bool:
    """True when the reader hung up before the never-ending body was sent whole (by order,
    not by the clock)."""
    return server.httpd.huge.get(timeout=60) == "cut"  # type: ignore[attr-defined]


@pytest.fixture
def elsewhere():
    s = Server(lambda h: _send(h, 401, b"{}"))
    yield s
    s.close()


def test_credentials_stay_with_the_upstream(elsewhere):
    upstream = Server(lambda h: _send(h, 307, Location=f"{elsewhere.alias}/stolen") if h.path == "/redirect"
                      else _send(h, 200, b"{}"))
    try:
        http = requests.Session()
        book = TokenBook(upstream.url, http)
        book.record("/token?scope=x", "Basic Y2xpZW50OnB3", b'{"token": "tok"}')
        http.auth = ForwardedAuth("Bearer tok", book)
        assert http.get(upstream.url + "/v2/x").status_code == 200
        assert http.get(upstream.url + "/redirect").status_code == 401  # followed to another host
        assert http.put(elsewhere.alias + "/v2/abs/location", data=b"x").status_code == 401
        assert upstream.seen[0] == ("/v2/x", "Bearer tok")
        assert [a for _, a in elsewhere.seen] == ["", ""]  # no token, and no renewal sent there
    finally:
        upstream.close()


def test_token_renewal_is_capped_and_never_redirected(elsewhere):
    upstream = Server(lambda h: _send(h, 307, Location=f"{elsewhere.alias}/t") if h.path.startswith("/moved")
                      else _huge(h))
    try:
        book = TokenBook(upstream.url, requests.Session())
        book.record("/token?scope=x", "Basic Y2xpZW50OnB3", b'{"token": "a"}')
        book.record("/moved?scope=y", "Basic Y2xpZW50OnB3", b'{"token": "b"}')
        assert book.renew("Bearer a") is None  # a 64 MiB answer is not read whole
        assert _was_cut(upstream)
        assert book.renew("Bearer b") is None
        assert elsewhere.seen == []  # the client's Basic credentials never went to the other host
    finally:
        upstream.close()


@pytest.mark.parametrize("call", ["plan", "status"])
def test_direct_upload_answers_are_capped(call):
    server = Server(lambda h: _send(h, 202, Location="/v2/x/blobs/uploads/u1", **{"OCI-Direct-Upload": "v1"})
                    if h.command == "POST" and h.path.endswith("/uploads/") else _huge(h))
    try:
        up = DirectUpload(requests.Session(), server.url, "x")
        assert up.open()
        with pytest.raises(DirectUploadError, match="at most 16 MiB"):
            up.plan(10) if call == "plan" else up.status()
    finally:
        server.close()


def test_gateway_urls_ignore_a_forged_host(registry):
    gw = Gateway(registry.url)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (Handler,), {"gw": gw}))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    try:
        r = requests.get(f"http://127.0.0.1:{port}/v2/", headers={"Host": "evil.example:1234"})
        assert r.status_code == 401
        challenge = r.headers["WWW-Authenticate"]
        assert "evil.example" not in challenge and f'realm="http://127.0.0.1:{port}/token"' in challenge
        r = requests.post(f"http://127.0.0.1:{port}/v2/test/gwhost/blobs/uploads/", auth=registry.admin,
                          headers={"Host": "evil.example"}, allow_redirects=False)
        assert "evil.example" not in r.headers.get("Location", "") + r.headers.get("WWW-Authenticate", "")
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_cli_client_caps_manifests_and_token_answers():
    from client.api import ClientError
    from client.registry import Repo, parse_ref

    def answer(h: BaseHTTPRequestHandler) -> None:
        if h.path.startswith("/token"):
            return _huge(h)
        if "/manifests/big" in h.path:
            return _huge(h)
        if not h.headers.get("Authorization") and "/private/" in h.path:
            return _send(h, 401, b"{}", WWW_Authenticate=f'Bearer realm="{server.url}/token",service="x"')
        return _send(h, 404, b"{}")

    server = Server(answer)
    try:
        host = server.url.split("//", 1)[1]
        with pytest.raises(ClientError, match="over 8 MiB"):
            Repo(parse_ref(f"{host}/open/app:big"), creds=None).get_manifest("big")
        assert _was_cut(server)
        with pytest.raises((ClientError, requests.RequestException)):
            Repo(parse_ref(f"{host}/private/app:v1"), creds=None).get_manifest("v1")
        assert _was_cut(server)
    finally:
        server.close()
