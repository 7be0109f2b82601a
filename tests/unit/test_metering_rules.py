"""Pure rules of metering and events: what a request counts, the meter's buffer and flush,
webhook signatures and URL checks (domain/metering.py, domain/events.py, domain/webhooks.py)."""
from __future__ import annotations

import threading

import pytest

from chalicelib.oci.errors import RegistryError
from chalicelib.domain.events import EventBus, make_event, signature, verify
from chalicelib.domain.metering import UsageMeter, request_counts
from chalicelib.domain.webhooks import check_url
from chalicelib.storage.memory_metering import MemoryUsageStore, MemoryWebhookStore
from chalicelib.storage.metering_ports import WebhookRecord

OCI = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


@pytest.mark.parametrize("kind,method,status,ctype,redirected,expected", [
    ("manifest", "GET", 200, OCI, 0, {"requests": 1, "pulls": 1}),
    ("manifest", "GET", 200, f"{OCI}; charset=utf-8", 0, {"requests": 1, "pulls": 1}),
    ("manifest", "GET", 200, INDEX, 0, {"requests": 1}),
    ("manifest", "GET", 200, LIST, 0, {"requests": 1}),
    ("manifest", "HEAD", 200, OCI, 0, {"requests": 1}),
    ("manifest", "GET", 404, "application/json", 0, {"requests": 1}),
    ("manifest", "GET", 401, "application/json", 0, {"requests": 1}),
    ("manifest", "PUT", 201, "", 0, {"requests": 1, "pushes": 1}),
    ("manifest", "PUT", 400, "application/json", 0, {"requests": 1}),
    ("blob", "GET", 307, "", 1234, {"requests": 1, "bytes_served": 1234}),
    ("blob", "GET", 404, "", 0, {"requests": 1}),
    ("upload", "PUT", 201, "", 0, {"requests": 1}),
])
def test_request_counts(kind, method, status, ctype, redirected, expected):
    assert request_counts(kind, method, status, ctype, redirected) == expected


class Clock:
    def __init__(self, t: float = 1795910400.0) -> None:  # 2026-11-29T00:00:00Z
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_meter_batches_per_day_and_namespace_and_flushes_once_each():
    store, clock = MemoryUsageStore(), Clock()
    meter = UsageMeter(lambda: store, flush_seconds=60, flush_events=1000, clock=clock)
    for _ in range(3):
        meter.record("acme", {"requests": 1, "pulls": 1}, background=False)
    meter.record("beta", {"bytes_uploaded": 10}, background=False)
    clock.t += 86400
    meter.record("acme", {"requests": 1}, background=False)
    assert len(meter.pending()) == 3 and store.usage_on("2026-11-30") == []
    assert meter.flush() == 3 and meter.pending() == {}
    day1 = {r.namespace: r.counts for r in store.usage_on("2026-11-29")}
    assert day1["acme"]["pulls"] == 3 and day1["beta"]["bytes_uploaded"] == 10
    assert store.usage_on("2026-11-30")[0].counts["requests"] == 1
    assert meter.flush() == 0


def test_meter_flushes_in_the_background_when_due_by_age_or_count():
    store, clock = MemoryUsageStore(), Clock()
    flushed = threading.Event()

    class Watching(MemoryUsageStore):
        def add_usage(self, day, namespace, counts):
            store.add_usage(day, namespace, counts)
            flushed.set()

    meter = UsageMeter(lambda: Watching(), flush_seconds=60, flush_events=3, clock=clock)
    meter.record("acme", {"requests": 1})
    meter.record("acme", {"requests": 1})
    assert not flushed.wait(0.2)                      # neither old nor many enough
    meter.record("acme", {"requests": 1})             # the third: due by count
    assert flushed.wait(5)
    flushed.clear()
    meter.record("acme", {"requests": 1})
    clock.t += 61
    meter.record("acme", {"requests": 1})             # the oldest is 61 s old: due by age
    assert flushed.wait(5)


