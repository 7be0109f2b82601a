"""Peak RSS of the whole local stack (server + embedded S3 + DynamoDB) during a big push.

`python -m bench.local_memory [--size-mib 1024] [--embedded strict|memory]`: builds an
OCI layout with one layer of random bytes (written in 8 MiB pieces), starts
`python -m local` on a temporary data directory, pushes with skopeo, samples the
resident memory of every process of the stack every 0.2 s, and prints the peaks.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIECE = 8 << 20


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _stack(server_pid: int, data_dir: Path) -> list[int]:
    pids = [server_pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == str(data_dir):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def build_layout(root: Path, size: int) -> str:
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    h = hashlib.sha256()
    tmp = blobs / "layer.tmp"
    with open(tmp, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(PIECE, left))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    layer = h.hexdigest()
    tmp.rename(blobs / layer)

    def put(data: bytes) -> str:
        d = hashlib.sha256(data).hexdigest()
        (blobs / d).write_bytes(data)
        return d

    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + layer]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": "sha256:" + put(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": "sha256:" + layer, "size": size}]}).encode()
    md = put(manifest)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + md,
        "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
    return f"oci:{root}:v1"


def measure(size_mib: int, embedded: str = "strict", port: int = 0) -> dict:
    """Push one `size_mib` layer with skopeo to a fresh `python -m local`; the peak RSS of
    the whole stack (summed over its processes, sampled every 0.2 s) and of each process."""
    import socket

    work = Path(tempfile.mkdtemp(prefix="bench-mem-"))
    data = work / "data"
    proc = None
    try:
        src = build_layout(work / "layout", size_mib << 20)
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            port = s.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"PORT": str(port), "REGISTRY_DATA_DIR": str(data), "REGISTRY_EMBEDDED": embedded,
                    "REGISTRY_AUTH": "none", "REGISTRY_ACCESS_LOG": "0", "LOG_LEVEL": "WARNING",
                    "REGISTRY_TOKEN_KEY_FILE": str(work / "key.pem")})
        with open(work / "server.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "local"], cwd=str(ROOT), env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while b"registry listening" not in (work / "server.log").read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((work / "server.log").read_text()[-3000:])
            time.sleep(0.1)
        data.mkdir(exist_ok=True)
        peak = {"total": 0}
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                rss = {pid: _rss_kib(pid) for pid in _stack(proc.pid, data.resolve())}
                peak["total"] = max(peak["total"], sum(rss.values()))
                for pid, kib in rss.items():
                    peak[pid] = max(peak.get(pid, 0), kib)
                time.sleep(0.2)

        idle = sum(_rss_kib(pid) for pid in _stack(proc.pid, data.resolve()))
        t = threading.Thread(target=sample, daemon=True)
        t.start()
        started = time.monotonic()
        r = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", src,
                            f"docker://127.0.0.1:{port}/mem/big:v1"], capture_output=True, text=True)
        took = time.monotonic() - started
        stop.set()
        t.join()
        processes = []
        for pid, kib in peak.items():
            if pid != "total":
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:80].decode()
                except OSError:
                    cmd = "(exited)"
                processes.append({"pid": pid, "peak_mib": round(kib / 1024), "cmd": cmd})
        return {"size_mib": size_mib, "embedded": embedded, "rc": r.returncode, "push_s": round(took, 1),
                "idle_mib": round(idle / 1024), "peak_mib": round(peak["total"] / 1024),
                "processes": processes, "stderr": r.stderr[-2000:] if r.returncode else ""}
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--embedded", default="strict")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    m = measure(args.size_mib, args.embedded, args.port)
    print(f"push of {m['size_mib']} MiB ({m['embedded']}): rc={m['rc']} in {m['push_s']:.1f}s; "
          f"stack RSS idle {m['idle_mib']} MiB, peak {m['peak_mib']} MiB")
    for p_ in m["processes"]:
        print(f"  pid {p_['pid']}: peak {p_['peak_mib']} MiB  {p_['cmd']}")
    if m["rc"]:
        print(m["stderr"])
    return m["rc"]


if __name__ == "__main__":
    sys.exit(main())
