"""The composition root on the in-memory fakes (storage/memory*.py): the same wiring as
chalicelib/container/__init__.py, no AWS and no network (use-case and wiring tests)."""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from ..config import Settings
from . import Container


class MemoryContainer(Container):
    """The same wiring on the in-memory fakes (storage/memory*.py): no AWS, no network."""

    def __init__(self, settings: Settings, overrides: Optional[Mapping[str, Any]] = None,
                 clock: Optional[Callable[[], float]] = None) -> None:
        super().__init__(settings, overrides=overrides)
        from ..storage.memory import MemoryState

        self.state = MemoryState()
        self._clock = clock

    def _bind(self) -> None:
        pass

    def metadata(self) -> Any:
        from ..storage.memory import MemoryMetadataStore

        kw = {"clock": self._clock} if self._clock else {}
        return self._once("meta", lambda: MemoryMetadataStore(self.state, **kw))

    def blobs(self) -> Any:
        from ..storage.memory_blobs import MemoryBlobStore

        return self._once("blobs", lambda: MemoryBlobStore(self.settings.bucket_name))

    def helm_index(self) -> Any:
        from ..storage.memory_accounts import MemoryHelmIndex

        return self._once("helm_index", lambda: MemoryHelmIndex(self.state))

    def account_store(self) -> Any:
        from ..storage.memory_accounts import MemoryAccountStore

        kw = {"clock": self._clock} if self._clock else {}
        return self._once("account_store", lambda: MemoryAccountStore(self.state, **kw))

    def lifecycle_store(self) -> Any:
        from ..storage.memory_lifecycle import MemoryTagLifecycle

        return self._once("lifecycle_store", lambda: MemoryTagLifecycle(self.metadata()))

    def usage_store(self) -> Any:
        from ..storage.memory_metering import MemoryUsageStore

        return self._once("usage_store", MemoryUsageStore)

    def webhook_store(self) -> Any:
        from ..storage.memory_metering import MemoryWebhookStore

        return self._once("webhook_store", MemoryWebhookStore)

    def ui_reads(self) -> Any:
        from ..storage.memory_ui import MemoryUiReads

        return self._once("ui_reads", lambda: MemoryUiReads(self.metadata()))

    def gc_store(self) -> Any:
        from ..storage.memory_gc import MemoryGcStore

        return self._once("gc_store", lambda: MemoryGcStore(self.metadata()))

    def quota_store(self) -> Any:
        from ..storage.memory_quota import MemoryQuotaStore

        return self._once("quota_store", lambda: MemoryQuotaStore(self.state))

    def _publisher(self) -> Any:
        from ..storage.memory_metering import RecordingPublisher

        return self._once("publisher", RecordingPublisher)

    def _transport(self) -> Any:
        return None
