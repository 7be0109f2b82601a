"""A small threaded HTTP/1.1 WSGI server that keeps connections open: the registry's
local server (`python -m local`) and the in-memory AWS of `REGISTRY_EMBEDDED=memory`.

werkzeug's development server closes every connection after one response, so each
request paid a TCP connect, a new server thread and a teardown: about 4.4 ms of CPU per
DynamoDB GetItem against moto, and a third of a manifest HEAD's CPU in the local server.
Here a connection serves request after request on one thread (clients and the AWS SDK
pool them). The request body streams to the app (bounded by Content-Length, or de-chunked
to its end, as werkzeug's server presents it); what the app leaves unread is drained after
the answer (up to DRAIN_BYTES; past that the connection is closed), so a client still
sending reads the answer, and the next request line can be read. `whole_body=True` hands
the app the body read whole, with its length set (what moto expects). TLS handshakes
happen on the connection's thread, so a client that connects and stalls holds only its own.
"""
from __future__ import annotations

import io
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional
from urllib.parse import unquote

from .http_bodies import DEADLINES, ChunkedBody, ContinueFirst, LengthBody
from .wsgi_io import gateway_error


_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
DRAIN_BYTES = 1 << 30            # more unread body than this: close instead of reading it
DRAIN_STALL_SECONDS = 5.0
IDLE_SECONDS = 120.0             # an idle (or stalled) connection is closed after this
HEAD_SECONDS = 10.0              # a TLS handshake, and a request line with its headers, once begun
_DROPPED = (ConnectionError, socket.timeout, ssl.SSLError, OSError)
MAX_CONNECTIONS = 1024           # open at once; more are answered 429 and closed
_BUSY_BODY = b'{"errors": [{"code": "TOOMANYREQUESTS", "message": "too many open connections; retry shortly"}]}'
_BUSY = (b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
         b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "oci-registry-local"
    server: "KeepAliveServer"
    timeout = IDLE_SECONDS

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        try:
            if isinstance(self.connection, ssl.SSLSocket):
                key = DEADLINES.arm(self.connection, self.server.head_seconds)
                try:
                    self.connection.do_handshake()
                finally:
                    DEADLINES.disarm(key)
            super().handle()
        except _DROPPED:
            pass   # the client went away (or never finished the TLS handshake)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:   # noqa: A002 - the base's name
        if self.server.access_log:
            super().log_message(format, *args)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        if self.server.access_log:
            super().log_request(code, size)

    def handle_expect_100(self) -> bool:
        self._continue = ContinueFirst(self.rfile, self.wfile)   # sent on the body's first read
        return True

    def _body_unasked(self) -> bool:
        """The client waits for a 100 Continue that was never sent: it has sent no body."""
        return self._continue is not None and not self._continue.sent

    def _body(self) -> Any:
        """The request body's reader; a str (the reason) for framing that cannot be trusted,
        answered with 400 and a closed connection, as a proxy in front may frame it otherwise."""
        codings = [c.strip().lower() for v in self.headers.get_all("Transfer-Encoding", [])
                   for c in v.split(",") if c.strip()]
        lengths = {v.strip() for v in self.headers.get_all("Content-Length", [])}
        if codings:
            if codings != ["chunked"]:
                return f"unsupported Transfer-Encoding {', '.join(codings)!r} (only chunked)"
            if lengths:
                return "both Content-Length and Transfer-Encoding"
            return ChunkedBody(self._continue or self.rfile)
        if len(lengths) > 1:
            return "conflicting Content-Length values"
        raw = lengths.pop() if lengths else "0"
        if not raw.isdigit() or not raw.isascii():
            return "Content-Length is not a number"
        return LengthBody(self._continue or self.rfile, int(raw))

    def _environ(self, body: Any) -> dict:
        path, _, query = self.path.partition("?")
        tls = isinstance(self.connection, ssl.SSLSocket)
        env = {
            "REQUEST_METHOD": self.command, "SCRIPT_NAME": "", "PATH_INFO": unquote(path, "latin-1"),
            "RAW_URI": self.path, "REQUEST_URI": self.path,
            "QUERY_STRING": query, "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]), "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0], "REMOTE_PORT": str(self.client_address[1]),
            "wsgi.input": body, "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0), "wsgi.url_scheme": "https" if tls else "http", "wsgi.multithread": True,
            "wsgi.multiprocess": False, "wsgi.run_once": False,
        }
        if isinstance(body, ChunkedBody):
            env["wsgi.input_terminated"] = True   # no length: the stream ends itself
        elif "Content-Length" in self.headers:    # as sent: a GET without one has none
            env["CONTENT_LENGTH"] = str(body.left)
        if self.server.whole_body:
            data = body.read()
            env.update({"wsgi.input": io.BytesIO(data), "CONTENT_LENGTH": str(len(data))})
            env.pop("wsgi.input_terminated", None)
        content_type = self.headers.get("Content-Type")
        if content_type is not None:
            env["CONTENT_TYPE"] = content_type
        for name, value in self.headers.items():
            if "_" in name:
                continue  # WSGI cannot tell X_Foo from X-Foo: one could spoof the other
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH", "TRANSFER_ENCODING"):
                continue   # the body's length and chunking are the server's business
            key = "HTTP_" + key
            env[key] = f"{env[key]},{value}" if key in env else value
        return env

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        """What the server itself refuses (framing, request line, headers, a failed app) in
        the registry's error format, with its security headers (the gateway's own refusals,
        wsgi_io.gateway_error), and the connection closed: http.server's own answer is an
        HTML page without them."""
        short = self.responses.get(code, ("Error",))[0]
        reason = message or short
        code_name = "UNKNOWN" if code >= 500 else "SIZE_INVALID" if code in (413, 414, 431) else "UNSUPPORTED"
        error = gateway_error(code, code_name, {"reason": explain or reason})
        body = error["body"].encode()
        self.log_error("code %d, message %s", code, reason)
        self.close_connection = True
        self.send_response(code, short)
        for name, value in {**error["headers"], "Connection": "close", "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def _run(self) -> None:
        body = self._body()
        if isinstance(body, str):
            self.close_connection = True
            self.send_error(400, body)
            return
        started: list = []

        def start_response(status: str, headers: list, exc_info: Optional[Any] = None) -> Callable:
            started[:] = [status, headers]
            return lambda data: None  # the write() callable: unused by the apps served here

        try:
            result = self.server.app(self._environ(body), start_response)
        except Exception:  # noqa: BLE001 - the app failed before answering: a 500, then close
            self.server.handle_error(self.connection, self.client_address)
            self.close_connection = True
            self.send_error(500)
            return
        try:
            self._send(started, result)
        except Exception:
            self.close_connection = True   # headers may be out already: only closing tells the client
            raise
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        unread = not self._body_unasked() and not body.finished()
        if unread and not self._drain(body, self.server.drain_bytes):
            self.close_connection = True

    def _send(self, started: list, result: Any) -> None:
        chunks = iter(result)
        first = next(chunks, b"")    # the app calls start_response by its first chunk
        status, headers = started
        if self._body_unasked():
            # answered without asking for the body: whether the client sends it anyway is
            # unknown, so the connection cannot carry another request (and nothing is drained)
            self.close_connection = True
        code = int(status.partition(" ")[0])
        self.send_response(code, status.partition(" ")[2])
        length = None
        for name, value in headers:
            low = name.lower()
            if low == "content-length":
                length = value
            elif low == "connection" and value.strip().lower() == "close":
                self.close_connection = True
            if low not in _HOP:
                self.send_header(name, value)
        no_body = self.command == "HEAD" or code in (204, 304) or 100 <= code < 200
        if no_body:
            if length is not None and code != 204 and code >= 200:   # RFC 9110: none on 204 or 1xx
                self.send_header("Content-Length", length)   # HEAD: the size of what GET returns
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            return
        if length is None:   # unknown length: gather it (the apps here answer from memory)
            first = first + b"".join(chunks)
            length = str(len(first))
        self.send_header("Content-Length", length)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if first:
            self.wfile.write(first)
        for chunk in chunks:
            if chunk:
                self.wfile.write(chunk)

    def _drain(self, body: Any, limit: int) -> bool:
        """Read and drop what is left of the body, so a client still sending it gets to read
        the answer (a refusal's above all: a client whose upload is cut short reports a broken
        pipe, not the 413 and its reason) and the next request line can be read. False when
        there is more than `limit`, the client stalls for DRAIN_STALL_SECONDS, or the body is
        broken: the connection must close then."""
        self.connection.settimeout(DRAIN_STALL_SECONDS)
        try:
            while limit > 0:
                chunk = body.read(min(limit, 1 << 20))
                if not chunk:
                    break
                limit -= len(chunk)
        except (OSError, ValueError):
            return False
        self.connection.settimeout(self.timeout)
        return bool(body.finished())

    def handle_one_request(self) -> None:
        self._continue: Optional[ContinueFirst] = None
        if not self.rfile.peek(1):   # idle until a request begins (up to IDLE_SECONDS)...
            self.close_connection = True
            return
        key = DEADLINES.arm(self.connection, self.server.head_seconds)   # ...then its head is due
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.send_error(414)
                self.close_connection = True
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if len(self.raw_requestline.split()) == 2:   # HTTP/0.9: no version, no headers to wait for
                self.close_connection = True
                return
            if not self.parse_request():
                return
        finally:
            DEADLINES.disarm(key)
        self._run()
        self.wfile.flush()


class KeepAliveServer(ThreadingHTTPServer):
    """serve_forever() (in a thread: start()); shutdown() then server_close() to stop."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, host: str, port: int, app: Callable, whole_body: bool = False,
                 ssl_context: Optional[ssl.SSLContext] = None, access_log: bool = False,
                 drain_bytes: int = DRAIN_BYTES, max_connections: int = MAX_CONNECTIONS,
                 head_seconds: float = HEAD_SECONDS) -> None:
        self.app = app
        self.head_seconds = head_seconds
        self.drain_bytes = drain_bytes
        self._slots = threading.BoundedSemaphore(max_connections)
        self.whole_body = whole_body
        self.access_log = access_log
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True,
                                                  do_handshake_on_connect=False)

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread per connection, up to max_connections open at once; past that a new one
        gets a 429 at once and is closed (each open connection holds a thread until idle)."""
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(_BUSY)
            except (OSError, ValueError):
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> "KeepAliveServer":
        threading.Thread(target=self.serve_forever, name="keepalive-server", daemon=True).start()
        return self
