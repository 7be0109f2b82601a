"""local/moto_tx.py: the in-memory mode's TransactWriteItems keeps only the named items for
rollback. A cancelled transaction must leave every item as it was: a Put of a new item
removed, an Update and a Delete of existing items undone, whatever order the failing
condition comes in; a transaction that succeeds writes everything."""
from __future__ import annotations

import os
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from support import set_env


@pytest.fixture(scope="module")
def ddb():
    from local.embedded import EmbeddedAWS

    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB")}
    aws = EmbeddedAWS().start()
    client = boto3.client("dynamodb", endpoint_url=aws.url, region_name="us-east-1")
    table = f"tx-{uuid.uuid4().hex[:8]}"
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                                   {"AttributeName": "SK", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                              {"AttributeName": "SK", "AttributeType": "S"}])
    yield client, table
    aws.stop()
    set_env(saved)


def _key(pk: str, sk: str) -> dict:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def _get(client, table: str, pk: str, sk: str):
    return client.get_item(TableName=table, Key=_key(pk, sk), ConsistentRead=True).get("Item")


@pytest.mark.parametrize("failing_first", [False, True])
def test_a_cancelled_transaction_leaves_every_item_as_it_was(ddb, failing_first):
    client, table = ddb
    pk = uuid.uuid4().hex
    client.put_item(TableName=table, Item={**_key(pk, "old"), "n": {"N": "1"}})
    client.put_item(TableName=table, Item={**_key(pk, "gone"), "n": {"N": "7"}})
    writes = [
        {"Put": {"TableName": table, "Item": {**_key(pk, "new"), "n": {"N": "5"}}}},
        {"Update": {"TableName": table, "Key": _key(pk, "old"), "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Delete": {"TableName": table, "Key": _key(pk, "gone")}},
    ]
    failing = {"ConditionCheck": {"TableName": table, "Key": _key(pk, "missing"),
                                  "ConditionExpression": "attribute_exists(PK)"}}
    items = [failing] + writes if failing_first else writes + [failing]
    with pytest.raises(ClientError) as err:
        client.transact_write_items(TransactItems=items)
    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _get(client, table, pk, "new") is None
    assert _get(client, table, pk, "old")["n"] == {"N": "1"}
    assert _get(client, table, pk, "gone")["n"] == {"N": "7"}
    client.transact_write_items(TransactItems=writes)   # without the failing check: all of it
    assert _get(client, table, pk, "new")["n"] == {"N": "5"}
    assert _get(client, table, pk, "old")["n"] == {"N": "2"}
    assert _get(client, table, pk, "gone") is None
