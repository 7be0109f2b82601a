"""Key files the local server (and tests' in-process servers) create when missing.

Reading settings writes nothing (chalicelib/config.py); the entry point that owns a data
directory calls `ensure_key_files()` first, so the token and schema 1 keys survive restarts.
"""
from __future__ import annotations

import os
from typing import Callable, Mapping, Optional


def _create(path: str, generate: Callable[[], bytes]) -> None:
    if not path or os.path.exists(path):
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:  # O_EXCL: two processes starting at once keep the first key written
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as f:
        f.write(generate())


def ensure_key_files(environ: Optional[Mapping[str, str]] = None) -> None:
    """Create REGISTRY_TOKEN_KEY_FILE and REGISTRY_SCHEMA1_KEY_FILE when named and missing."""
    from chalicelib.auth.tokens import LocalSigner
    from chalicelib.manifests.jws import generate_key

    env: Mapping[str, str] = os.environ if environ is None else environ
    if not env.get("REGISTRY_TOKEN_KEY") and not env.get("REGISTRY_KMS_KEY_ID"):
        _create(env.get("REGISTRY_TOKEN_KEY_FILE", ""), LocalSigner.generate_pem)
    if not env.get("REGISTRY_SCHEMA1_KEY"):
        _create(env.get("REGISTRY_SCHEMA1_KEY_FILE", ""), generate_key)
