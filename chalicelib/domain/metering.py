"""Metering per namespace: counts batched in-process, flushed as atomic ADDs (docs/metering.md).

A request never waits on a metering write. `UsageMeter.record` adds to a
dictionary under a lock (about a microsecond); a flush writes one atomic ADD
per (day, namespace) touched since the last flush, on a background thread,
when the oldest pending count is `flush_seconds` old or `flush_events` counts
are pending. What a crash can lose: the counts of one process not yet flushed
(at most `flush_seconds` of its traffic); a failed flush puts its counts back
and is retried by the next. Pure: the store is a port.
"""
from __future__ import annotations

import csv
import io
import logging
import re
import threading
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Optional

from ..auth.policy import Principal, can_administer
from ..oci.errors import RegistryError
from ..oci.names import NAME_RE
from ..storage.metering_ports import COUNTERS, UsageRow, UsageStore
from .storage_usage import STORED, per_day

log = logging.getLogger("registry.metering")

MAX_DAYS = 366                     # one report spans at most this many days
INDEX_TYPES = frozenset({"application/vnd.oci.image.index.v1+json",
                         "application/vnd.docker.distribution.manifest.list.v2+json"})


def utc_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d")


def request_counts(kind: str, method: str, status: int, content_type: str, redirected: int) -> dict[str, int]:
    """What one request of the distribution API adds to its namespace's counters.

    Every request counts in `requests`. A pull is a manifest GET answered 200 whose
    body is not an index or manifest list: pulling an image by tag or digest counts
    once, a multi-platform pull counts the platform image the client then fetches,
    never the index, and HEAD never counts. A push is a manifest PUT answered 201
    (an index pushed with its children is one push per manifest). Bytes served are
    the sizes of blobs answered with a 307 to S3.
    """
    out = {"requests": 1}
    if kind == "manifest" and method == "GET" and status == 200 \
            and content_type.split(";")[0].strip().lower() not in INDEX_TYPES:
        out["pulls"] = 1
    elif kind == "manifest" and method == "PUT" and status == 201:
        out["pushes"] = 1
    if redirected and status == 307:
        out["bytes_served"] = int(redirected)
    return out


MAX_KNOWN = 100_000            # namespaces remembered as existing, per process
MAX_CHECKS_PER_FLUSH = 100     # existence reads one flush may make; beyond, unproven counts wait
UNPROVEN_GRACE_S = 300.0       # counts of a namespace not (yet) shown to exist wait this long for it
MAX_UNPROVEN = 10_000          # namespaces whose counts may wait so at once; others drop at the flush


