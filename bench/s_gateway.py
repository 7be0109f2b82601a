"""skopeo → local push gateway → this registry under REGISTRY_LAMBDA_LIMITS=1 (strict local
backend), against skopeo → distribution 2.8 (filesystem), same image, same run: one
layer of 1 GiB (100 MiB with --quick) of random bytes; medians of alternating rounds. The peak RSS
(VmHWM) of the gateway and of the registry process is read from /proc at the end.

Under the limits every request body over the 6 MB event cap is refused with 413, so a
push that succeeds shows that no request the registry handled carried more.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any, Optional

from .images import MT_CONFIG, MT_INDEX, MT_MANIFEST, Skopeo
from .servers import Distribution, LocalServerProcess
from .util import PYTHON, ROOT, clean_env, free_port, log, median, stop_process

MIB = 1024 * 1024
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class _Random:
    """A file-like source of `size` random bytes, for tarfile (never wholly in memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


class _Hashing:
    """Hashes what tarfile writes (the diff_id) on its way into the gzip stream."""

    def __init__(self, out: Any) -> None:
        self.out, self.hash, self.pos = out, hashlib.sha256(), 0

    def tell(self) -> int:
        return self.pos

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.pos += len(data)
        return self.out.write(data)


def big_layout(path: Path, size: int) -> str:
    """An OCI layout with one layer of `size` random bytes (a stored gzip: skopeo pushes it
    as it is, with its length, rather than compressing it on the fly); its `oci:` ref."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    tmp = path / "layer.tar.gz"
    with gzip.open(tmp, "wb", compresslevel=0) as gz:
        raw = _Hashing(gz)
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            info = tarfile.TarInfo("big.bin")
            info.size, info.mode, info.mtime = size, 0o644, 0
            tar.addfile(info, _Random(size))
    diff_id = "sha256:" + raw.hash.hexdigest()
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        while block := f.read(8 * MIB):
            h.update(block)
    layer, layer_size = "sha256:" + h.hexdigest(), tmp.stat().st_size
    tmp.rename(blobs / layer.split(":")[1])

    def put(data: bytes) -> str:
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        (blobs / d.split(":")[1]).write_bytes(data)
        return d

    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST,
                           "config": {"mediaType": MT_CONFIG, "digest": put(config), "size": len(config)},
                           "layers": [{"mediaType": MT_LAYER, "digest": layer, "size": layer_size}]}).encode()
    (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
        {"mediaType": MT_MANIFEST, "digest": put(manifest), "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
    return f"oci:{path}:v1"


def peak_rss_mib(pid: int) -> Optional[float]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _through_gateway(sk: Skopeo, ref: str, work: Path, out: dict) -> float:
    """One push: a fresh registry (so the layer is new to it) and gateway; peak RSS kept."""
    reg = LocalServerProcess(work / "local", {"REGISTRY_LAMBDA_LIMITS": "1"}).start()
    port = free_port()
    gw_log = work / "gateway.log"
    with open(gw_log, "ab") as fh:
        gw = subprocess.Popen([PYTHON, "-m", "client", "gateway", "--registry", reg.url, "--port", str(port),
                               "--json", "--spool-dir", str(work)], cwd=str(ROOT),
                              env=clean_env({"PYTHONPATH": str(ROOT)}), stdout=fh, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "gateway listening" not in gw_log.read_text(errors="replace"):
            if gw.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start:\n{gw_log.read_text(errors='replace')}")
            time.sleep(0.05)
        os.sync()  # neither side pays for the other's writeback
        seconds = sk.copy(ref, f"docker://127.0.0.1:{port}/bench/big:v1", timeout=3600)
        for name, pid in (("gateway_peak_rss_mib", gw.pid), ("registry_peak_rss_mib", reg.proc.pid if reg.proc else None)):
            rss = peak_rss_mib(pid) if pid else None
            if rss is not None:
                out[name] = max(out.get(name) or 0.0, rss)
        uploads = [json.loads(line) for line in gw_log.read_text().splitlines() if line.startswith("{")]
        out["gateway_uploads"] = [u for u in uploads if u.get("event") == "upload"]
        if not out.get("pulled_back"):  # pulled back by digest from the registry itself: the bytes arrived whole
            sk.copy(f"docker://{reg.host}/bench/big:v1", f"dir:{work / 'pulled'}", timeout=3600)
            out["pulled_back"] = True
    finally:
        stop_process(gw)
        reg.stop()
    return seconds


def _to_distribution(sk: Skopeo, ref: str, work: Path) -> float:
    dist = Distribution(work / "dist").start()
    try:
        os.sync()
        return sk.copy(ref, f"docker://{dist.host}/bench/big:v1", timeout=3600)
    finally:
        dist.stop()


def run(quick: bool, work: Path) -> dict:
    """Rounds alternate which side goes first, each push to a fresh server with the dirty
    pages of the one before written out (distribution alone ranged 3.9-9.9 s for 1 GiB on
    this machine when it was timed once, right after the image was written)."""
    size = (100 if quick else 1024) * MIB
    rounds = 2 if quick else 3
    ref = big_layout(work / "image", size)
    log(f"gateway: image with a {size // MIB} MiB layer built")
    sk = Skopeo(work / "skopeo")
    out: dict = {"layer_mib": size // MIB, "rounds": rounds, "gateway_runs_s": [], "distribution_runs_s": []}
    for i in range(rounds):
        sides = ["distribution", "gateway"] if i % 2 == 0 else ["gateway", "distribution"]
        for side in sides:
            at = work / f"round{i}-{side}"
            if side == "gateway":
                out["gateway_runs_s"].append(round(_through_gateway(sk, ref, at, out), 2))
            else:
                out["distribution_runs_s"].append(round(_to_distribution(sk, ref, at), 2))
            shutil.rmtree(at, ignore_errors=True)
        log(f"gateway: round {i + 1}/{rounds}: gateway {out['gateway_runs_s'][-1]}s, "
            f"distribution {out['distribution_runs_s'][-1]}s")
    out["gateway_s"] = round(median(out["gateway_runs_s"]), 2)
    out["distribution_s"] = round(median(out["distribution_runs_s"]), 2)
    out["ratio"] = round(out["gateway_s"] / out["distribution_s"], 2)
    log(f"gateway: skopeo → gateway → registry {out['gateway_s']}s ({out['ratio']}×, medians of {rounds}), "
        f"peak RSS gateway {out.get('gateway_peak_rss_mib')} MiB, registry {out.get('registry_peak_rss_mib')} MiB")
    return out
