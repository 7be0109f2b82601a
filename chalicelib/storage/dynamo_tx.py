"""DynamoDB transaction helpers shared by the adapters.

pynamodb sends a transaction's operations grouped by kind (condition checks, deletes,
puts, updates) whatever order they were added in, and DynamoDB's cancellation reasons
follow that order: `OwnedTransaction` notes who added each operation, so a refused
condition can be traced back to its owner. `transact` is the one retry loop for
transaction conflicts; `reasons` and `is_condition_failure` read pynamodb's errors.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
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


def reasons(err: TransactWriteError) -> list[Optional[str]]:
    """The cancellation reason codes of a refused transaction, one per operation."""
    return [r.code if r else None for r in (err.cancellation_reasons or [])]


def is_condition_failure(err: Exception) -> bool:
    """True when a single-item write (PutError, UpdateError, DeleteError) failed its condition."""
    cause = getattr(err, "cause", None)
    code = getattr(cause, "response", {}).get("Error", {}).get("Code") if cause is not None else None
    return code == "ConditionalCheckFailedException"


def transact(connection: Connection, build: Callable[[OwnedTransaction], None], *,
             refused: Optional[Callable[[list, OwnedTransaction], None]] = None,
             attempts: int = 4, pause: float = 0.05) -> None:
    """Commit the transaction `build(t)` makes; after a TransactionConflict (another
    transaction held one of its items) build and commit it again, up to `attempts` times
    with a growing pause. On a refusal `refused(reasons, t)` runs first and raises what
    the reasons mean (a failed condition); anything it does not raise is raised as is."""
    for attempt in range(attempts):
        t = OwnedTransaction(connection=connection)
        try:
            with t:
                build(t)
            return
        except TransactWriteError as err:
            codes = reasons(err)
            if refused is not None:
                refused(codes, t)
            if "TransactionConflict" in codes and attempt + 1 < attempts:
                time.sleep(pause * (attempt + 1))
                continue
            raise
