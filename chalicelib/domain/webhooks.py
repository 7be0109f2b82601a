"""Webhook administration per namespace (its admins and global admins), docs/events.md."""
from __future__ import annotations

import ipaddress
import re
import secrets
import time
from typing import Any, Optional
from urllib.parse import urlsplit

from ..auth.policy import Principal, can_administer
from ..oci.errors import RegistryError
from ..storage.metering_ports import WebhookFull, WebhookRecord, WebhookStore
from .events import EVENT_TYPES, EventBus

NAMESPACE_RE = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
MAX_WEBHOOKS = 10        # per namespace, held by a conditional write
MAX_URL = 2048


def _denied(namespace: str) -> RegistryError:
    return RegistryError("DENIED", {"reason": "webhooks are managed by the namespace's administrators",
                                    "namespace": namespace})


def check_url(url: Any, allow_private: bool) -> str:
    """An http(s) URL with a host and no credentials; without `allow_private`, https to a
    host that is not a loopback, private or link-local address literal, nor localhost."""
    def bad(reason: str) -> RegistryError:
        return RegistryError("UNSUPPORTED", {"reason": reason, "url": str(url)[:200]}, status=400)

    if not isinstance(url, str) or not url or len(url) > MAX_URL or any(ord(c) < 33 or ord(c) > 126 for c in url):
        raise bad(f"a webhook URL is printable ASCII, at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise bad("not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad("a webhook URL is http(s)://host/...")
    if parts.username or parts.password:
        raise bad("credentials do not belong in a webhook URL; events are signed instead")
    if not allow_private:
        if parts.scheme != "https":
            raise bad("webhooks must use https")
        host = parts.hostname.strip("[]").lower()
        try:
            ip: Optional[Any] = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if host == "localhost" or host.endswith(".localhost") or (ip is not None and not ip.is_global):
            raise bad("webhooks may not target loopback, private or link-local addresses")
    return url


class Webhooks:
    """Add, list and remove a namespace's webhooks."""

    def __init__(self, store: WebhookStore, bus: Optional[EventBus] = None, allow_private: bool = True) -> None:
        self.store = store
        self.bus = bus
        self.allow_private = allow_private

    def _check(self, actor: Principal, namespace: Any) -> str:
        if actor.anonymous:
            raise RegistryError("UNAUTHORIZED", {"reason": "authentication required"})
        if not isinstance(namespace, str) or len(namespace) > 255 or not NAMESPACE_RE.fullmatch(namespace) \
                or not can_administer(actor, namespace):
            raise _denied(str(namespace)[:80])
        return namespace

    def add(self, actor: Principal, namespace: str, url: Any, events: Any) -> WebhookRecord:
        ns = self._check(actor, namespace)
        kinds = list(events or [])
        unknown = sorted(set(kinds) - set(EVENT_TYPES))
        if unknown:
            raise RegistryError("UNSUPPORTED", {"reason": "unknown event types", "unknown": unknown,
                                                "known": list(EVENT_TYPES)}, status=400)
        rec = WebhookRecord(namespace=ns, webhook_id=secrets.token_hex(8),
                            url=check_url(url, self.allow_private), secret="whsec_" + secrets.token_urlsafe(32),
                            events=sorted(set(kinds)), created=int(time.time()))
        try:
            self.store.add_webhook(rec, MAX_WEBHOOKS)
        except WebhookFull:
            raise RegistryError("DENIED", {"reason": f"a namespace has at most {MAX_WEBHOOKS} webhooks",
                                           "namespace": ns}) from None
        if self.bus is not None:
            self.bus.forget_webhooks(ns)
        return rec

    def list(self, actor: Principal, namespace: str) -> list[dict]:
        ns = self._check(actor, namespace)
        return [{"id": h.webhook_id, "url": h.url, "events": h.events, "created": h.created}
                for h in self.store.list_webhooks(ns)]

    def delete(self, actor: Principal, namespace: str, webhook_id: str) -> None:
        ns = self._check(actor, namespace)
        if not isinstance(webhook_id, str) or len(webhook_id) != 16 or not all(c in "0123456789abcdef"
                                                                              for c in webhook_id):
            raise RegistryError("NAME_UNKNOWN", {"reason": "no such webhook", "id": str(webhook_id)[:40]},
                                status=404)
        if not self.store.delete_webhook(ns, webhook_id):
            raise RegistryError("NAME_UNKNOWN", {"reason": "no such webhook", "id": webhook_id}, status=404)
        if self.bus is not None:
            self.bus.forget_webhooks(ns)
