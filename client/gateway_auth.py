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

KEEP_SECONDS = 24 * 3600   # an upload session's life at most
MAX_ENTRIES = 10_000
_REALM = re.compile(r'realm="([^"]+)"')


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
        try:
            r = self.http.get(self.upstream + path_query, timeout=60,
                              headers={"Authorization": authorization} if authorization else {})
        except requests.RequestException:
            return None
        token = self.record(path_query, authorization, r.content) if r.status_code == 200 else None
        return f"Bearer {token}" if token else None


class ForwardedAuth(requests.auth.AuthBase):
    """The client's own Authorization on the gateway's requests, renewed on a 401."""

    def __init__(self, header: Optional[str], book: TokenBook) -> None:
        self.header = header
        self.book = book
        self.lock = threading.Lock()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.header:
            r.headers["Authorization"] = self.header
        r.register_hook("response", self._on_response)
        return r

    def _on_response(self, resp: requests.Response, **kwargs: Any) -> requests.Response:
        req = resp.request
        if resp.status_code != 401 or getattr(req, "_renewed", False):
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
