"""A small threaded HTTP/1.1 WSGI server that keeps connections open, for apps that
answer from memory (the in-memory AWS of `REGISTRY_EMBEDDED=memory`).

werkzeug's development server closes every connection after one response, so each
AWS SDK call paid a TCP connect, a new server thread and a teardown: about 4.4 ms of
CPU per DynamoDB GetItem against moto on this machine, most of the test suite's time.
Here a connection serves request after request on one thread (the AWS SDK pools them).
Request bodies are read whole (Content-Length or chunked) and responses are sent with a
Content-Length, which is all an in-memory backend needs; it is not a general server.
"""
from __future__ import annotations

import io
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "KeepAliveServer"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:   # noqa: A002 - the base's name
        pass  # one line per SDK call would drown the server's own log

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass   # trailers
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _environ(self, body: bytes) -> dict:
        path, _, query = self.path.partition("?")
        from urllib.parse import unquote

        env = {
            "REQUEST_METHOD": self.command, "SCRIPT_NAME": "", "PATH_INFO": unquote(path, "latin-1"),
            "RAW_URI": self.path, "REQUEST_URI": self.path,
            "QUERY_STRING": query, "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]), "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0], "REMOTE_PORT": str(self.client_address[1]),
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.multithread": True,
            "wsgi.multiprocess": False, "wsgi.run_once": False,
        }
        content_type = self.headers.get("Content-Type")
        if content_type is not None:
            env["CONTENT_TYPE"] = content_type
        for name, value in self.headers.items():
            if "_" in name:
                continue  # WSGI cannot tell X_Foo from X-Foo: one could spoof the other
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH", "TRANSFER_ENCODING"):
                continue   # the body is read whole: its length is known, any chunking undone
            key = "HTTP_" + key
            env[key] = f"{env[key]},{value}" if key in env else value
        return env

    def _run(self) -> None:
        body = self._body()
        started: list = []

        def start_response(status: str, headers: list, exc_info: Optional[Any] = None) -> Callable:
            started[:] = [status, headers]
            return lambda data: None  # the write() callable: unused by the apps served here

        result = self.server.app(self._environ(body), start_response)
        try:
            payload = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        status, headers = started
        code, _, reason = status.partition(" ")
        self.send_response_only(int(code), reason)
        length = None
        for name, value in headers:
            if name.lower() == "content-length":
                length = value
            if name.lower() not in _HOP:
                self.send_header(name, value)
        no_body = self.command == "HEAD" or int(code) in (204, 304) or 100 <= int(code) < 200
        if no_body:
            if length is not None:
                self.send_header("Content-Length", length)   # HEAD: the size of what GET returns
            payload = b""
        else:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._run()
            self.wfile.flush()
        except (ConnectionError, socket.timeout):
            self.close_connection = True


class KeepAliveServer(ThreadingHTTPServer):
    """serve_forever() in a thread; shutdown() then server_close() to stop."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, host: str, port: int, app: Callable) -> None:
        self.app = app
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> "KeepAliveServer":
        threading.Thread(target=self.serve_forever, name="keepalive-server", daemon=True).start()
        return self
