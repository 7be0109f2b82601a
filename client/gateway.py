"""The local push gateway: stock clients push blobs of any size to a registry behind Lambda.

    regcli gateway --registry https://registry.example.com --port 5001
    skopeo copy oci:./img docker://127.0.0.1:5001/acme/app:v1 --dest-tls-verify=false

Every request passes through unchanged (the token dance too: the client's own
Authorization header is forwarded; gateway_auth.py says how an expiring token is
renewed), except blob upload bodies of sessions where the registry offers direct
uploads (`OCI-Direct-Upload` on the POST): PATCH/PUT bodies are written to a spool file
(memory: the parts in flight, at most 128 MiB in all) and answered as a registry would (202 + Range,
Location pointing at the gateway) while their parts already go to S3 in parallel
(gateway_spool.py); at the closing `PUT ?digest=` the gateway checks the digest, waits
for the last parts (or sends the spooled file when the client gave no length), closes
the session upstream and answers 201. Registries without the extension see plain
pass-through.
"""
from __future__ import annotations

import io
import json
import re
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, Optional

import requests

from .api import ClientError
from .direct import DirectUploadError, push_blob
from .gateway_auth import own_base
from .gateway_spool import Spool
from .gateway_state import Gateway
from .upload import Blob

BLOCK = 1024 * 1024
CLIENT_IDLE_S = 60
HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
       "transfer-encoding", "upgrade", "host", "content-length"}
SESSION = re.compile(r"/v2/(?P<name>.+)/blobs/uploads/(?P<id>[^/?]+)")
START = re.compile(r"/v2/(?P<name>.+)/blobs/uploads/?")


class _Sized(io.RawIOBase):
    """A body of known length for requests (a bare generator would be sent chunked)."""

    def __init__(self, blocks: Iterator[bytes], length: int) -> None:
        super().__init__()
        self.blocks, self.length, self.buf = blocks, length, b""

    def __len__(self) -> int:
        return self.length

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        # hands out whole blocks (up to 1 MiB) whatever http.client asks for
        data = self.buf or next(self.blocks, b"")
        self.buf = b""
        self.length -= len(data)
        return data


