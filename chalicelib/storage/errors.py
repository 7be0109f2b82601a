"""Recognise AWS throttling and outages without importing botocore."""
from __future__ import annotations

from typing import Optional

THROTTLE_CODES = frozenset({
    "ThrottlingException", "Throttling", "ProvisionedThroughputExceededException",
    "RequestLimitExceeded", "SlowDown", "TooManyRequestsException", "ThrottledException",
    "TransactionConflictException", "TransactionInProgressException",
    "ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict",
})
UNAVAILABLE_CODES = frozenset({"ServiceUnavailable", "InternalError", "InternalServerError",
                               "RequestTimeout", "RequestTimeoutException"})
# botocore's transport failures (connection refused or reset, timeouts) all derive from
# HTTPClientError; the service may be restarting, so the client should retry (503).
UNREACHABLE_CLASSES = frozenset({"HTTPClientError", "EndpointConnectionError", "ConnectionClosedError",
                                 "ReadTimeoutError", "ConnectTimeoutError"})


def _codes(exc: BaseException):
    seen = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if any(cls.__name__ in UNREACHABLE_CLASSES for cls in type(e).__mro__):
            yield "ServiceUnavailable"
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            yield response.get("Error", {}).get("Code")
        for reason in getattr(e, "cancellation_reasons", None) or []:
            yield getattr(reason, "code", None)
        stack += [e.__cause__, e.__context__, getattr(e, "cause", None)]


def aws_failure(exc: BaseException) -> Optional[int]:
    """429 for throttling, 503 for an AWS-side outage, None for anything else."""
    codes = set(_codes(exc))
    if codes & THROTTLE_CODES:
        return 429
    if codes & UNAVAILABLE_CODES:
        return 503
    return None
