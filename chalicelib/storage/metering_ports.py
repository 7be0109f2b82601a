"""Ports of metering and events: usage counters, webhook settings, outbound deliveries.

Kept apart from ports.py (the registry's core ports); every port here has an
in-memory fake (memory_metering.py) and runs the contract suite
(tests/contract/test_contract_metering.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol

# The usage counters of one namespace on one UTC day (docs/metering.md).
COUNTERS = ("requests", "pulls", "pushes", "bytes_served", "bytes_uploaded")


@dataclass
class UsageRow:
    """One namespace's counters for one day (every counter present, zeros included)."""

    namespace: str
    day: str                                   # yyyy-mm-dd, UTC
    counts: dict = field(default_factory=dict)


@dataclass
class WebhookRecord:
    """A namespace's webhook: where events go and the secret that signs them."""

    namespace: str
    webhook_id: str
    url: str
    secret: str
    events: list = field(default_factory=list)  # event types; empty: every type
    created: int = 0


class UsageStore(Protocol):
    """Per-namespace, per-day usage counters, incremented atomically."""

    def add_usage(self, day: str, namespace: str, counts: dict[str, int]) -> None:
        """Add `counts` to the day's counters (one atomic write; creates the row)."""
    def usage_of(self, namespace: str, days: list[str]) -> list[UsageRow]:
        """The rows of `namespace` on `days` that exist, in day order."""
    def usage_on(self, day: str) -> list[UsageRow]:
        """Every namespace's row on `day`, in namespace order."""


class WebhookFull(Exception):
    """The namespace already has the most webhooks allowed."""


class WebhookStore(Protocol):
    """Webhook settings per namespace (count capped by a conditional write)."""

    def add_webhook(self, rec: WebhookRecord, limit: int) -> None:
        """Store a new webhook; WebhookFull when the namespace has `limit` already."""
    def list_webhooks(self, namespace: str) -> list[WebhookRecord]:
        """The namespace's webhooks, oldest id first."""
    def delete_webhook(self, namespace: str, webhook_id: str) -> bool:
        """Remove one; False when there was none."""


class EventPublisher(Protocol):
    """Sends event envelopes (docs/events.md) to a bus, e.g. EventBridge."""

    def publish(self, events: list[dict]) -> list[Optional[str]]:
        """One entry per event: None when accepted, else the bus's error."""


class WebhookTransport(Protocol):
    """POSTs one signed body to a URL; the status code, or an exception on no answer."""

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int: ...