def test_a_failed_flush_keeps_its_counts_for_the_next():
    store = MemoryUsageStore()
    fail = [True]

    class Flaky:
        def add_usage(self, day, namespace, counts):
            if fail[0]:
                raise ConnectionError("throttled")
            store.add_usage(day, namespace, counts)

    meter = UsageMeter(lambda: Flaky(), clock=Clock())
    meter.record("acme", {"requests": 2}, background=False)
    assert meter.flush() == 0
    meter.record("acme", {"requests": 1}, background=False)
    fail[0] = False
    assert meter.flush() == 1
    assert store.usage_on("2026-11-29")[0].counts["requests"] == 3


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    import hashlib
    import hmac

    body = b'{"a":1}'
    sig = signature("whsec_x", 1700000000, body)
    assert sig == "t=1700000000,v1=" + hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert verify("whsec_x", sig, body, now=1700000100)
    assert not verify("whsec_x", sig, body, now=1700000000 + 301)   # stale: replay window closed
    assert not verify("whsec_y", sig, body, now=1700000000)
    assert not verify("whsec_x", "garbage", body, now=1700000000)


@pytest.mark.parametrize("url,private,ok", [
    ("http://127.0.0.1:8080/hook", True, True),
    ("https://hooks.example.com/x?y=1", False, True),
    ("http://hooks.example.com/x", False, False),
    ("https://127.0.0.1/x", False, False),
    ("https://10.1.2.3/x", False, False),
    ("https://169.254.169.254/latest", False, False),
    ("https://[::1]/x", False, False),
    ("https://localhost/x", False, False),
    ("ftp://hooks.example.com/x", True, False),
    ("https://user:pw@hooks.example.com/", True, False),
    ("https://hooks.example.com:99999/", True, False),
    ("https://hooks.example.com/\nX", True, False),
    ("https:///nohost", True, False),
])
def test_webhook_urls(url, private, ok):
    if ok:
        assert check_url(url, private) == url
    else:
        with pytest.raises(RegistryError) as err:
            check_url(url, private)
        assert err.value.status == 400


def test_event_filter_and_envelope():
    posts = []

    class Transport:
        def post(self, url, body, headers, timeout):
            posts.append(url)
            return 200

    hooks = MemoryWebhookStore()
    hooks.add_webhook(WebhookRecord("acme", "1" * 16, "https://a/", "s", ["tag.deleted"]), 10)
    hooks.add_webhook(WebhookRecord("acme", "2" * 16, "https://b/", "s", []), 10)
    hooks.add_webhook(WebhookRecord("other", "3" * 16, "https://c/", "s", []), 10)
    bus = EventBus(webhooks=lambda: hooks, transport=Transport())
    e = make_event("manifest.pushed", "acme", {"repository": "acme/app", "tag": "v1"}, now=0)
    assert e["time"] == "1970-01-01T00:00:00.000000Z" and e["subject"] == "acme/app:v1"
    assert e["specversion"] == "1.0" and e["source"] == "oci-registry"
    bus.publish(e)
    assert bus.wait_idle(5)
    assert posts == ["https://b/"]


def _doc_blocks() -> list[dict]:
    import json
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.DOTALL)]


