"""A read cache for the local server's DynamoDB client: GetItem answered from memory.

Why it is correct here, and only here: `python -m local` is the one process that writes
its DynamoDB (the embedded DynamoDB Local or moto; `make backup` only reads, `make
restore` runs with the registry stopped), and every write it makes goes through the one
botocore client this cache hooks. So a GetItem answer stays true until this process
writes again. Each write, whatever its outcome, drops the whole cache when it starts
and again when it ends, and a read's answer is kept only when no write started, ran or
ended while the read was on the wire (a generation count), so a reader never keeps a
value a concurrent write may have replaced. A PutItem that succeeded while no other
write overlapped it leaves its item in the cache: it is what the table now holds (the
next GetItem of an upload session, just saved, is then no round trip). TTL needs
nothing: the adapters filter expired items themselves (DynamoDB deletes them lazily), and
an item read from the cache is filtered against the current time as one read from the
table would be.

A deployed registry has many Lambda instances writing one table, so the deployed code
path has no such cache: it is installed by local/__main__.py alone, and
`REGISTRY_LOCAL_READ_CACHE=0` turns it off. The gain: a manifest HEAD by tag is one
GetItem, whose SDK round trip (signing, HTTP, parsing; DynamoDB Local's own work in
another process) was most of its CPU (docs/benchmarks.md).
"""
from __future__ import annotations

import base64
import copy
import json
import threading
from collections import OrderedDict
from typing import Any, Optional

# Operations that never change the table; every other operation counts as a write.
_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable",
                    "DescribeTimeToLive", "ListTables", "DescribeContinuousBackups", "DescribeEndpoints",
                    "ListTagsOfResource"})
_CTX = "local_read_cache"
# GetItem parameters that shape the answer (ConsistentRead does not: this process is the
# only writer, so every read sees the latest write).
_SHAPE = ("ProjectionExpression", "ExpressionAttributeNames", "AttributesToGet")


class _Answered:
    """What botocore reads of a response it did not fetch: the status (the raw body of the
    original response is not kept)."""

    status_code = 200
    headers: dict = {}


_ANSWERED = _Answered()


class ReadCache:
    """GetItem answers by table, key and projection, bounded by count and by bytes (least
    recently used out first): items run up to 400 KB (a manifest kept inline, 256 KiB), and
    whoever may push may also read, so the bound is on what they weigh."""

    def __init__(self, max_items: int = 20_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[int, dict]] = OrderedDict()   # key -> (weight, parsed)
        self._bytes = 0
        self._key_names: dict[str, frozenset] = {}   # table -> its key attributes, seen in GetItems
        self._generation = 0
        self._writing = 0
        self.hits = 0
        self.misses = 0

    def install(self, client: Any) -> "ReadCache":
        """Hook every call of `client` (a botocore DynamoDB client)."""
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        events.register(f"before-call.{service}", self._before, unique_id="local-read-cache-before")
        events.register(f"after-call.{service}", self._after, unique_id="local-read-cache-after")
        events.register(f"after-call-error.{service}", self._error, unique_id="local-read-cache-error")
        return self

    # -- botocore event handlers --------------------------------------------
    def _before(self, model: Any, params: dict, context: dict, **_: Any) -> Optional[tuple]:
        name = model.name
        if name not in _READS:
            with self._lock:
                self._writing += 1
                self._generation += 1
                self._clear()
                context[_CTX] = ("write", name, self._generation, params if name == "PutItem" else None)
            return None
        if name != "GetItem":
            return None
        request = _body(params)
        key = _get_key(request)
        with self._lock:
            self._key_names.setdefault(request.get("TableName", ""), frozenset(request.get("Key") or ()))
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                self.hits += 1
                context[_CTX] = ("hit",)
                return _ANSWERED, copy.deepcopy(hit[1])
            self.misses += 1
            context[_CTX] = ("read", key, self._generation, self._writing)
        return None

    def _after(self, http_response: Any, parsed: dict, context: dict, **_: Any) -> None:
        mark = context.get(_CTX) or ("",)
        ok = getattr(http_response, "status_code", 500) == 200
        if mark[0] == "write":
            self._write_ended(mark, http_response if ok else None)
        elif mark[0] == "read" and ok and not mark[3]:
            with self._lock:
                if self._generation != mark[2] or self._writing:
                    return   # a write overlapped the read: its answer may be stale
                self._store(mark[1], len(getattr(http_response, "content", b"") or b""), parsed)

    def _error(self, context: dict, **_: Any) -> None:
        mark = context.get(_CTX) or ("",)
        if mark[0] == "write":  # the write may or may not have happened
            self._write_ended(mark, None)

    def _write_ended(self, mark: tuple, http_response: Any) -> None:
        _, name, started_at, params = mark
        request = _body(params) if params is not None and http_response is not None else {}
        with self._lock:
            alone = self._generation == started_at and self._writing == 1  # no write overlapped it
            self._writing -= 1
            self._generation += 1
            self._clear()
            if name == "PutItem" and http_response is not None and alone:
                table = request.get("TableName", "")
                item = request.get("Item") or {}
                names = self._key_names.get(table)
                if names and names <= item.keys():
                    key = _get_key({"TableName": table, "Key": {n: item[n] for n in names}})
                    self._store(key, len(params.get("body") or b""),
                                {"Item": {k: _parsed(v) for k, v in item.items()}})

    def _store(self, key: str, weight: int, parsed: dict) -> None:
        """Keep a copy of `parsed` (about `weight` bytes on the wire); under the lock."""
        if weight > self.max_bytes // 16:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old[0]
        self._items[key] = (weight, copy.deepcopy(parsed))
        self._bytes += weight
        while len(self._items) > self.max_items or self._bytes > self.max_bytes:
            self._bytes -= self._items.popitem(last=False)[1][0]

    def _clear(self) -> None:
        self._items.clear()
        self._bytes = 0


def _body(params: dict) -> dict:
    body = params.get("body", b"")
    try:
        return json.loads(body) if body else {}
    except ValueError:
        return {}


def _parsed(value: dict) -> dict:
    """An attribute value of a request body as botocore's parser hands it back: binary
    values as bytes (base64 text on the wire), maps and lists likewise inside."""
    kind, inner = next(iter(value.items()))
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in inner]}
    if kind == "M":
        return {"M": {k: _parsed(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_parsed(v) for v in inner]}
    return {kind: copy.deepcopy(inner)}


def _get_key(request: dict) -> str:
    shape = {k: request[k] for k in _SHAPE if k in request}
    return json.dumps([request.get("TableName"), request.get("Key"), shape], sort_keys=True)
