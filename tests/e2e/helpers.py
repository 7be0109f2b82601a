"""Helpers shared by the end-to-end test modules."""
from __future__ import annotations

import contextlib
import json
import signal
from pathlib import Path
from typing import Iterator

import pytest

from e2e.clients import INSTALL_HINT, have_binary


def ignore_sigint() -> None:
    """A Popen preexec_fn: the child starts with SIGINT ignored, as a background job of a
    script, `nohup` or a CI step does; Ctrl-C must stop our servers all the same."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def require_binaries(*names: str) -> None:
    """Skip the calling test only if a client binary is genuinely not installed."""
    missing = [n for n in names if not have_binary(n)]
    if missing:
        pytest.skip(f"client binary not installed: {', '.join(missing)}; {INSTALL_HINT}")


@contextlib.contextmanager
def server_log_on_failure(registry) -> Iterator[None]:
    """Re-raise any assertion failure with the registry's log tail appended."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- registry server log (tail) ---\n{registry.log_tail()}") from None


def read_oci_layout(path: Path) -> tuple[dict, dict[str, bytes]]:
    """(index.json, {digest: bytes of every blob}) of an OCI image layout."""
    index = json.loads((path / "index.json").read_text())
    blobs: dict[str, bytes] = {}
    for algo_dir in (path / "blobs").iterdir():
        for blob in algo_dir.iterdir():
            blobs[f"{algo_dir.name}:{blob.name}"] = blob.read_bytes()
    return index, blobs
