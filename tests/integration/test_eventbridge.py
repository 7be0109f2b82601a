"""The EventBridge adapter (storage/events_out.py) on moto's server: events published by the
bus arrive on EventBridge as the registry's envelope, routed by a rule to an SQS queue.

(ministack has an EventBridge service too, but the strict backend starts only its S3; moto
runs here as a separate server, so no process-wide botocore patching is involved.)"""
from __future__ import annotations

import json
from typing import Iterator

import boto3
import pytest

from chalicelib.domain.events import MANIFEST_PUSHED, TAG_DELETED, EventBus, make_event
from chalicelib.storage.events_out import EventBridgePublisher
from local.backends import free_port


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _client(endpoint: str, service: str):
    return boto3.session.Session().client(service, endpoint_url=endpoint, region_name="us-east-1",
                                          aws_access_key_id="testing", aws_secret_access_key="testing")


def test_events_reach_eventbridge_and_its_rules(endpoint):
    events, sqs = _client(endpoint, "events"), _client(endpoint, "sqs")
    bus = events.create_event_bus(Name="registry-events")["EventBusArn"]
    queue = sqs.create_queue(QueueName="registry-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="pushes", EventBusName="registry-events",
                    EventPattern=json.dumps({"source": ["oci-registry"], "detail-type": [MANIFEST_PUSHED]}))
    events.put_targets(Rule="pushes", EventBusName="registry-events", Targets=[{"Id": "q", "Arn": queue_arn}])

    publisher = EventBridgePublisher(lambda: events, "registry-events")
    pushed = make_event(MANIFEST_PUSHED, "acme", {"repository": "acme/app", "tag": "v1",
                                                  "digest": "sha256:" + "a" * 64, "mediaType": "x", "size": 3})
    deleted = make_event(TAG_DELETED, "acme", {"repository": "acme/app", "tag": "v1"})
    assert publisher.publish([pushed, deleted]) == [None, None]

    # through the bus's worker, as the registry sends them
    bus_worker = EventBus(publisher=lambda: publisher)
    later = make_event(MANIFEST_PUSHED, "acme", {"repository": "acme/app", "tag": "v2",
                                                 "digest": "sha256:" + "b" * 64, "mediaType": "x", "size": 4})
    bus_worker.publish(later)
    assert bus_worker.wait_idle(10)

    got = []
    for _ in range(5):
        msgs = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        got += [json.loads(m["Body"]) for m in msgs]
        if len(got) >= 2:
            break
    assert [(m["source"], m["detail-type"]) for m in got] == [("oci-registry", MANIFEST_PUSHED)] * 2
    assert [m["detail"] for m in got] == [pushed, later]     # the rule filtered the tag deletion out
    assert bus.endswith(":event-bus/registry-events")


def test_an_unreachable_bus_does_not_stop_webhooks(endpoint, caplog):
    """PutEvents refused (no such bus): logged; the webhooks of the event still get it."""
    from chalicelib.storage.memory_metering import MemoryWebhookStore
    from chalicelib.storage.metering_ports import WebhookRecord

    class Transport:
        def __init__(self) -> None:
            self.posts: list = []

        def post(self, url, body, headers, timeout) -> int:
            self.posts.append((url, json.loads(body)))
            return 204

    hooks, transport = MemoryWebhookStore(), Transport()
    hooks.add_webhook(WebhookRecord("acme", "0" * 16, "https://h.example/x", "s3cret"), limit=10)
    publisher = EventBridgePublisher(lambda: _client(endpoint, "events"), "no-such-bus")
    bus = EventBus(webhooks=lambda: hooks, transport=transport, publisher=lambda: publisher)
    event = make_event(MANIFEST_PUSHED, "acme", {"repository": "acme/app", "tag": "v1"})
    with caplog.at_level("ERROR", logger="registry.events"):
        bus.publish(event)
        assert bus.wait_idle(10)
    assert [(u, b["id"]) for u, b in transport.posts] == [("https://h.example/x", event["id"])]
    assert any("event bus unreachable" in r.getMessage() for r in caplog.records)
