"""Webhook administration per namespace (its admins and global admins), docs/events.md."""
from __future__ import annotations

import ipaddress
import re
import secrets
import time
from typing import Any, Optional, Union
from urllib.parse import urlsplit

from ..auth.policy import Principal, can_administer
from ..oci.errors import RegistryError
from ..storage.metering_ports import WebhookFull, WebhookRecord, WebhookStore
from .events import EVENT_TYPES, EventBus

NAMESPACE_RE = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
MAX_WEBHOOKS = 10        # per namespace, held by a conditional write
MAX_URL = 2048
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
_V4_PART = re.compile(r"0x[0-9a-f]*|[0-9]+")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _denied(namespace: str) -> RegistryError:
    return RegistryError("DENIED", {"reason": "webhooks are managed by the namespace's administrators",
                                    "namespace": namespace})


def host_address(host: str) -> Optional[IPAddress]:
    """The address a URL host spells, in any spelling a resolver accepts as a literal:
    IPv6 (with or without brackets) and IPv4 as inet_aton reads it - 1 to 4 parts, each
    decimal, 0x-hex or 0-octal, the last filling the remaining bytes (2130706433,
    0x7f.1, 0177.0.0.1, 127.1 and 0 are all addresses). None for a name."""
    h = host.strip("[]").lower().rstrip(".")
    if ":" in h:
        try:
            return ipaddress.IPv6Address(h.split("%", 1)[0])
        except ValueError:
            return None
    parts = h.split(".")
    if not 1 <= len(parts) <= 4 or not all(_V4_PART.fullmatch(p) for p in parts):
        return None
    try:
        nums = [int(p[2:] or "0", 16) if p.startswith("0x") else int(p, 8) if p.startswith("0") else int(p)
                for p in parts]
    except ValueError:  # 08: not a number to a resolver either, so a name (checked when delivered)
        return None
    width = 8 * (5 - len(nums))  # bits the last part covers
    if any(n > 255 for n in nums[:-1]) or nums[-1] >= 1 << width:
        return None
    value = 0
    for n in nums[:-1]:
        value = value << 8 | n
    return ipaddress.IPv4Address(value << width | nums[-1])


def address_allowed(ip: IPAddress) -> bool:
    """A globally routable unicast address, also for IPv4 carried inside IPv6
    (::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4, Teredo)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None and not address_allowed(inner):
            return False
    return ip.is_global and not ip.is_multicast and not ip.is_reserved and not ip.is_unspecified


def check_url(url: Any, allow_private: bool) -> str:
    """An http(s) URL with a host and no credentials; without `allow_private`, https to a
    host that is not a loopback, private or link-local address in any spelling, nor
    localhost. (Names are resolved and checked again at each delivery: storage/events_out.py.)"""
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
        host = parts.hostname.strip("[]").lower().rstrip(".")
        ip = host_address(host)
        if host == "localhost" or host.endswith(".localhost") or (ip is not None and not address_allowed(ip)):
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
