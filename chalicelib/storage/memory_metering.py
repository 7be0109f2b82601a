"""In-memory fakes of the metering ports (tests, REGISTRY_EMBEDDED-free unit runs)."""
from __future__ import annotations

import threading
from typing import Optional

from .metering_ports import COUNTERS, UsageRow, WebhookFull, WebhookRecord


class MemoryUsageStore:
    """UsageStore over a dict, with the same atomicity (one lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], dict[str, int]] = {}

    def add_usage(self, day: str, namespace: str, counts: dict[str, int]) -> None:
        with self._lock:
            row = self._rows.setdefault((day, namespace), {c: 0 for c in COUNTERS})
            for name, value in counts.items():
                if name in COUNTERS and value:
                    row[name] += int(value)

    def usage_of(self, namespace: str, days: list[str]) -> list[UsageRow]:
        with self._lock:
            return [UsageRow(namespace, d, dict(self._rows[(d, namespace)]))
                    for d in sorted(set(days)) if (d, namespace) in self._rows]

    def usage_on(self, day: str) -> list[UsageRow]:
        with self._lock:
            return [UsageRow(ns, d, dict(c)) for (d, ns), c in sorted(self._rows.items()) if d == day]


class MemoryWebhookStore:
    """WebhookStore over a dict; the cap is checked under the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hooks: dict[str, dict[str, WebhookRecord]] = {}

    def add_webhook(self, rec: WebhookRecord, limit: int) -> None:
        with self._lock:
            hooks = self._hooks.setdefault(rec.namespace, {})
            if len(hooks) >= limit:
                raise WebhookFull(rec.namespace)
            if rec.webhook_id in hooks:
                raise ValueError(f"webhook {rec.webhook_id} exists")
            hooks[rec.webhook_id] = WebhookRecord(**vars(rec))

    def list_webhooks(self, namespace: str) -> list[WebhookRecord]:
        with self._lock:
            hooks = self._hooks.get(namespace, {})
            return [WebhookRecord(**vars(hooks[k])) for k in sorted(hooks)]

    def delete_webhook(self, namespace: str, webhook_id: str) -> bool:
        with self._lock:
            return self._hooks.get(namespace, {}).pop(webhook_id, None) is not None


class RecordingPublisher:
    """EventPublisher fake: keeps what it was given."""

    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, events: list[dict]) -> list[Optional[str]]:
        self.published.extend(events)
        return [None] * len(events)
