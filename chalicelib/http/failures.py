"""Recognise storage (AWS SDK, pynamodb) failures without importing botocore.

The error boundary (errors.py) asks this, so it lives with it: the layer that turns
exceptions into answers knows which ones are the backend's, by class name and module.

Every failure of the backend becomes a retryable answer: throttling 429,
anything else 503 (connection refused or reset, timeouts, 5xx from the
service or an emulator's internal error, an answer we did not expect).
A client retries those; a 500 would tell it the registry is broken.
"""
from __future__ import annotations

from typing import Iterator, Optional

THROTTLE_CODES = frozenset({
    "ThrottlingException", "Throttling", "ProvisionedThroughputExceededException",
    "RequestLimitExceeded", "SlowDown", "TooManyRequestsException", "ThrottledException",
    "TransactionConflictException", "TransactionInProgressException",
    "ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict",
})
# Exception classes (by name, anywhere in the MRO) raised by the AWS SDK and pynamodb:
# ClientError (an answer from the service), BotoCoreError (connection, timeout,
# parsing), PynamoDBException (pynamodb's wrappers, carrying the botocore cause).
_BACKEND_CLASSES = frozenset({"ClientError", "BotoCoreError", "PynamoDBException"})
_BACKEND_MODULES = ("botocore.", "boto3.", "pynamodb.", "urllib3.", "s3transfer.")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it was raised from or wraps."""
    seen = set()
    stack: list[Optional[BaseException]] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack += [e.__cause__, e.__context__, getattr(e, "cause", None)]


def _codes(exc: BaseException) -> Iterator[Optional[str]]:
    for e in _chain(exc):
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            yield (response.get("Error") or {}).get("Code")
        for reason in getattr(e, "cancellation_reasons", None) or []:
            yield getattr(reason, "code", None)


def _is_backend(exc: BaseException) -> bool:
    for e in _chain(exc):
        cls = type(e)
        if cls.__module__.startswith(_BACKEND_MODULES):
            return True
        if any(base.__name__ in _BACKEND_CLASSES for base in cls.__mro__):
            return True
    return False


def aws_failure(exc: BaseException) -> Optional[int]:
    """429 for throttling, 503 for any other storage failure, None when `exc` is not one."""
    if not _is_backend(exc):
        return None
    return 429 if set(_codes(exc)) & THROTTLE_CODES else 503
