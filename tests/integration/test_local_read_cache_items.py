"""The local server's DynamoDB read cache (local/read_cache.py) on the real embedded
DynamoDB: an answer from the cache, written through by a PutItem or kept from a GetItem,
is the answer the table gives, for every attribute type; a read that a write overlapped
is not kept. On both backends."""
from __future__ import annotations

import os
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from local.read_cache import ReadCache

pytestmark = pytest.mark.backends("memory", "strict")


def _clients(registry: Any) -> tuple[Any, Any, str]:
    import boto3

    from chalicelib.http.inject import services
    from chalicelib.storage.dynamo import Item

    services().metadata()
    make = lambda: boto3.session.Session().client(   # noqa: E731 - two alike
        "dynamodb", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
    return make(), make(), Item.Meta.table_name


def _item(pk: str) -> dict:
    return {"PK": {"S": pk}, "SK": {"S": "meta"}, "s": {"S": "text é"}, "n": {"N": "12.5"},
            "b": {"B": b"\x00\xffbinary"}, "bs": {"BS": [b"\x01", b"\x02\x03"]}, "ss": {"SS": ["a", "b"]},
            "ns": {"NS": ["1", "2"]}, "t": {"BOOL": True}, "z": {"NULL": True},
            "m": {"M": {"inner": {"B": b"\x10"}, "l": {"L": [{"B": b"\x11"}, {"S": "x"}]}}}}


def _normal(item: dict) -> dict:
    """Sets compare as sets (DynamoDB keeps no order in them)."""
    return {k: ({t: sorted(v)} if t in ("BS", "SS", "NS") else {t: v})
            for k, tv in item.items() for t, v in tv.items()}


def test_cached_answers_are_the_tables_answers_for_every_attribute_type(registry):
    cached, plain, table = _clients(registry)
    cache = ReadCache().install(cached)
    pk = f"cache-test#{uuid.uuid4().hex}"
    key = {"PK": {"S": pk}, "SK": {"S": "meta"}}
    assert "Item" not in cached.get_item(TableName=table, Key=key, ConsistentRead=True)  # learns the key
    cached.put_item(TableName=table, Item=_item(pk))          # written through
    hits = cache.hits
    got = cached.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert cache.hits == hits + 1
    truth = plain.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert _normal(got) == _normal(truth) == _normal(_item(pk))
    # an update drops it; the next read goes to the table and is kept
    cached.update_item(TableName=table, Key=key, UpdateExpression="SET s = :v",
                       ExpressionAttributeValues={":v": {"S": "changed"}})
    assert cached.get_item(TableName=table, Key=key)["Item"]["s"] == {"S": "changed"}
    hits = cache.hits
    assert cached.get_item(TableName=table, Key=key)["Item"]["s"] == {"S": "changed"}
    assert cache.hits == hits + 1
    # a write by another client is invisible to the cache: the local server never has one
    plain.delete_item(TableName=table, Key=key)
    cached.delete_item(TableName=table, Key=key)   # (its own delete drops it)
    assert "Item" not in cached.get_item(TableName=table, Key=key)


def test_a_read_overlapped_by_a_write_is_not_kept():
    cache = ReadCache()
    get, put = SimpleNamespace(name="GetItem"), SimpleNamespace(name="PutItem")
    ok = SimpleNamespace(status_code=200)
    body = b'{"TableName": "t", "Key": {"PK": {"S": "a"}, "SK": {"S": "b"}}}'
    for order in ("write starts during the read", "write ends during the read"):
        read_ctx: dict = {}
        write_ctx: dict = {}
        if order == "write ends during the read":
            cache._before(model=put, params={"body": b"{}"}, context=write_ctx)
        assert cache._before(model=get, params={"body": body}, context=read_ctx) is None
        if order == "write starts during the read":
            cache._before(model=put, params={"body": b"{}"}, context=write_ctx)
        else:
            cache._after(http_response=ok, parsed={}, context=write_ctx)
        cache._after(http_response=ok, parsed={"Item": {"v": {"S": "old"}}}, context=read_ctx)
        if order == "write starts during the read":
            cache._after(http_response=ok, parsed={}, context=write_ctx)
        assert cache._before(model=get, params={"body": body}, context={}) is None, order  # a miss


def test_the_cache_is_bounded_by_bytes_and_keeps_no_oversized_item():
    cache = ReadCache(max_bytes=16 * 1000)
    get = SimpleNamespace(name="GetItem")

    def read(n: int, size: int) -> bool:
        """Read key n (an answer of `size` bytes); whether it came from the cache."""
        body = ('{"TableName": "t", "Key": {"PK": {"S": "%d"}}}' % n).encode()
        ctx: dict = {}
        if cache._before(model=get, params={"body": body}, context=ctx) is not None:
            return True
        cache._after(http_response=SimpleNamespace(status_code=200, content=b"x" * size),
                     parsed={"Item": {"PK": {"S": str(n)}}}, context=ctx)
        return False

    assert not read(1, 800) and read(1, 800)          # kept
    assert not read(2, 1001) and not read(2, 1001)    # over a sixteenth of the budget: never kept
    for n in range(10, 30):                            # 20 x 1000 bytes through a 16,000-byte budget
        read(n, 1000)
    assert cache._bytes <= 16 * 1000
    assert read(29, 1000) and not read(10, 1000)       # the newest stay, the oldest went
