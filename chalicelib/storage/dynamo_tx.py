"""DynamoDB transaction helpers shared by the adapters.

pynamodb sends a transaction's operations grouped by kind (condition checks, deletes,
puts, updates) whatever order they were added in, and DynamoDB's cancellation reasons
follow that order: `OwnedTransaction` notes who added each operation, so a refused
condition can be traced back to its owner.
"""
from __future__ import annotations

from typing import Any, Optional

from pynamodb.transactions import TransactWrite

_ORDER = ("condition_check", "delete", "save", "update")


class OwnedTransaction(TransactWrite):
    """A TransactWrite that remembers the `owner` current when each operation was added."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner: Any = None
        self._owners: dict[str, list] = {kind: [] for kind in _ORDER}

    def condition_check(self, *args: Any, **kwargs: Any) -> None:
        self._owners["condition_check"].append(self.owner)
        super().condition_check(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> None:
        self._owners["delete"].append(self.owner)
        super().delete(*args, **kwargs)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self._owners["save"].append(self.owner)
        super().save(*args, **kwargs)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._owners["update"].append(self.owner)
        super().update(*args, **kwargs)

    def refused(self, reasons: list[Optional[str]]) -> list:
        """The owners of the operations whose condition failed, given the cancellation reasons."""
        owners = [o for kind in _ORDER for o in self._owners[kind]]
        return [o for o, r in zip(owners, reasons) if r == "ConditionalCheckFailed" and o is not None]
