"""moto's TransactWriteItems without a deep copy of whole tables (the in-memory mode only).

moto 5.2.5 keeps a rollback copy of a transaction's tables by `copy.deepcopy` of the whole
table, once per item of the transaction, so every transaction costs time in proportion to
everything stored: a test session's pushes went from 0.24 s to 2.3 s each as its table
grew (a 1,000-tag UI test took 89 s on moto against 10 s on DynamoDB Local). This keeps a
copy of just the items the transaction names (at most 100) and puts them back when moto
raises, which is when moto itself rolls back. Same results, same errors.
"""
from __future__ import annotations

import copy
import types
from typing import Any, Optional

_INSTALLED = False


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    def deepcopy(obj: Any, memo: Optional[dict] = None) -> Any:
        # the rollback copy moto takes of a table: the table itself (see below)
        return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)

    models.copy = types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)  # type: ignore[attr-defined]
    original = models.DynamoDBBackend.transact_write_items

    def key_of(table: Any, attrs: dict) -> Optional[tuple]:
        h = attrs.get(table.hash_key_attr)
        r = attrs.get(table.range_key_attr) if table.range_key_attr else None
        if not isinstance(h, dict) or (table.range_key_attr and not isinstance(r, dict)):
            return None  # moto refuses it with its own error
        return DynamoType(h), DynamoType(r) if r is not None else None

    def restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
        if item is None:
            if range_key is not None:
                table.items[hash_key].pop(range_key, None)
            else:
                table.items.pop(hash_key, None)
        elif range_key is not None:
            table.items[hash_key][range_key] = item
        else:
            table.items[hash_key] = item

    def transact_write_items(self: Any, transact_items: list) -> None:
        saved = []
        for entry in transact_items:
            if not isinstance(entry, dict) or len(entry) != 1:
                continue
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            key = key_of(table, op.get("Key") or op.get("Item") or {})
            if key is None:
                continue
            before = table.get_item(*key)
            saved.append((table, key[0], key[1], copy.deepcopy(before) if before is not None else None))
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):  # the first copy of a key wins
                restore(table, hash_key, range_key, item)
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items
    _INSTALLED = True
