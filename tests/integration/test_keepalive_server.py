"""The local server's HTTP/1.1 layer (local/keepalive.py) over real sockets: connections
kept open across requests, bodies streamed and the unread rest drained, chunked bodies,
refusals that close, TLS handshakes on the connection's own thread."""
from __future__ import annotations

import hashlib
import json
import http.client
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from local.keepalive import KeepAliveServer

DRAIN_BYTES = 8 * 1024 * 1024   # the servers here drain this much at most


def _app(environ: dict, start_response: Callable) -> Any:
    """Echo: the SHA-256 of as much of the body as `?read=N` asks for (all by default)."""
    query = dict(p.split("=", 1) for p in environ["QUERY_STRING"].split("&") if "=" in p)
    stream = environ["wsgi.input"]
    if "boom" in query:
        raise RuntimeError("the app failed")
    want = int(query.get("read", -1))
    try:
        data = stream.read() if want < 0 else stream.read(want)
    except OSError:   # a malformed chunked body (as the registry's gateway answers it)
        start_response("400 Bad Request", [("Content-Length", "0"), ("Connection", "close")])
        return [b""]
    body = f"{environ['REQUEST_METHOD']} {len(data)} {hashlib.sha256(data).hexdigest()} " \
           f"{environ['REMOTE_PORT']}".encode()
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    if "close" in query:
        headers.append(("Connection", "close"))
    start_response("200 OK", headers)
    return [body]


@pytest.fixture()
def server() -> Iterator[KeepAliveServer]:
    srv = KeepAliveServer("127.0.0.1", 0, _app, drain_bytes=DRAIN_BYTES).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _answer(conn: http.client.HTTPConnection, method: str, url: str, body: Any = None,
            headers: Any = None) -> list[str]:
    conn.request(method, url, body=body, headers=headers or {})
    resp = conn.getresponse()
    text = resp.read().decode()
    assert resp.status == 200, text
    return text.split()


def test_one_connection_serves_many_requests(server: KeepAliveServer):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    ports = {_answer(conn, "GET", "/x")[3] for _ in range(5)}
    assert len(ports) == 1   # the same client port: one TCP connection for all five


def test_bodies_stream_to_the_app_and_what_it_leaves_unread_is_drained(server: KeepAliveServer):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    body = bytes(range(256)) * 4096   # 1 MiB
    method, size, digest, port = _answer(conn, "PUT", "/x", body)
    assert (method, int(size), digest) == ("PUT", len(body), hashlib.sha256(body).hexdigest())
    # the app reads 10 bytes of 1 MiB; the rest is dropped and the next request is read right
    assert _answer(conn, "PATCH", "/x?read=10", body)[1] == "10"
    assert _answer(conn, "GET", "/x")[1:] == ["0", hashlib.sha256(b"").hexdigest(), port]


def test_chunked_bodies_arrive_whole(server: KeepAliveServer):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    parts = [b"a" * 1000, b"b" * 70000, b"c"]
    conn.request("PUT", "/x", body=iter(parts), encode_chunked=True)
    resp = conn.getresponse()
    _, size, digest, _ = resp.read().decode().split()
    assert int(size) == 71001 and digest == hashlib.sha256(b"".join(parts)).hexdigest()
    assert _answer(conn, "GET", "/x")[1] == "0"   # and the connection is still usable


