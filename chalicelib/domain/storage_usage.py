"""Stored bytes integrated over time, per namespace and UTC day (docs/metering.md).

The quota counts keep, per day, the sum of the changes of a namespace's stored bytes
(`bytes`) and of each change times its epoch second (`weighted`; storage/quota_ports.py).
With S(t) and W(t) those sums over every change up to t, the bytes stored at t are S(t) and
their integral since the first change is S(t)·t - W(t) (each blob contributes its size times
the seconds it was stored), so a day's byte-seconds are that at its end (or now) minus
that at its start: exact, from one Query, with no scheduled snapshot.
"""
from __future__ import annotations

import calendar
import time
from typing import Optional

from ..storage.quota_ports import StorageDay

GIB = 2 ** 30
MONTH_SECONDS = 30 * 86400   # a GB-month: 2^30 bytes stored for 30 days
STORED = ("stored_bytes", "stored_byte_seconds", "stored_gb_months")


def _epoch(day: str) -> int:
    return calendar.timegm(time.strptime(day, "%Y-%m-%d"))


def per_day(changes: list[StorageDay], days: list[str], now: Optional[float] = None) -> dict[str, dict]:
    """For each of `days` (yyyy-mm-dd, ascending): bytes stored at its end (or now), its
    byte-seconds and GB-months."""
    now = int(time.time() if now is None else now)
    changes = sorted(changes, key=lambda c: c.day)
    out: dict[str, dict] = {}
    s = w = 0
    i = 0
    for day in days:
        while i < len(changes) and changes[i].day < day:
            s, w = s + changes[i].bytes, w + changes[i].weighted
            i += 1
        start = _epoch(day)
        before = s * start - w
        s_end, w_end = s, w
        if i < len(changes) and changes[i].day == day:
            s_end, w_end = s + changes[i].bytes, w + changes[i].weighted
        end = min(start + 86400, now)
        seconds = max(0, (s_end * end - w_end) - before) if end > start else 0
        out[day] = {"stored_bytes": s_end if end > start else s, "stored_byte_seconds": seconds,
                    "stored_gb_months": round(seconds / GIB / MONTH_SECONDS, 9)}
    return out
