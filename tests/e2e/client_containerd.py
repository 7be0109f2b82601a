"""containerd's `ctr`, against a containerd of its own (tests/e2e/clients.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from e2e.client_base import _bare_ref, run


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
