"""Test images as OCI layouts, and a real `skopeo` with isolated state.

The layouts are deterministic for a seed: each layer is a gzipped tar of one
file of pseudo-random bytes (incompressible, so a "10 MiB layer" is 10 MiB
on the wire).
"""
from __future__ import annotations

import gzip
import io
import json
import os
import random
import tarfile
import time
from pathlib import Path
from typing import Optional

from .util import clean_env, ensure_import_path, run

ensure_import_path()
from chalicelib.oci.digest import compute as sha256  # noqa: E402 - the registry's digest, imported by s_*.py

MIB = 1024 * 1024
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _layer(seed: str, index: int, size: int) -> tuple[bytes, bytes]:
    body = random.Random(f"{seed}:{index}").randbytes(size)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"layer{index}/data.bin")
        info.size, info.mode, info.mtime = len(body), 0o644, 0
        tar.addfile(info, io.BytesIO(body))
    raw = buf.getvalue()
    return raw, gzip.compress(raw, compresslevel=1, mtime=0)


def build_layout(path: Path, layers: int, layer_bytes: int, seed: str = "bench",
                 tag: str = "latest") -> dict:
    """Write an OCI image layout; returns its ref, digests and blobs."""
    blob_dir = path / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    blobs: dict[str, bytes] = {}

    def put(data: bytes) -> str:
        d = sha256(data)
        (blob_dir / d.split(":", 1)[1]).write_bytes(data)
        blobs[d] = data
        return d

    descs, diff_ids = [], []
    for i in range(layers):
        raw, gz = _layer(seed, i, layer_bytes)
        diff_ids.append(sha256(raw))
        descs.append({"mediaType": MT_LAYER, "digest": put(gz), "size": len(gz)})
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
                         "config": {"Labels": {"bench.seed": seed}},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}},
                        sort_keys=True, separators=(",", ":")).encode()
    cfg = put(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST,
                           "config": {"mediaType": MT_CONFIG, "digest": cfg, "size": len(config)},
                           "layers": descs}, separators=(",", ":")).encode()
    mdigest = put(manifest)
    (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
        {"mediaType": MT_MANIFEST, "digest": mdigest, "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return {"ref": f"oci:{path}:{tag}", "manifest_digest": mdigest, "manifest": manifest,
            "config_digest": cfg, "config": config, "layers": descs, "blobs": blobs,
            "bytes": sum(len(b) for b in blobs.values())}


class Skopeo:
    """Real skopeo with its own policy, registries.conf and a fresh blob-info
    cache for every command (so a push never turns into a cross-repo mount)."""

    def __init__(self, tmpdir: Path) -> None:
        self.tmpdir = tmpdir
        tmpdir.mkdir(parents=True, exist_ok=True)
        self.policy = tmpdir / "policy.json"
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        self.registries = tmpdir / "registries.conf"
        self.registries.write_text('unqualified-search-registries = []\nshort-name-mode = "permissive"\n')
        self._n = 0

    def _env(self) -> dict:
        self._n += 1
        home = self.tmpdir / f"home{self._n}"
        data = home / ".local" / "share"
        run_dir = home / "run"
        scratch = home / "tmp"
        for d in (data, run_dir, scratch):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(run_dir, 0o700)
        return clean_env({"HOME": str(home), "XDG_DATA_HOME": str(data),
                          "XDG_CONFIG_HOME": str(home / ".config"), "XDG_RUNTIME_DIR": str(run_dir),
                          # makes containers/image keep its blob-info cache under XDG_DATA_HOME
                          "_CONTAINERS_ROOTLESS_UID": "1000",
                          "CONTAINERS_REGISTRIES_CONF": str(self.registries), "TMPDIR": str(scratch)})

    def copy(self, src: str, dst: str, timeout: float = 300, creds: Optional[str] = None) -> float:
        """`skopeo copy src dst` (plain HTTP both sides); returns wall seconds."""
        cmd = ["skopeo", "--policy", str(self.policy), "copy", "--quiet",
               "--src-tls-verify=false", "--dest-tls-verify=false"]
        if creds:
            cmd += [f"--src-creds={creds}" if src.startswith("docker://") else f"--dest-creds={creds}"]
        cmd += [src, dst]
        env = self._env()
        t0 = time.perf_counter()
        run(cmd, env=env, timeout=timeout)
        return time.perf_counter() - t0

    def push(self, layout: dict, host: str, repo: str, tag: str, creds: Optional[str] = None) -> float:
        return self.copy(layout["ref"], f"docker://{host}/{repo}:{tag}", creds=creds)

    def pull(self, host: str, repo: str, tag: str, dest: Path, creds: Optional[str] = None) -> float:
        return self.copy(f"docker://{host}/{repo}:{tag}", f"dir:{dest}", creds=creds)


def version(binary: str, *args: str) -> Optional[str]:
    try:
        out = run([binary, *args], timeout=20, check=False)
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else None
    except (OSError, RuntimeError):
        return None