def test_a_body_too_large_to_drain_closes_the_connection(server: KeepAliveServer):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    size = DRAIN_BYTES * 4
    sock.sendall(f"PUT /x?read=0 HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())

    def send() -> None:   # more than the server will drain; it stops reading part way
        try:
            sock.sendall(b"z" * (DRAIN_BYTES + 1024 * 1024))
        except OSError:
            pass
    sender = threading.Thread(target=send)
    sender.start()
    got = b""
    while b"\r\n\r\n" not in got:
        got += sock.recv(65536)
    assert got.startswith(b"HTTP/1.1 200")
    sock.settimeout(10)
    try:   # then the server closes (the rest of the body is never read)
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    sender.join(30)
    sock.close()


@pytest.mark.parametrize("request_text, status", [
    (b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", b"400"),
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414"),
    (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", b"431"),
    (b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", b"400"),
    (b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
     b"400"),
    (b"PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc", b"400"),
    (b"PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", b"400"),
    (b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", b"400"),
    (b"PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n", b"400"),
])
def test_malformed_requests_are_refused_and_closed(server: KeepAliveServer, request_text: bytes,
                                                   status: bytes):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_text)
        got = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break   # closed by the server
            got += chunk
    assert got.split(b" ")[1] == status
    head, _, body = got.partition(b"\r\n\r\n")
    if status != b"400" or b"zz" not in request_text:   # the app's own 400 (a bad chunk) aside
        # the registry's error format and security headers, not http.server's HTML page
        assert b"Content-Type: application/json" in head and b"X-Content-Type-Options: nosniff" in head, head
        assert json.loads(body)["errors"][0]["code"] in ("UNSUPPORTED", "SIZE_INVALID"), body


def test_an_app_failure_is_a_500_and_the_server_goes_on(server: KeepAliveServer):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/x?boom=1")
    assert conn.getresponse().status == 500
    conn2 = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    assert _answer(conn2, "GET", "/x")[0] == "GET"


def test_connection_close_from_the_app_and_expect_continue(server: KeepAliveServer):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/x?close=1")
    resp = conn.getresponse()
    resp.read()
    assert resp.getheader("Connection") == "close" and resp.will_close
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 100")
        sock.sendall(b"abc")
        got = b""
        while b"PUT 3 " not in got:
            got += sock.recv(65536)


def test_head_keeps_the_length_and_sends_no_body(server: KeepAliveServer):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("HEAD", "/x")
    resp = conn.getresponse()
    assert resp.status == 200 and int(resp.getheader("Content-Length")) > 0 and resp.read() == b""
    assert _answer(conn, "GET", "/x")[0] == "GET"


def test_a_stalled_tls_client_holds_up_no_one(tmp_path: Path):
    from local.tls import ensure_certificates, server_context

    files = ensure_certificates(str(tmp_path / "tls"), "127.0.0.1")
    srv = KeepAliveServer("127.0.0.1", 0, _app, ssl_context=server_context(files)).start()
    try:
        stalled = socket.create_connection(("127.0.0.1", srv.port), timeout=10)   # never says hello
        time.sleep(0.2)
        ctx = ssl.create_default_context(cafile=str(files.ca_cert))
        conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx, timeout=10)
        assert _answer(conn, "GET", "/x")[0] == "GET"
        assert _answer(conn, "GET", "/x")[0] == "GET"
        stalled.close()
    finally:
        srv.shutdown()
        srv.server_close()


def test_expect_continue_is_answered_only_when_the_app_reads_the_body(server: KeepAliveServer):
    """A request the app answers without reading (a refusal by Content-Length) gets its
    answer at once, no 100 first, and the connection closes: the client never sends it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"PUT /x?read=0 HTTP/1.1\r\nHost: x\r\nContent-Length: 10737418240\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        got = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    assert got.startswith(b"HTTP/1.1 200") and b"100 Continue" not in got
    assert b"Connection: close" in got


def test_content_length_reaches_the_app_only_when_the_client_sent_one():
    seen: list = []

    def app(environ: dict, start_response: Callable) -> Any:
        seen.append(environ.get("CONTENT_LENGTH"))
        environ["wsgi.input"].read()
        start_response("204 No Content", [])
        return [b""]

    srv = KeepAliveServer("127.0.0.1", 0, app).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        for method, body in (("GET", None), ("PUT", b"abc"), ("POST", b"")):
            conn.request(method, "/x", body=body)
            conn.getresponse().read()
    finally:
        srv.shutdown()
        srv.server_close()
    assert seen == [None, "3", "0"]   # the Lambda event then carries the client's headers only


def test_a_204_carries_no_content_length():
    def app(environ: dict, start_response: Callable) -> Any:
        start_response("204 No Content", [("Content-Length", "0"), ("X-Kept", "yes")])
        return [b""]

    srv = KeepAliveServer("127.0.0.1", 0, app).start()
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.sendall(b"DELETE /x HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while got.count(b"\r\n\r\n") < 2:
                got += sock.recv(65536)
    finally:
        srv.shutdown()
        srv.server_close()
    assert got.count(b"HTTP/1.1 204") == 2 and b"X-Kept: yes" in got   # both pipelined answers
    assert b"Content-Length" not in got


def _served_again(port: int) -> http.client.HTTPConnection:
    """A connection answered 200, once the server has freed a slot (within 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/x")
        resp = conn.getresponse()
        resp.read()
        if resp.status == 200 or time.monotonic() > deadline:
            assert resp.status == 200
            return conn
        time.sleep(0.05)


def test_connections_past_the_limit_get_429_and_the_server_recovers():
    srv = KeepAliveServer("127.0.0.1", 0, _app, max_connections=2).start()
    try:
        held = [http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10) for _ in range(2)]
        for conn in held:   # two idle keep-alive connections hold both slots
            assert _answer(conn, "GET", "/x")[0] == "GET"
        extra = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        extra.request("GET", "/x")
        resp = extra.getresponse()
        assert resp.status == 429 and resp.getheader("Retry-After") == "1"
        assert b"TOOMANYREQUESTS" in resp.read()
        held[0].close()
        _served_again(srv.port)   # the slot frees once the server sees the close
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_head_trickled_byte_by_byte_is_cut_off_and_frees_its_slot():
    srv = KeepAliveServer("127.0.0.1", 0, _app, max_connections=1, head_seconds=1.5).start()
    try:
        slow = socket.create_connection(("127.0.0.1", srv.port))
        slow.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n")
        started, closed = time.monotonic(), False
        while time.monotonic() - started < 8:   # a header byte every 0.3 s: never idle 120 s
            try:
                slow.sendall(b"X")
                slow.settimeout(0.3)
                if slow.recv(1024) == b"":
                    closed = True
                    break
            except socket.timeout:
                continue
            except OSError:
                closed = True
                break
        assert closed and time.monotonic() - started < 4   # the 1.5 s head deadline, not 120 s
        conn = _served_again(srv.port)   # its slot is free again
        # an idle keep-alive connection is not a slow head: it stays open past the deadline
        idle = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.close()
        time.sleep(0.2)
        assert _answer(idle, "GET", "/x")[0] == "GET"
        time.sleep(2.5)
        assert _answer(idle, "GET", "/x")[0] == "GET"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("body", [
    b"ffffffffffffffffffff\r\nabc",          # a size of 20 hex digits, then a short chunk
    b"fffffff\r\nabc",                        # a large chunk cut short
    b"10\r\nabc",                             # a small chunk cut short
    b"3\r\nabcX\r\n0\r\n\r\n",                # a chunk longer than its size
    b"zz\r\nabc\r\n0\r\n\r\n",                # not a size
    b"3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n",   # extensions and trailers: fine
])
@pytest.mark.parametrize("read", ["", "?read=2"])
def test_malformed_or_cut_chunked_bodies_are_refused_and_the_server_lives(server: KeepAliveServer,
                                                                         body: bytes, read: str):
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"PATCH /x" + read.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        s.shutdown(socket.SHUT_WR)   # the client sends no more
        s.settimeout(10)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    status = answer.split(b" ", 2)[1]
    if body.startswith(b"3;ext"):
        assert status == b"200" and answer.split(b"\r\n\r\n", 1)[1].split()[1] == (b"2" if read else b"3")
    else:
        assert status in (b"400", b"200"), answer[:200]   # 200: the app read only 2 bytes of a chunk
        if not read:
            assert status == b"400"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    assert _answer(conn, "GET", "/x")[0] == "GET"   # the server lives on


def test_an_http_0_9_request_is_closed_at_once(server: KeepAliveServer):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"GET /x\r\n")
        started = time.monotonic()
        assert s.recv(65536) == b"" and time.monotonic() - started < 3
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    assert _answer(conn, "GET", "/x")[0] == "GET"