def test_documented_schema_holds_the_events_the_registry_makes():
    """docs/events.md's JSON Schema validates its example and every envelope notify.py builds."""
    from fastjsonschema import JsonSchemaValueException, compile as compile_schema

    from chalicelib.domain.notify import EventNotifier

    example, schema = _doc_blocks()
    validate = compile_schema({k: v for k, v in schema.items() if k != "$schema"})
    validate(example)

    class Bus:
        def __init__(self) -> None:
            self.events: list = []

        def publish(self, e: dict) -> None:
            self.events.append(e)

    bus = Bus()
    n = EventNotifier(bus, None)  # type: ignore[arg-type]
    n.manifest_pushed("acme/app", "v1", "sha256:" + "a" * 64, OCI, 10, None)
    n.manifest_pushed("acme/app", None, "sha256:" + "b" * 64, OCI, 10, "sha256:" + "a" * 64)
    n.deleted("acme/app", "v1")
    n.deleted("acme/app", "sha256:" + "a" * 64)
    assert [e["type"] for e in bus.events] == ["manifest.pushed", "manifest.pushed", "tag.deleted",
                                               "manifest.deleted"]
    for e in bus.events:
        validate({**e, "webhook": "0" * 16, "attempt": 1})
    with pytest.raises(JsonSchemaValueException):
        validate({**bus.events[0], "data": {"repository": "acme/app"}})


def test_concurrent_records_start_one_background_flush_at_a_time():
    """Many request threads finding a flush due start one flush, and lose no count."""
    store = MemoryUsageStore()
    started = []
    gate = threading.Event()

    class Slow:
        def add_usage(self, day, namespace, counts):
            started.append(threading.current_thread().name)
            gate.wait(5)
            store.add_usage(day, namespace, counts)

    meter = UsageMeter(lambda: Slow(), flush_seconds=3600, flush_events=1, clock=Clock())

    def hammer() -> None:
        for _ in range(50):
            meter.record("acme", {"requests": 1})

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gate.set()
    for _ in range(100):
        if not meter._flushing:
            break
        threading.Event().wait(0.02)
    meter.flush()
    assert set(started) <= {"usage-flush", "MainThread"}
    assert store.usage_on("2026-11-29")[0].counts["requests"] == 400


def test_a_new_namespaces_first_requests_wait_for_it_to_be_proven():
    """A push into a new namespace starts with requests that fail (a 401, a 404) before
    anything there exists; a flush falling between them and the first success keeps their
    counts for the next flush instead of dropping them. A namespace never proven is
    dropped once its grace is over."""
    from chalicelib.domain.metering import UNPROVEN_GRACE_S

    store, clock = MemoryUsageStore(), Clock()
    exists: set = set()
    meter = UsageMeter(lambda: store, flush_seconds=3600, flush_events=10_000, clock=clock,
                       exists=lambda ns: ns in exists)
    meter.record("newns", {"requests": 1}, background=False)             # the push's first 401
    meter.record("stranger", {"requests": 1}, background=False)          # never exists
    assert meter.flush() == 0                                            # neither proven yet
    assert "newns" in {ns for _, ns in meter.pending()} and store.usage_on("2026-11-29") == []
    meter.record("newns", {"requests": 1}, background=False, proven=True)  # the POST's 202
    assert meter.flush() == 1
    assert {r.namespace: r.counts["requests"] for r in store.usage_on("2026-11-29")} == {"newns": 2}
    clock.t += UNPROVEN_GRACE_S
    meter.flush()
    assert meter.pending() == {}
    assert [r.namespace for r in store.usage_on("2026-11-29")] == ["newns"]   # the stranger never counted


def test_a_namespace_read_absent_is_not_read_again_while_its_counts_wait():
    """One existence read per waiting namespace, as before counts waited: flushes meanwhile
    make no read for it (a flush is one write per namespace and day, nothing more)."""
    store, clock = MemoryUsageStore(), Clock()
    reads: list = []
    meter = UsageMeter(lambda: store, flush_seconds=3600, flush_events=10_000, clock=clock,
                       exists=lambda ns: reads.append(ns) or False)
    meter.record("ghost", {"requests": 1}, background=False)
    for _ in range(3):
        assert meter.flush() == 0
        clock.t += 10
    assert reads == ["ghost"]
    meter.record("ghost", {"requests": 1}, background=False, proven=True)
    assert meter.flush() == 1 and reads == ["ghost"]
    assert store.usage_on("2026-11-29")[0].counts["requests"] == 2
