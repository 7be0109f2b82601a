"""Bearer tokens that outlive nothing: the gateway renews a client's token mid-upload.

A stock client fetches its token through the gateway (the challenge's realm points at
it), then pushes. The gateway's own requests for that upload (plans, the closing PUTs,
repeated while the registry verifies) carry the client's token, which may expire before
a long upload is done; the client cannot help, it is waiting for an answer. So the
gateway remembers, in memory only, how each token it relayed was obtained (the realm
URL with its scope, and the Authorization header the client sent for it) and asks
again the same way when the registry answers 401: the same scope, the client's own
credentials. Entries are dropped after `KEEP_SECONDS`; nothing is written anywhere.
"""
from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from typing import Any, Optional

import requests

from .auth import read_capped

KEEP_SECONDS = 24 * 3600   # an upload session's life at most
MAX_ENTRIES = 10_000
MAX_TOKEN_ANSWER = 1 << 20  # a token answer is a few KiB; more is refused, never held whole


def origin(url: str) -> tuple[str, str, int]:
    """scheme, host, port: where credentials may go (the upstream's, and nowhere else)."""
    p = urllib.parse.urlsplit(url)
    scheme = (p.scheme or "").lower()
    return scheme, (p.hostname or "").lower(), p.port or (443 if scheme == "https" else 80)


_REALM = re.compile(r'realm="([^"]+)"')
_LOCAL_HOST = re.compile(r"[a-z0-9.:-]{1,253}")


def _is_local(host: str) -> bool:
    """Whether `host` is an address of this machine (so a rewritten URL stays here)."""
    import ipaddress
    import socket

    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    if ip.is_loopback:
        return True
    try:
        with socket.socket(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))  # binds only to an address this machine has
        return True
    except OSError:
        return False


def own_base(address: tuple, host_header: Optional[str]) -> str:
    """The gateway's own base URL, for upstream URLs rewritten to point back at it: the
    address it listens on, never a Host the client made up (a forged Host would send the
    credentials a token realm asks for elsewhere). Listening on every interface, the
    client's Host is taken only when it names one of this machine's addresses."""
    host, port = str(address[0]), int(address[1])
    if host in ("0.0.0.0", "::", ""):
        sent = (host_header or "").lower()
        name, _, sent_port = sent.rpartition(":")
        name = name.strip("[]") if sent_port == str(port) else ""
        host = name if name and _LOCAL_HOST.fullmatch(name) and _is_local(name) else "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class TokenBook:
    def __init__(self, upstream: str, http: requests.Session) -> None:
        self.upstream = upstream
        self.http = http
        self.realms: set[str] = set()
        self.entries: dict[str, tuple[str, Optional[str], float]] = {}
        self.lock = threading.Lock()

    def note_challenge(self, value: str) -> None:
        """A WWW-Authenticate from upstream: remember its realm's path (token requests)."""
        m = _REALM.search(value)
        if m and m.group(1).startswith(self.upstream):
            with self.lock:
                self.realms.add(urllib.parse.urlsplit(m.group(1)).path)

    def is_realm(self, path: str) -> bool:
        return urllib.parse.urlsplit(path).path in self.realms

    def record(self, path_query: str, authorization: Optional[str], body: bytes) -> Optional[str]:
        """A relayed token answer; returns its token."""
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            return None
        if not isinstance(token, str):
            return None
        now = time.monotonic()
        with self.lock:
            if len(self.entries) >= MAX_ENTRIES:
                for k in [k for k, e in self.entries.items() if now - e[2] > KEEP_SECONDS] or list(self.entries)[:1]:
                    self.entries.pop(k, None)
            self.entries[token] = (path_query, authorization, now)
        return token

    def renew(self, header: Optional[str]) -> Optional[str]:
        """A fresh `Bearer …` for the scope `header`'s token was issued for, or None."""
        if not header or not header.startswith("Bearer "):
            return None
        with self.lock:
            entry = self.entries.get(header[7:])
        if entry is None or time.monotonic() - entry[2] > KEEP_SECONDS:
            return None
        path_query, authorization = entry[0], entry[1]
        try:  # no redirect followed: the client's credentials go to the upstream only
            r = self.http.get(self.upstream + path_query, timeout=60, allow_redirects=False, stream=True,
                              headers={"Authorization": authorization} if authorization else {})
            body = read_capped(r, MAX_TOKEN_ANSWER) if r.status_code == 200 else None
        except requests.RequestException:
            return None
        token = self.record(path_query, authorization, body) if body is not None else None
        return f"Bearer {token}" if token else None


class ForwardedAuth(requests.auth.AuthBase):
    """The client's own Authorization on the gateway's requests to the upstream (never to
    another origin: an absolute Location or a redirect elsewhere gets no credentials),
    renewed on a 401 from the upstream."""

    def __init__(self, header: Optional[str], book: TokenBook) -> None:
        self.header = header
        self.book = book
        self.lock = threading.Lock()

    def _ours(self, url: Optional[str]) -> bool:
        return origin(url or "") == origin(self.book.upstream)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.header and self._ours(r.url):
            r.headers["Authorization"] = self.header
        r.register_hook("response", self._on_response)
        return r

    def _on_response(self, resp: requests.Response, **kwargs: Any) -> requests.Response:
        req = resp.request
        if resp.status_code != 401 or getattr(req, "_renewed", False) or not self._ours(req.url):
            return resp
        if req.body is not None and not isinstance(req.body, (bytes, str)):
            return resp  # a streamed body cannot be sent again
        sent = req.headers.get("Authorization")
        with self.lock:  # one renewal for all the parts that hit the expiry together
            if self.header == sent:
                fresh = self.book.renew(sent)
                if fresh is None:
                    return resp
                self.header = fresh
        resp.content  # release the connection
        again = req.copy()
        again.headers["Authorization"] = self.header or ""
        again._renewed = True  # type: ignore[attr-defined]
        new = resp.connection.send(again, **kwargs)
        new.history.append(resp)
        new.request = again
        return new
