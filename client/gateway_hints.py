"""Digest hints for the push gateway: which blob an upload is probably for.

Stock clients ask `HEAD /v2/<name>/blobs/<digest>` before they upload a blob and only
give its digest at the closing PUT. The gateway streams parts to S3 while the client is
still sending, so it must plan before it knows the digest; a plan made with the digest
lets the registry complete the upload at the blob's own key (no copy at the close,
docs/direct-upload.md). A HEAD answered 404 is a hint; an upload takes a hint only when
exactly one fresh, unclaimed hint exists for its repository (clients that push several
blobs at once leave several, and their uploads plan without one). A wrong hint costs a
re-send from the spool file: the gateway checks the digest at the close and falls back.
"""
from __future__ import annotations

import re
import threading
import time
from typing import Optional

BLOB = re.compile(r"/v2/(?P<name>.+)/blobs/(?P<digest>sha256:[a-f0-9]{64})")
FRESH_SECONDS = 120.0
MAX_HINTS = 1000


class Hints:
    """Recent 404 answers to blob HEADs, per repository; thread-safe."""

    def __init__(self, fresh_seconds: float = FRESH_SECONDS) -> None:
        self.fresh = fresh_seconds
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], float] = {}

    def missing(self, path: str, now: Optional[float] = None) -> None:
        """Note a blob the registry does not have (a HEAD or GET of it answered 404)."""
        m = BLOB.fullmatch(path)
        if not m:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            self._drop_stale(now)
            if len(self._seen) < MAX_HINTS:
                self._seen[(m.group("name"), m.group("digest"))] = now

    def found(self, path: str) -> None:
        """A blob that exists after all (pushed by another client meanwhile): no hint."""
        m = BLOB.fullmatch(path)
        if m:
            with self._lock:
                self._seen.pop((m.group("name"), m.group("digest")), None)

    def take(self, name: str, now: Optional[float] = None) -> Optional[str]:
        """The digest an upload into `name` is for, if only one is fresh; claimed at once."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._drop_stale(now)
            mine = [d for (n, d) in self._seen if n == name]
            if len(mine) != 1:
                return None
            del self._seen[(name, mine[0])]
            return mine[0]

    def _drop_stale(self, now: float) -> None:
        for k in [k for k, t in self._seen.items() if now - t > self.fresh]:
            del self._seen[k]
