"""Outbound adapters of events: EventBridge (PutEvents) and webhook POSTs (urllib)."""
from __future__ import annotations

import json
from typing import Any, Callable, Optional

# PutEvents takes at most 10 entries of at most 256 KB each per call.
_PUT_EVENTS_MAX = 10


class EventBridgePublisher:
    """EventPublisher on an EventBridge bus: Source, DetailType = the event type, Detail = the envelope.

    (The client is held in a name ending in `events`: infra/policy.py finds the call there.)"""

    def __init__(self, client: Callable[[], Any], bus_name: str, source: str = "oci-registry") -> None:
        self._client = client
        self.bus_name = bus_name
        self.source = source

    def publish(self, batch: list[dict]) -> list[Optional[str]]:
        out: list[Optional[str]] = []
        for i in range(0, len(batch), _PUT_EVENTS_MAX):
            chunk = batch[i:i + _PUT_EVENTS_MAX]
            events = self._client()
            resp = events.put_events(Entries=[{
                "Source": self.source, "DetailType": e["type"], "EventBusName": self.bus_name,
                "Resources": [], "Detail": json.dumps(e, separators=(",", ":"))} for e in chunk])
            for entry in resp.get("Entries", []):
                out.append(entry.get("ErrorCode") and f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
        return out


class BlockedAddress(Exception):
    """The webhook's host is, or resolves to, an address deliveries may not reach."""


class PinnedTransport:
    """WebhookTransport: one POST, no redirects followed, the answer's status.

    The host is resolved here, every address it resolves to is checked with `allowed`
    (when given: the registry's SSRF rule, domain/webhooks.address_allowed), and the
    connection goes to the checked address - a second lookup by the HTTP library could
    answer differently (DNS rebinding). TLS still verifies the certificate of the name.
    `timeout` bounds the whole attempt (connect, send, a dripping answer), not each read.
    http.client is imported on the first delivery, not at cold start."""

    def __init__(self, allowed: Optional[Callable[[Any], bool]] = None) -> None:
        self._allowed = allowed

    def _address(self, host: str, port: int) -> str:
        import ipaddress
        import socket

        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addrs = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not addrs:
            raise BlockedAddress(f"{host} does not resolve")
        if self._allowed is not None and not all(self._allowed(a) for a in addrs):
            raise BlockedAddress(f"{host} resolves to a loopback, private or link-local address")
        return str(addrs[0])

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        import http.client
        import socket
        import threading
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        host = parts.hostname or ""
        address = self._address(host, port)
        cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
        conn = cls(host, port, timeout=timeout)
        conn._create_connection = (  # type: ignore[attr-defined]
            lambda _addr, t=timeout, src=None: socket.create_connection((address, port), t, src))
        expired = threading.Event()

        def cut() -> None:  # the attempt's deadline: a slow receiver is cut off mid-read
            expired.set()
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        timer = threading.Timer(timeout, cut)
        timer.daemon = True
        timer.start()
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("POST", target, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read(65536)
            if expired.is_set():
                raise TimeoutError(f"webhook attempt took more than {timeout} s")
            return int(resp.status)
        except OSError:
            if expired.is_set():
                raise TimeoutError(f"webhook attempt took more than {timeout} s") from None
            raise
        finally:
            timer.cancel()
            conn.close()
