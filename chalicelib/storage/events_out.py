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


class UrllibTransport:
    """WebhookTransport: one POST, no redirects followed, the answer's status.

    urllib is imported on the first delivery, not at cold start."""

    def __init__(self) -> None:
        self._opener: Any = None

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        import urllib.error
        import urllib.request

        if self._opener is None:
            class NoRedirect(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                    return None  # a redirect is an answer (3xx), never followed to another host

            self._opener = urllib.request.build_opener(NoRedirect)
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                resp.read(65536)
                return int(resp.status)
        except urllib.error.HTTPError as err:
            return int(err.code)
