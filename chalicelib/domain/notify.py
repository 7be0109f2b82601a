"""What the registry's use cases report after a commit: events and uploaded bytes.

`Notifier` (the default) does nothing, so the use cases run without a bus or a
meter (unit tests, tools); the composition root installs `EventNotifier`.
Called only after the write succeeded: an event never announces what a failed
transaction did not do.
"""
from __future__ import annotations

from typing import Optional

from ..auth.policy import namespace_of
from ..oci.digest import looks_like_digest
from .events import MANIFEST_DELETED, MANIFEST_PUSHED, QUOTA_WARNING, TAG_DELETED, EventBus, make_event
from .metering import UsageMeter


class Notifier:
    """No events, no metering."""

    def manifest_pushed(self, repo: str, tag: Optional[str], digest: str, media_type: str, size: int,
                        subject: Optional[str]) -> None:
        pass

    def deleted(self, repo: str, reference: str) -> None:
        pass

    def uploaded(self, repo: str, size: int) -> None:
        pass

    def quota_warning(self, namespace: str, usage: dict) -> None:
        pass


class EventNotifier(Notifier):
    """Publishes domain events on `bus` and counts uploaded blob bytes on `meter`."""

    def __init__(self, bus: Optional[EventBus], meter: Optional[UsageMeter]) -> None:
        self.bus = bus
        self.meter = meter

    def manifest_pushed(self, repo: str, tag: Optional[str], digest: str, media_type: str, size: int,
                        subject: Optional[str]) -> None:
        if self.bus is not None:
            data = {"repository": repo, "tag": tag, "digest": digest, "mediaType": media_type, "size": size}
            if subject:
                data["subject"] = subject
            self.bus.publish(make_event(MANIFEST_PUSHED, namespace_of(repo), data))

    def deleted(self, repo: str, reference: str) -> None:
        if self.bus is None:
            return
        if looks_like_digest(reference):
            event = make_event(MANIFEST_DELETED, namespace_of(repo), {"repository": repo, "digest": reference})
        else:
            event = make_event(TAG_DELETED, namespace_of(repo), {"repository": repo, "tag": reference})
        self.bus.publish(event)

    def quota_warning(self, namespace: str, usage: dict) -> None:
        if self.bus is not None:
            self.bus.publish(make_event(QUOTA_WARNING, namespace, usage))

    def uploaded(self, repo: str, size: int) -> None:
        if self.meter is not None and size > 0:
            self.meter.record(namespace_of(repo), {"bytes_uploaded": int(size)})
