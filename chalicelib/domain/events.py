"""Domain events (docs/events.md): published after the commit, delivered off the request path.

`EventBus.publish` only enqueues (a lock and a deque append). One worker thread
per process then, for each event: writes a log line, sends it to the event bus
(EventBridge when deployed, one PutEvents per batch of up to 10), and POSTs it,
signed, to each of the namespace's webhooks. A webhook that fails (no answer
within `timeout`, or a status other than 2xx) is retried with exponential
backoff, `attempts` times in all, from a schedule (a receiver's backoff holds
up nothing else; a slow receiver holds the worker at most `timeout` per attempt),
and nothing here can fail or slow the push itself.
On Lambda a frozen instance runs no thread, so the handler may wait a bounded
time for the queue to empty (`wait_idle`); see docs/events.md for what can be lost.
"""
from __future__ import annotations

import collections
import hashlib
import hmac
import heapq
import json
import logging
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from ..storage.metering_ports import EventPublisher, WebhookRecord, WebhookStore, WebhookTransport

log = logging.getLogger("registry.events")

SOURCE = "oci-registry"
MANIFEST_PUSHED = "manifest.pushed"
MANIFEST_DELETED = "manifest.deleted"
TAG_DELETED = "tag.deleted"
GC_COLLECTED = "gc.collected"
QUOTA_WARNING = "quota.warning"
EVENT_TYPES = (MANIFEST_PUSHED, MANIFEST_DELETED, TAG_DELETED, GC_COLLECTED, QUOTA_WARNING)
SIGNATURE_HEADER = "X-Registry-Signature"
MAX_QUEUE = 10000                # events waiting beyond this are dropped (and logged)
WEBHOOK_CACHE_SECONDS = 30.0     # a namespace's webhook list is re-read at most this often


def make_event(kind: str, namespace: str, data: dict, now: Optional[float] = None) -> dict:
    """An event envelope (CloudEvents 1.0 JSON structured form, docs/events.md)."""
    ts = time.time() if now is None else now
    stamp = datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    subject = data.get("repository") or namespace
    if data.get("tag"):
        subject = f"{subject}:{data['tag']}"
    elif data.get("digest"):
        subject = f"{subject}@{data['digest']}"
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": SOURCE, "type": kind,
            "time": stamp, "subject": subject, "datacontenttype": "application/json",
            "namespace": namespace, "data": data}


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body under the secret>`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance: int = 300, now: Optional[float] = None) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, ts, body).split("v1=", 1)[1], parts.get("v1", ""))


class EventBus:
    """Queue and worker: log line, event bus, signed webhooks with bounded retries."""

    def __init__(self, webhooks: Optional[Callable[[], WebhookStore]] = None,
                 transport: Optional[WebhookTransport] = None,
                 publisher: Optional[Callable[[], Optional[EventPublisher]]] = None,
                 attempts: int = 4, backoff: float = 1.0, timeout: float = 3.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._webhooks = webhooks
        self._transport = transport
        self._publisher = publisher
        self.attempts, self.backoff, self.timeout = max(1, attempts), backoff, timeout
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: collections.deque = collections.deque()
        self._retries: list = []          # heap of (due, seq, event, hook, attempt)
        self._seq = 0
        self._busy = False
        self._worker: Optional[threading.Thread] = None
        self._cache: dict[str, tuple[float, list[WebhookRecord]]] = {}
        self.delivered: collections.Counter = collections.Counter()   # outcome -> count

    # -- the request side ------------------------------------------------------
    def publish(self, event: dict) -> None:
        """Enqueue an event (call after the commit). Never raises, never blocks on I/O."""
        try:
            with self._cond:
                if len(self._queue) >= MAX_QUEUE:
                    log.error("event queue full; dropped %s %s", event.get("type"), event.get("id"))
                    return
                self._queue.append(event)
                self._ensure_worker()
                self._cond.notify_all()
        except Exception:  # noqa: BLE001 - events never fail a request
            log.exception("could not queue an event")

    def wait_idle(self, timeout: float, retries: bool = False) -> bool:
        """Wait until every queued event was handled (and, with `retries`, every retry done)."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy or (retries and self._retries):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def forget_webhooks(self, namespace: str) -> None:
        """Drop the cached list (after an admin change in this process)."""
        with self._cond:
            self._cache.pop(namespace, None)

    # -- the worker ------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="events", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._due():
                    wait = self._retries[0][0] - self._clock() if self._retries else 30.0
                    if not self._cond.wait(max(0.01, min(wait, 30.0))) and not self._queue \
                            and not self._retries:
                        self._worker = None
                        return  # idle: the next publish starts a new worker
                if self._queue:
                    job: Any = ("event", self._queue.popleft())
                else:
                    job = ("retry", heapq.heappop(self._retries))
                self._busy = True
            try:
                if job[0] == "event":
                    self._handle(job[1])
                else:
                    _, _, event, hook, attempt = job[1]
                    self._deliver(event, hook, attempt)
            except Exception:  # noqa: BLE001 - the worker survives anything
                log.exception("event delivery failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _due(self) -> bool:
        return bool(self._retries) and self._retries[0][0] <= self._clock()

    def _handle(self, event: dict) -> None:
        log.info("event %s %s", event["type"], event["subject"],
                 extra={"event": {k: event[k] for k in ("id", "type", "subject", "namespace", "data")}})
        publisher = self._publisher() if self._publisher else None
        if publisher is not None:
            try:
                errors = [e for e in publisher.publish([event]) if e]
                if errors:
                    log.error("event bus refused %s: %s", event["id"], errors)
            except Exception:  # noqa: BLE001
                log.exception("event bus unreachable for %s", event["id"])
        for hook in self._hooks_of(event["namespace"]):
            if not hook.events or event["type"] in hook.events:
                self._deliver(event, hook, 1)

    def _hooks_of(self, namespace: str) -> list[WebhookRecord]:
        if self._webhooks is None or self._transport is None:
            return []
        now = self._clock()
        with self._cond:
            cached = self._cache.get(namespace)
        if cached and now - cached[0] < WEBHOOK_CACHE_SECONDS:
            return cached[1]
        hooks = self._webhooks().list_webhooks(namespace)
        with self._cond:
            self._cache[namespace] = (now, hooks)
        return hooks

    def _deliver(self, event: dict, hook: WebhookRecord, attempt: int) -> None:
        body = json.dumps({**event, "webhook": hook.webhook_id, "attempt": attempt},
                          separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": f"{SOURCE}-webhooks/1",
                   "X-Registry-Event": event["type"], "X-Registry-Delivery": event["id"],
                   SIGNATURE_HEADER: signature(hook.secret, int(time.time()), body)}
        try:
            status = self._transport.post(hook.url, body, headers, self.timeout)  # type: ignore[union-attr]
            ok, why = 200 <= status < 300, f"status {status}"
        except Exception as exc:  # noqa: BLE001 - a receiver's failure is only retried
            ok, why = False, type(exc).__name__
        if ok:
            self.delivered["ok"] += 1
            return
        if attempt >= self.attempts:
            self.delivered["gave up"] += 1
            log.warning("webhook %s gave up on %s after %d attempts (%s)", hook.webhook_id, event["id"],
                        attempt, why)
            return
        self.delivered["retry"] += 1
        delay = self.backoff * (2 ** (attempt - 1))
        log.info("webhook %s: %s for %s; attempt %d in %.1f s", hook.webhook_id, why, event["id"],
                 attempt + 1, delay)
        with self._cond:
            self._seq += 1
            heapq.heappush(self._retries, (self._clock() + delay, self._seq, event, hook, attempt + 1))
            self._cond.notify_all()