class UsageMeter:
    """Process-wide buffer of usage counts, flushed in the background."""

    def __init__(self, store: Callable[[], UsageStore], flush_seconds: float = 60.0,
                 flush_events: int = 1000, clock: Callable[[], float] = time.time,
                 exists: Optional[Callable[[str], bool]] = None) -> None:
        self._store = store            # built lazily: a cold start creates no client for this
        # Namespaces proven to exist: a request there succeeded, or `exists` (one read) said so.
        # Counts of others are dropped at the flush, so requests to made-up namespaces (401s,
        # 404s) never create usage rows: no cardinality attack on the table.
        self._exists = exists
        self._known: set[str] = set()
        self.flush_seconds = flush_seconds
        self.flush_events = flush_events
        self._clock = clock
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending: dict[tuple[str, str], dict[str, int]] = {}
        # When a namespace not known to exist was first counted: its counts wait for it to be
        # proven (a push's first request, a 401 or a 404, comes before anything exists) up to
        # UNPROVEN_GRACE_S, so whether they count does not depend on when a flush falls.
        self._since: dict[str, float] = {}
        self._absent: set[str] = set()   # of those, read once and absent: not read again meanwhile
        self._events = 0
        self._oldest: Optional[float] = None
        self._flushing = False

    def record(self, namespace: str, counts: dict[str, int], background: bool = True,
               proven: bool = False) -> None:
        """Add counts for `namespace` today; start a background flush when one is due.
        `proven`: the request succeeded, so the namespace exists (no read needed to keep it)."""
        if not namespace or not counts:
            return
        now = self._clock()
        with self._lock:
            if proven:
                if len(self._known) >= MAX_KNOWN:
                    self._known.clear()  # bounded memory; proven again by the next success
                self._known.add(namespace)
                self._since.pop(namespace, None)
                self._absent.discard(namespace)
            elif namespace not in self._known and len(self._since) < MAX_UNPROVEN:
                self._since.setdefault(namespace, now)
            row = self._pending.setdefault((utc_day(now), namespace), {})
            for name, value in counts.items():
                row[name] = row.get(name, 0) + int(value)
            self._events += 1
            if self._oldest is None:
                self._oldest = now
            due = self._events >= self.flush_events or now - self._oldest >= self.flush_seconds
            start = due and background and not self._flushing
            if start:
                self._flushing = True  # one background flush at a time, set under the lock
        if start:
            threading.Thread(target=self._flush_in_background, name="usage-flush", daemon=True).start()

    def _flush_in_background(self) -> None:
        try:
            self.flush()
        finally:
            with self._lock:
                self._flushing = False

    def pending(self) -> dict[tuple[str, str], dict[str, int]]:
        with self._lock:
            return {k: dict(v) for k, v in self._pending.items()}

    def flush(self) -> int:
        """Write every pending count (one ADD per day and namespace); returns the writes made.

        Counts whose write fails go back into the buffer for the next flush.
        """
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, {}
                self._events, self._oldest = 0, None
            if not batch:
                return 0
            store = self._store()
            written, checks = 0, 0
            for (day, ns), counts in sorted(batch.items()):
                with self._lock:
                    known = ns in self._known
                if not known and self._exists is not None:
                    with self._lock:
                        absent = ns in self._absent   # read once already while its counts wait
                    proven = False
                    if not absent and checks < MAX_CHECKS_PER_FLUSH:
                        checks += 1
                        proven = self._read_existence(ns)
                    if not proven:
                        if not self._wait_for_proof(day, ns, counts):
                            log.info("usage of unknown namespace %.80s dropped", ns)
                        continue
                try:
                    store.add_usage(day, ns, counts)
                    written += 1
                except Exception:  # noqa: BLE001 - kept for the next flush, never lost here
                    log.exception("usage flush failed for %s on %s; kept for the next flush", ns, day)
                    self._restore(day, ns, counts)
            return written

    def _namespace_exists(self, ns: str) -> bool:
        try:
            found = bool(self._exists(ns))  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - unknown now: counted (as before) rather than lost
            log.exception("namespace check failed for %s; its usage is kept", ns)
            return True
        if found:
            with self._lock:
                self._known.add(ns)
        return found

    def _read_existence(self, ns: str) -> bool:
        """One read; a namespace read absent is not read again while its counts wait (until
        a success proves it or its grace ends)."""
        if self._namespace_exists(ns):
            return True
        with self._lock:
            if ns in self._since:
                self._absent.add(ns)
        return False

    def _wait_for_proof(self, day: str, ns: str, counts: dict[str, int]) -> bool:
        """Counts of a namespace not shown to exist go back to the buffer while its grace
        lasts (True); after it, or when too many wait, they are dropped (False)."""
        with self._lock:
            since = self._since.get(ns)
            expired = ns not in self._known and (since is None or self._clock() - since >= UNPROVEN_GRACE_S)
            if expired:
                self._since.pop(ns, None)
                self._absent.discard(ns)
        if expired:
            return False
        self._restore(day, ns, counts, due=False)
        return True

    def _restore(self, day: str, ns: str, counts: dict[str, int], due: bool = True) -> None:
        """Counts back into the buffer; `due` False: they wait for the next flush without
        making one due (a namespace waiting for proof starts no flush of its own)."""
        with self._lock:
            row = self._pending.setdefault((day, ns), {})
            for name, value in counts.items():
                row[name] = row.get(name, 0) + value
            if due:
                self._events += 1
                if self._oldest is None:
                    self._oldest = self._clock()


