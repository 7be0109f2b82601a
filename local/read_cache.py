"""A read cache for the local server's DynamoDB client: GetItem answered from memory.

Why it is correct here, and only here: `python -m local` is the one process that writes
its DynamoDB (the embedded DynamoDB Local or moto; `make backup` only reads, `make
restore` runs with the registry stopped), and every write it makes goes through the one
botocore client this cache hooks. So a GetItem answer stays true until this process
writes again. Each write, whatever its outcome, drops the whole cache when it starts
and again when it ends, and a read's answer is kept only when no write started, ran or
ended while the read was on the wire (a generation count), so a reader never keeps a
value a concurrent write may have replaced. TTL needs nothing: the adapters filter
expired items themselves (DynamoDB deletes them lazily), and an item read from the cache
is filtered against the current time as one read from the table would be.

A deployed registry has many Lambda instances writing one table, so the deployed code
path has no such cache: it is installed by local/__main__.py alone, and
`REGISTRY_LOCAL_READ_CACHE=0` turns it off. The gain: a manifest HEAD by tag is one
GetItem, whose SDK round trip (signing, HTTP, parsing; DynamoDB Local's own work in
another process) was most of its CPU (docs/benchmarks.md).
"""
from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from typing import Any, Optional

# Operations that never change the table; every other operation counts as a write.
_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable",
                    "DescribeTimeToLive", "ListTables", "DescribeContinuousBackups", "DescribeEndpoints",
                    "ListTagsOfResource"})
_CTX = "local_read_cache"


class ReadCache:
    """GetItem answers by request body, bounded (least recently used dropped first)."""

    def __init__(self, max_items: int = 20_000) -> None:
        self.max_items = max_items
        self._lock = threading.Lock()
        self._items: OrderedDict[bytes, tuple[Any, dict]] = OrderedDict()
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
                self._items.clear()
            context[_CTX] = "write"
            return None
        if name != "GetItem":
            return None
        key = _body(params)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                self.hits += 1
                context[_CTX] = "hit"
                http, parsed = hit
                return http, copy.deepcopy(parsed)
            self.misses += 1
            context[_CTX] = ("read", key, self._generation, self._writing)
        return None

    def _after(self, http_response: Any, parsed: dict, context: dict, **_: Any) -> None:
        mark = context.get(_CTX)
        if mark == "write":
            self._write_ended()
        elif isinstance(mark, tuple):
            _, key, generation, writing = mark
            if getattr(http_response, "status_code", 500) != 200 or writing:
                return
            with self._lock:
                if self._generation != generation or self._writing:
                    return   # a write overlapped the read: its answer may be stale
                self._items[key] = (http_response, copy.deepcopy(parsed))
                if len(self._items) > self.max_items:
                    self._items.popitem(last=False)

    def _error(self, context: dict, **_: Any) -> None:
        if context.get(_CTX) == "write":  # the write may or may not have happened
            self._write_ended()

    def _write_ended(self) -> None:
        with self._lock:
            self._writing -= 1
            self._generation += 1
            self._items.clear()


def _body(params: dict) -> bytes:
    body = params.get("body", b"")
    return body.encode() if isinstance(body, str) else bytes(body)
