"""Password and secret hashing with argon2id (OWASP parameters: 19 MiB, t=2, p=1)."""
from __future__ import annotations

import hashlib
import secrets
import time
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # argon2 loads lazily: only logins pay for it
    from argon2 import PasswordHasher

# Successful verifications are remembered per warm container for a while, so
# a client that logs in for every operation pays for argon2id once. The key
# includes the stored hash: a changed password or rotated secret misses.
VERIFIED_TTL = 300
_VERIFIED_MAX = 1024
_verified: dict[tuple[str, str], float] = {}


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def hash_secret(secret: str) -> str:
    """An argon2id hash of `secret`."""
    return _hasher().hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    """Constant-time check; unknown accounts still pay for one verification."""
    from argon2.exceptions import InvalidHashError, VerificationError

    key = (stored_hash or "", hashlib.sha256(secret.encode("utf-8")).hexdigest())
    now = time.monotonic()
    if stored_hash and _verified.get(key, 0) > now:
        return True
    try:
        ok = _hasher().verify(stored_hash or _dummy_hash(), secret) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False
    if ok:
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[key] = now + VERIFIED_TTL
    return ok


def new_secret() -> str:
    """A random robot secret."""
    return secrets.token_urlsafe(32)
