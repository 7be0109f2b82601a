"""skopeo, podman and buildah, each with its own configuration and storage (tests/e2e/clients.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from e2e.client_base import INSECURE_POLICY, _bare_ref, _docker_ref, _registries_conf, _write_json, run


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
