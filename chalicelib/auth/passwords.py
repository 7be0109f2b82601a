"""Password and secret hashing with argon2id (OWASP parameters: 19 MiB, t=2, p=1)."""
from __future__ import annotations

import secrets
from functools import lru_cache


@lru_cache(maxsize=1)
def _hasher():
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

    try:
        return _hasher().verify(stored_hash or _dummy_hash(), secret) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret() -> str:
    """A random robot secret."""
    return secrets.token_urlsafe(32)
