"""DynamoDB adapters of the metering ports (same table, keys.py): usage counters and webhooks.

A flush writes one UpdateItem of ADDs per namespace and day (atomic, no read);
a day's billing export is one Query of `USAGE#<day>`; a namespace's range is
one BatchGetItem per 100 days. A webhook is added in one transaction with the
namespace's webhook counter, whose condition holds the cap.
"""
from __future__ import annotations

import json
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from . import keys
from .dynamo import Item, _connection, _reasons
from .metering_ports import COUNTERS, UsageRow, WebhookFull, WebhookRecord


class UsageItem(Item):
    """USAGE#<day> / NS#<ns>: the namespace's counters that day."""

    requests = NumberAttribute(null=True)
    pulls = NumberAttribute(null=True)
    pushes = NumberAttribute(null=True)
    bytes_served = NumberAttribute(null=True)
    bytes_uploaded = NumberAttribute(null=True)


class WebhookItem(Item):
    """NS#<ns> / WEBHOOK#<id>."""

    url = UnicodeAttribute(null=True)
    secret = UnicodeAttribute(null=True)
    events = UnicodeAttribute(null=True)  # JSON list of event types
    created = NumberAttribute(null=True)


class WebhookCountItem(Item):
    """NS#<ns> / WEBHOOKS: how many webhooks the namespace has."""

    hooks = NumberAttribute(null=True)


def _row(it: UsageItem) -> UsageRow:
    return UsageRow(namespace=it.sk[len(keys.USAGE_NS_PREFIX):], day=it.pk[len("USAGE#"):],
                    counts={c: int(getattr(it, c) or 0) for c in COUNTERS})


class DynamoUsageStore:
    """UsageStore on the registry's table."""

    def add_usage(self, day: str, namespace: str, counts: dict[str, int]) -> None:
        actions = [getattr(UsageItem, c).add(int(counts[c])) for c in COUNTERS if counts.get(c)]
        if actions:
            UsageItem(keys.usage_pk(day), keys.usage_sk(namespace)).update(actions=actions)

    def usage_of(self, namespace: str, days: list[str]) -> list[UsageRow]:
        wanted = [(keys.usage_pk(d), keys.usage_sk(namespace)) for d in sorted(set(days))]
        rows = [_row(it) for it in UsageItem.batch_get(wanted)] if wanted else []
        return sorted(rows, key=lambda r: r.day)

    def usage_on(self, day: str) -> list[UsageRow]:
        return [_row(it) for it in UsageItem.query(
            keys.usage_pk(day), UsageItem.sk.startswith(keys.USAGE_NS_PREFIX))]


def _hook(namespace: str, it: WebhookItem) -> WebhookRecord:
    return WebhookRecord(namespace=namespace, webhook_id=it.sk[len(keys.WEBHOOK_PREFIX):], url=it.url or "",
                         secret=it.secret or "", events=json.loads(it.events) if it.events else [],
                         created=int(it.created or 0))


class DynamoWebhookStore:
    """WebhookStore on the registry's table."""

    def add_webhook(self, rec: WebhookRecord, limit: int) -> None:
        pk = keys.namespace_pk(rec.namespace)
        try:
            with TransactWrite(connection=_connection()) as t:
                t.update(WebhookCountItem(pk, keys.WEBHOOK_COUNT_SK), actions=[WebhookCountItem.hooks.add(1)],
                         condition=WebhookCountItem.hooks.does_not_exist() | (WebhookCountItem.hooks < limit))
                t.save(WebhookItem(pk, keys.webhook_sk(rec.webhook_id), url=rec.url, secret=rec.secret,
                                   events=json.dumps(list(rec.events)), created=rec.created),
                       condition=WebhookItem.pk.does_not_exist())
        except TransactWriteError as err:
            reasons = _reasons(err)
            # pynamodb sends puts before updates: [webhook put, counter update]
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise WebhookFull(rec.namespace) from None
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise ValueError(f"webhook {rec.webhook_id} exists") from None
            raise

    def list_webhooks(self, namespace: str) -> list[WebhookRecord]:
        return [_hook(namespace, it) for it in WebhookItem.query(
            keys.namespace_pk(namespace), WebhookItem.sk.startswith(keys.WEBHOOK_PREFIX))]

    def delete_webhook(self, namespace: str, webhook_id: str) -> bool:
        pk = keys.namespace_pk(namespace)
        try:
            with TransactWrite(connection=_connection()) as t:
                t.delete(WebhookItem(pk, keys.webhook_sk(webhook_id)), condition=WebhookItem.pk.exists())
                t.update(WebhookCountItem(pk, keys.WEBHOOK_COUNT_SK), actions=[WebhookCountItem.hooks.add(-1)])
            return True
        except TransactWriteError as err:
            if "ConditionalCheckFailed" in _reasons(err):
                return False
            raise

