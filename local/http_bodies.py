"""Request bodies and head deadlines of the local HTTP server (local/keepalive.py)."""
from __future__ import annotations

import io
import re
import socket
import threading
import time
from typing import Any, Optional


class LengthBody(io.RawIOBase):
    """The body of a request with a Content-Length: reads stop at its end."""

    def __init__(self, rfile: Any, length: int) -> None:
        self._rfile = rfile
        self.left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self.left <= 0 or not len(buf):
            return 0
        got = self._rfile.readinto(memoryview(buf)[:min(len(buf), self.left)])   # straight in
        if not got:
            raise ConnectionError("the client closed the connection before the end of the body")
        self.left -= got
        return int(got)

    def finished(self) -> bool:
        return self.left <= 0


class ContinueFirst:
    """The connection's reader for a request that sent `Expect: 100-continue`: the interim
    100 goes out when the app first reads the body, so a request refused unread (a 413 from
    its Content-Length) never makes the client send its body."""

    def __init__(self, rfile: Any, wfile: Any) -> None:
        self._rfile, self._wfile = rfile, wfile
        self.sent = False

    def _go(self) -> None:
        if not self.sent:
            self.sent = True
            self._wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._wfile.flush()

    def read(self, n: int = -1) -> bytes:
        self._go()
        return bytes(self._rfile.read(n))

    def readline(self, limit: int = -1) -> bytes:
        self._go()
        return bytes(self._rfile.readline(limit))

    def readinto(self, buf: Any) -> int:
        self._go()
        return int(self._rfile.readinto(buf))


class ChunkedBody(io.RawIOBase):
    """A `Transfer-Encoding: chunked` body, de-chunked. Strict: a chunk size is 1-16 hex
    digits (extensions after `;` ignored), each chunk ends with CRLF (or LF), trailers end
    with an empty line, and a body cut short is an error. (werkzeug's DechunkedInput, used
    before, let a short read shrink the caller's buffer while reporting it full: CPython
    then copied past its end, and one crafted request crashed the server.)"""

    _SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")

    def __init__(self, rfile: Any) -> None:
        self._rfile = rfile
        self._left = 0          # bytes of the current chunk still to read
        self._done = False

    def readable(self) -> bool:
        return True

    def finished(self) -> bool:
        return self._done

    def _line(self) -> bytes:
        line = self._rfile.readline(8194)
        if not line.endswith(b"\n"):
            raise OSError("chunked body: a line cut short or too long")
        return line.rstrip(b"\r\n")

    def _next_chunk(self) -> None:
        size = self._line().split(b";", 1)[0].strip(b" \t")
        if not self._SIZE.fullmatch(size):
            raise OSError("chunked body: invalid chunk size")
        self._left = int(size, 16)
        if self._left == 0:
            for _ in range(100):   # trailer fields, then the empty line
                if not self._line():
                    self._done = True
                    return
            raise OSError("chunked body: too many trailer lines")

    def readinto(self, buf: Any) -> int:
        view = memoryview(buf).cast("B")
        if self._done or not len(view):
            return 0
        if self._left == 0:
            self._next_chunk()
            if self._done:
                return 0
        want = min(len(view), self._left)
        got = self._rfile.readinto(view[:want])
        if not got:
            raise ConnectionError("the client closed the connection inside a chunk")
        self._left -= got
        if self._left == 0 and self._line() != b"":
            raise OSError("chunked body: a chunk does not end where its size says")
        return int(got)


class Deadlines:
    """Shuts the sockets whose request head is not complete in time. The idle timeout is
    per read, so a client trickling a byte every minute (slowloris) would hold its
    connection, and one of the server's slots, for good; one watchdog thread per process
    wakes twice a second and ends those."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: dict[int, tuple[float, socket.socket]] = {}
        self._thread: Optional[threading.Thread] = None

    def arm(self, sock: socket.socket, seconds: float) -> int:
        with self._lock:
            self._due[id(sock)] = (time.monotonic() + seconds, sock)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="head-deadlines", daemon=True)
                self._thread.start()
        return id(sock)

    def disarm(self, key: int) -> None:
        with self._lock:
            self._due.pop(key, None)

    def _watch(self) -> None:
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            with self._lock:   # under the lock: a head completed (disarmed) is never cut after
                for key in [k for k, (due, _) in self._due.items() if due <= now]:
                    try:
                        self._due.pop(key)[1].shutdown(socket.SHUT_RDWR)   # the blocked read returns
                    except OSError:
                        pass


DEADLINES = Deadlines()
