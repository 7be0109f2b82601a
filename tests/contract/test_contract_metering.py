"""The metering ports' contract (storage/metering_ports.py) on every implementation."""
from __future__ import annotations

import threading
import uuid

import pytest

from chalicelib.storage.metering_ports import COUNTERS, WebhookFull, WebhookRecord


def _ns() -> str:
    return f"n{uuid.uuid4().hex[:10]}"


def test_usage_adds_atomically_and_reads_back(impl):
    ns = _ns()
    impl.usage.add_usage("2026-12-01", ns, {"requests": 3, "pulls": 1})
    impl.usage.add_usage("2026-12-01", ns, {"requests": 2, "bytes_served": 10 ** 12})
    impl.usage.add_usage("2026-12-03", ns, {"pushes": 1})
    impl.usage.add_usage("2026-12-03", ns, {})                       # nothing to add: no row change
    rows = impl.usage.usage_of(ns, ["2026-12-03", "2026-12-01", "2026-12-02"])
    assert [(r.day, r.namespace) for r in rows] == [("2026-12-01", ns), ("2026-12-03", ns)]
    assert rows[0].counts == {"requests": 5, "pulls": 1, "pushes": 0, "bytes_served": 10 ** 12,
                              "bytes_uploaded": 0}
    assert rows[1].counts == {c: (1 if c == "pushes" else 0) for c in COUNTERS}
    assert impl.usage.usage_of(_ns(), ["2026-12-01"]) == []


def test_usage_of_many_days_and_one_day_of_many_namespaces(impl):
    ns, other = sorted([_ns(), _ns()])
    day = f"2031-{uuid.uuid4().int % 12 + 1:02d}-{uuid.uuid4().int % 28 + 1:02d}"
    days = [f"2030-{m:02d}-{d:02d}" for m in range(1, 6) for d in range(1, 29)]   # 140: more than one batch
    for d in days[::7]:
        impl.usage.add_usage(d, ns, {"requests": 1})
    assert [r.day for r in impl.usage.usage_of(ns, days)] == days[::7]
    impl.usage.add_usage(day, other, {"pulls": 2})
    impl.usage.add_usage(day, ns, {"pulls": 1})
    on_day = [(r.namespace, r.counts["pulls"]) for r in impl.usage.usage_on(day) if r.namespace in (ns, other)]
    assert on_day == [(ns, 1), (other, 2)]


def test_concurrent_adds_lose_nothing(impl):
    ns = _ns()

    def add() -> None:
        for _ in range(5):
            impl.usage.add_usage("2026-12-02", ns, {"requests": 1, "bytes_uploaded": 7})

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    row = impl.usage.usage_of(ns, ["2026-12-02"])[0]
    assert (row.counts["requests"], row.counts["bytes_uploaded"]) == (20, 140)


def _hook(ns: str, i: int) -> WebhookRecord:
    return WebhookRecord(namespace=ns, webhook_id=f"{i:016x}", url=f"https://h.example/{i}", secret=f"s{i}",
                         events=["manifest.pushed"] if i % 2 else [], created=1000 + i)


def test_webhooks_capped_listed_and_deleted(impl):
    ns = _ns()
    for i in range(3):
        impl.webhooks.add_webhook(_hook(ns, i), limit=3)
    with pytest.raises(WebhookFull):
        impl.webhooks.add_webhook(_hook(ns, 9), limit=3)
    listed = impl.webhooks.list_webhooks(ns)
    assert [(h.webhook_id, h.url, h.secret, h.events, h.created) for h in listed] == [
        (f"{i:016x}", f"https://h.example/{i}", f"s{i}", ["manifest.pushed"] if i % 2 else [], 1000 + i)
        for i in range(3)]
    assert impl.webhooks.list_webhooks(_ns()) == []
    assert impl.webhooks.delete_webhook(ns, f"{1:016x}") is True
    assert impl.webhooks.delete_webhook(ns, f"{1:016x}") is False
    impl.webhooks.add_webhook(_hook(ns, 9), limit=3)                 # room again
    with pytest.raises(WebhookFull):
        impl.webhooks.add_webhook(_hook(ns, 10), limit=3)
    with pytest.raises(ValueError):
        impl.webhooks.add_webhook(_hook(ns, 0), limit=10)            # the same id twice
    assert len(impl.webhooks.list_webhooks(ns)) == 3
