"""An upload rate limit shared by every worker of a push (`--limit-rate`).

Each caller books the time its bytes take at the given rate and sleeps until that
slot ends, so the bytes sent never run ahead of the rate, however many threads send.
"""
from __future__ import annotations

import threading
import time
from typing import Optional


class RateLimit:
    def __init__(self, bytes_per_second: float) -> None:
        if bytes_per_second <= 0:
            raise ValueError("the rate must be positive")
        self.rate = float(bytes_per_second)
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        """Block until `n` more bytes may go."""
        if n <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self._next = max(self._next, now) + n / self.rate
            wait = self._next - now
        time.sleep(wait)


def take(limit: Optional[RateLimit], n: int) -> None:
    if limit is not None:
        limit.take(n)