_DATE = re.compile(r"(19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}", re.ASCII)  # yyyy-mm-dd, 1970-2999


def _day(value: Any, field: str) -> date:
    try:
        if not isinstance(value, str) or not _DATE.fullmatch(value):  # not 2024-W01-1, not 20240101
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise RegistryError("UNSUPPORTED", {"reason": f"{field} must be a date, yyyy-mm-dd",
                                            field: str(value)[:40]}, status=400) from None


class Usage:
    """Usage reports: a namespace's days (its admins, global admins), a day's namespaces
    (global admins: the billing export)."""

    def __init__(self, store: UsageStore, meter: Optional[UsageMeter] = None, storage: Any = None) -> None:
        self.store = store
        self.meter = meter
        self.storage = storage   # a QuotaStore: stored bytes over time (domain/storage_usage.py)

    def _with_storage(self, rows: list[UsageRow]) -> list[UsageRow]:
        """Add the stored-bytes columns (one Query of each namespace's storage days)."""
        if self.storage is None:
            return rows
        by_ns: dict[str, list[UsageRow]] = {}
        for r in rows:
            by_ns.setdefault(r.namespace, []).append(r)
        for ns, mine in by_ns.items():
            stored = per_day(self.storage.storage_days(ns), sorted({r.day for r in mine}))
            for r in mine:
                r.counts.update(stored[r.day])
        return rows

    def _fresh(self) -> None:
        # Counts still buffered in this process are written first, so a report read
        # through this process includes them (other processes flush on their own).
        if self.meter is not None:
            self.meter.flush()

    def namespace_report(self, actor: Principal, namespace: str, first: Any, last: Any) -> list[UsageRow]:
        if not isinstance(namespace, str) or len(namespace) > 255 or not NAME_RE.fullmatch(namespace) \
                or "/" in namespace:
            raise RegistryError("NAME_INVALID", {"namespace": str(namespace)[:80]})
        _require(actor, namespace)
        today = datetime.now(timezone.utc).date()
        end = _day(last, "to") if last is not None else today
        start = _day(first, "from") if first is not None else end.replace(day=1)
        if start > end or (end - start).days >= MAX_DAYS:
            raise RegistryError("UNSUPPORTED", {"reason": f"from must not be after to, and a report "
                                                f"spans at most {MAX_DAYS} days"}, status=400)
        self._fresh()
        days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
        found = {r.day: r for r in self.store.usage_of(namespace, days)}
        return self._with_storage([found.get(d) or UsageRow(namespace, d, {c: 0 for c in COUNTERS}) for d in days])

    def day_report(self, actor: Principal, day: Any) -> list[UsageRow]:
        _require(actor, None)
        d = _day(day, "day").isoformat()
        self._fresh()
        return self._with_storage(self.store.usage_on(d))


def _require(actor: Principal, namespace: Optional[str]) -> None:
    if actor.anonymous:
        raise RegistryError("UNAUTHORIZED", {"reason": "authentication required"})
    if namespace is None and not actor.admin or namespace is not None and not can_administer(actor, namespace):
        raise RegistryError("DENIED", {"reason": "usage is readable by the namespace's administrators "
                                       "and global administrators", "namespace": namespace})


COLUMNS = ("day", "namespace") + COUNTERS + STORED


def _num(counts: dict, c: str) -> Any:
    v = counts.get(c, 0)
    return float(v) if c == "stored_gb_months" else int(v)


def as_json(rows: list[UsageRow]) -> dict:
    """The export document: one object per (day, namespace), every counter present."""
    return {"columns": list(COLUMNS), "rows": [{"day": r.day, "namespace": r.namespace,
                                                 **{c: _num(r.counts, c) for c in COUNTERS + STORED}}
                                                for r in rows]}


def as_csv(rows: list[UsageRow]) -> str:
    """RFC 4180 CSV with a header line (CRLF line ends)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r.day, r.namespace] + [_num(r.counts, c) for c in COUNTERS + STORED])
    return buf.getvalue()
