"""The push gateway's shared state: upstream HTTP sessions, token book, upload hints,
the open upload sessions (each a Spool) and the event log."""
from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, Optional

import requests

from .api import normalize_url
from .gateway_auth import TokenBook
from .direct_stream import PartBudget
from .gateway_hints import Hints
from .gateway_spool import Spool

IDLE_SECONDS = 3600  # an upload session untouched this long is dropped with its spool file
PART_MEMORY = 128 * 1024 * 1024  # parts held in memory while they stream, all uploads together


class Gateway:
    def __init__(self, upstream: str, workers: int = 8, spool_dir: Optional[str] = None,
                 json_lines: bool = False) -> None:
        self.upstream = normalize_url(upstream)
        self.workers = workers
        self.spool_dir = spool_dir
        self.json = json_lines
        self.http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=64)
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)
        self.s3 = requests.Session()  # presigned S3 requests: never the client's credentials
        self.s3.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))
        self.s3.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=64))
        self.book = TokenBook(self.upstream, self.http)
        self.hints = Hints()  # blobs a client found missing: what its next upload is probably for
        self.budget = PartBudget(PART_MEMORY)  # the peak RSS stays under 256 MiB (bench/s_gateway.py)
        self.sessions: dict[str, Spool] = {}
        self.lock = threading.Lock()
        self.log_lock = threading.Lock()

    def log(self, event: str, **info: Any) -> None:
        with self.log_lock:
            if self.json:
                print(json.dumps({"event": event, **info}), flush=True)
            else:
                print(f"{event}: " + " ".join(f"{k}={v}" for k, v in info.items()), file=sys.stderr, flush=True)

    def drop_all(self) -> None:
        """At the stop: no spool file outlives the gateway (upstream sessions expire)."""
        with self.lock:
            spools, self.sessions = list(self.sessions.values()), {}
        for spool in spools:
            spool.drop()

    def add(self, key: str, spool: Spool) -> None:
        with self.lock:
            now = time.monotonic()
            for k in [k for k, s in self.sessions.items() if now - s.used > IDLE_SECONDS]:
                self.sessions.pop(k).drop()
            self.sessions[key] = spool

    def get(self, key: str) -> Optional[Spool]:
        with self.lock:
            return self.sessions.get(key)

    def pop(self, key: str) -> Optional[Spool]:
        with self.lock:
            return self.sessions.pop(key, None)