def _oci_error(code: str, message: str, detail: Any = None) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": detail or {}}]}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    gw: Gateway  # set on the subclass made by serve()
    # a client that sends nothing for this long (a body stalled mid-way, an idle keep-alive)
    # is let go: its upload is parked (its part memory freed, its session lock released)
    timeout = CLIENT_IDLE_S

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: the JSON/event log says what matters
        pass

    # -- plumbing ---------------------------------------------------------------------
    def _body(self) -> Iterator[bytes]:
        """The request body in blocks, whether Content-Length or chunked."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                while size:
                    data = self.rfile.read(min(size, BLOCK))
                    if not data:
                        raise ConnectionError("client went away")
                    size -= len(data)
                    yield data
                self.rfile.readline(1024)
            return
        left = int(self.headers.get("Content-Length") or 0)
        if left < 0:
            raise ValueError("negative Content-Length")
        while left:
            data = self.rfile.read(min(left, BLOCK))
            if not data:
                raise ConnectionError("client went away")
            left -= len(data)
            yield data

    def _send(self, status: int, headers: dict, body: bytes = b"") -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, err: ClientError) -> None:
        status = err.status or 502
        code = err.code if err.code and err.code.isupper() and len(err.code) > 2 else "BLOB_UPLOAD_INVALID"
        body = _oci_error(code, str(err.args[0]), err.detail)
        headers = {"Content-Type": "application/json"}
        if err.headers is not None and err.headers.get("WWW-Authenticate"):
            headers["WWW-Authenticate"] = self._rewrite(err.headers["WWW-Authenticate"])
        self._send(status, headers, body)

    def _rewrite(self, value: str) -> str:
        """Upstream absolute URLs (Location, token realm) point back at the gateway's own
        address, never at the client's Host (gateway_auth.own_base says why)."""
        self.gw.book.note_challenge(value)
        return value.replace(self.gw.upstream, own_base(self.server.server_address, self.headers.get("Host")))

    # -- pass-through -----------------------------------------------------------------
    def _forward(self) -> Optional[requests.Response]:
        headers: dict[str, str] = {}
        for k in self.headers.keys():  # repeated headers (Accept!) are joined, not dropped
            if k.lower() not in HOP and k.lower() != "expect" and k not in headers:
                headers[k] = ", ".join(self.headers.get_all(k) or [])
        body: Any = None
        length = self.headers.get("Content-Length")
        if length is not None and int(length) <= 16 * BLOCK:
            body = b"".join(self._body())
        elif length is not None:  # streamed through with its length (not re-chunked)
            body = _Sized(self._body(), int(length))
        elif "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = self._body()  # requests re-chunks it
        try:
            r = self.gw.http.request(self.command, self.gw.upstream + self.path, headers=headers, data=body,
                                     allow_redirects=False, stream=True, timeout=300)
        except requests.RequestException as err:
            self._error(ClientError(f"cannot reach {self.gw.upstream}: {err}"))
            return None
        return r

    def _relay(self, r: requests.Response) -> None:
        self.send_response(r.status_code)
        for k, v in r.headers.items():
            low = k.lower()
            if low in HOP:
                continue
            if low in ("location", "www-authenticate"):
                v = self._rewrite(v)
            self.send_header(k, v)
        length = r.headers.get("Content-Length")
        if self.command == "HEAD" or r.status_code in (204, 304):
            self.send_header("Content-Length", length or "0")
            self.end_headers()
            r.close()
            return
        if length is None:  # streamed to the client in chunks: memory stays bounded
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while True:
                data = r.raw.read(BLOCK, decode_content=False)
                if not data:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
            r.close()
            return
        self.send_header("Content-Length", length)
        self.end_headers()
        while True:
            data = r.raw.read(BLOCK, decode_content=False)
            if not data:
                break
            self.wfile.write(data)
        r.close()

    def _handle(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        m = SESSION.fullmatch(path)
        spool = self.gw.get(path) if m else None
        try:
            if spool is not None:
                return self._session(spool, path)
            if self.command == "POST" and START.fullmatch(path):
                return self._start(path)
            if self.command == "GET" and self.gw.book.is_realm(path):
                return self._token()
            r = self._forward()
            if r is not None:
                if self.command in ("HEAD", "GET") and r.status_code in (200, 307, 404):
                    (self.gw.hints.missing if r.status_code == 404 else self.gw.hints.found)(path)
                self._relay(r)
        except ClientError as err:
            self._error(err)
        except (ValueError, ConnectionError) as err:  # a malformed body framing, or the client left
            self.close_connection = True
            try:
                self._send(400, {"Content-Type": "application/json"},
                           _oci_error("BLOB_UPLOAD_INVALID", f"unreadable request body: {err}"))
            except OSError:
                pass

    do_GET = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_POST = do_OPTIONS = _handle

    def _token(self) -> None:
        """A token request, relayed; the gateway notes how to ask again (gateway_auth.py)."""
        r = self._forward()
        if r is None:
            return
        if r.status_code != 200:
            return self._relay(r)
        body = r.raw.read((1 << 20) + 1, decode_content=True)
        r.close()
        if len(body) > 1 << 20:
            return self._error(ClientError("the token endpoint's answer is over 1 MiB", status=502))
        self.gw.book.record(self.path, self.headers.get("Authorization"), body)
        self._send(200, {k: v for k, v in r.headers.items() if k.lower() != "content-encoding"}, body)

    # -- uploads ------------------------------------------------------------------------
    def _start(self, path: str) -> None:
        r = self._forward()
        if r is None:
            return
        direct = r.status_code == 202 and r.headers.get("OCI-Direct-Upload", "").lower().startswith("v1")
        if not direct:
            return self._relay(r)
        r.close()
        name = START.fullmatch(path).group("name")  # type: ignore[union-attr]
        location = requests.compat.urljoin(self.gw.upstream + path, r.headers["Location"])
        spool = Spool(name, location, self.gw.spool_dir, self.gw.hints.take(name))
        local = urllib.parse.urlsplit(location).path
        self.gw.add(local, spool)
        # the client sees a registry that takes any chunk size
        self._send(202, {"Location": local, "Range": "0-0", "Content-Type": "text/plain",
                         "Docker-Upload-UUID": local.rsplit("/", 1)[-1]})

    def _session(self, spool: Spool, path: str) -> None:
        with spool.lock:
            if spool.dropped:  # closed (PUT) or deleted while this request waited for the lock
                self.close_connection = True  # its body, if any, is not read
                return self._send(404, {"Content-Type": "application/json"},
                                  _oci_error("BLOB_UPLOAD_UNKNOWN", "the upload session is closed",
                                             {"uuid": path.rsplit("/", 1)[-1]}))
            if self.command == "GET":
                return self._send(204, {"Location": path, "Range": f"0-{max(spool.size - 1, 0)}",
                                        "Docker-Upload-UUID": path.rsplit("/", 1)[-1]})
            if self.command == "DELETE":
                self.gw.pop(path)
                spool.drop()
                r = self._forward()
                return self._relay(r) if r is not None else None
            if self.command not in ("PATCH", "PUT"):
                return self._send(405, {"Content-Type": "application/json"},
                                  _oci_error("UNSUPPORTED", f"{self.command} on an upload session"))
            crange = self.headers.get("Content-Range")
            if crange and self.command == "PATCH":
                m = re.fullmatch(r"(?:bytes )?(\d+)-(\d+)", crange)
                if not m or int(m.group(1)) != spool.size:
                    for _ in self._body():
                        pass
                    return self._send(416, {"Location": path, "Range": f"0-{max(spool.size - 1, 0)}",
                                            "Content-Type": "application/json"},
                                      _oci_error("BLOB_UPLOAD_INVALID", "chunk out of order",
                                                 {"expected": spool.size}))
            chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            length = None if chunked else int(self.headers.get("Content-Length") or 0)
            http = spool.session(self.headers.get("Authorization"), self.gw.book)
            try:
                spool.begin(length, self.gw.upstream, http, self.gw.s3, self.gw.workers, self.gw.budget)
            except (DirectUploadError, requests.RequestException) as err:  # the close sends the spooled file
                self.gw.log("stream-refused", name=spool.name, error=str(err))
            try:
                spool.write(self._body())
            except (ValueError, ConnectionError, TimeoutError):  # the client left, or went quiet
                spool.park()  # it may come back with a PATCH from its Range
                raise ConnectionError("the request body was cut short") from None
            if self.command == "PATCH":
                return self._send(202, {"Location": path, "Range": f"0-{max(spool.size - 1, 0)}",
                                        "Docker-Upload-UUID": path.rsplit("/", 1)[-1]})
            self._finish(spool, path)

    def _finish(self, spool: Spool, path: str) -> None:
        digest = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("digest", [""])[0]
        # Spooled bytes are checked here; streamed ones (no whole hash kept) by the registry's proof.
        actual = "sha256:" + spool.hash.hexdigest() if spool.hash is not None else None
        if actual is not None and digest != actual:
            self.gw.pop(path)
            spool.drop()
            return self._send(400, {"Content-Type": "application/json"},
                              _oci_error("DIGEST_INVALID", "the uploaded bytes do not match the digest",
                                         {"expected": digest, "actual": actual}))
        started = time.monotonic()
        http = spool.session(self.headers.get("Authorization"), self.gw.book)
        how = "streamed"
        try:
            if spool.streamed():
                try:
                    spool.stream.finish()  # type: ignore[union-attr]
                except (DirectUploadError, requests.RequestException) as err:
                    self.gw.log("stream-failed", name=spool.name, digest=digest, error=str(err))
                    spool.give_up()
            waited = round(time.monotonic() - started, 3)  # the last parts, after the client's last byte
            if spool.streamed() and spool.hint not in (None, digest):
                self.gw.log("hint-missed", name=spool.name, digest=digest, hint=spool.hint)
                spool.give_up()  # planned for another blob's key: send the spool file afresh
            if spool.streamed():
                try:
                    spool.upload.close(digest)  # type: ignore[union-attr]
                except DirectUploadError as err:
                    if not (isinstance(err.detail, dict) and err.detail.get("pushAgain")):
                        raise
                    spool.give_up()  # other parts at the blob's key first: send the spool file afresh
            if not spool.streamed():
                how = "spooled"
                location = spool.location
                if spool.upload is not None:  # planned for another size: a fresh session
                    self._drop_upstream(http, location)
                    location = None
                push_blob(http, self.gw.upstream, spool.name, Blob(digest, spool.size, path=spool.ready()),
                          digest=digest, location=location, workers=self.gw.workers, s3=self.gw.s3)
        except DirectUploadError as err:
            raise ClientError(str(err), status=err.status, code=err.code, detail=err.detail) from None
        except requests.RequestException as err:
            raise ClientError(f"cannot reach {self.gw.upstream}: {err}", status=502) from None
        finally:
            self.gw.pop(path)
            spool.drop()
        seconds = round(time.monotonic() - started, 3)
        self.gw.log("upload", name=spool.name, digest=digest, size=spool.size, seconds=seconds, how=how,
                    parts_seconds=waited, hinted=how == "streamed" and spool.hint == digest)
        self._send(201, {"Location": f"/v2/{spool.name}/blobs/{digest}", "Docker-Content-Digest": digest})

    def _drop_upstream(self, http: requests.Session, location: str) -> None:
        try:
            http.delete(location, timeout=60).close()
        except requests.RequestException:
            pass  # it expires on its own


def _two_arenas() -> None:
    """glibc gives threads that allocate arenas of their own (up to 8 per core) and keeps the
    blocks freed in them: six concurrent 65-200 MiB pushes, three times, left the gateway at
    383 MiB idle (452 MiB peak); with two arenas, 95 MiB idle (236 MiB peak)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def serve(upstream: str, host: str = "127.0.0.1", port: int = 5001, workers: int = 8,
          spool_dir: Optional[str] = None, json_lines: bool = False) -> None:
    """Run in the foreground until interrupted."""
    _two_arenas()
    gw = Gateway(upstream, workers, spool_dir, json_lines)
    handler = type("BoundHandler", (Handler,), {"gw": gw})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    print(f"gateway listening on http://{host}:{server.server_address[1]} -> {gw.upstream}",
          file=sys.stderr, flush=True)
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C and SIGTERM stop it even when started with SIGINT ignored (a CI step's
        # background job): the spool files are then removed below.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        gw.drop_all()
