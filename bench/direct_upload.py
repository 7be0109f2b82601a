"""Direct-to-S3 pushes (client/direct.py) against plain PutObject of the same bytes
to the same S3, on the strict local backend (ministack S3 + DynamoDB Local):

    .venv/bin/python -m bench.direct_upload [--blobs 5] [--mib 100] [--big-mib 1024]

Prints one JSON document: wall times of N blobs pushed concurrently (each with its
parts in parallel) and one after another, the same for PutObject, their ratios,
and optionally one big blob. A measurement, not a pass/fail test.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def make_files(work: Path, count: int, mib: int) -> list[Path]:
    paths = []
    for i in range(count):
        p = work / f"blob-{i}.bin"
        with open(p, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(MIB))
        paths.append(p)
    return paths


def put_objects(s3, bucket: str, paths: list[Path], concurrent: bool) -> float:
    def put(p: Path) -> None:
        with open(p, "rb") as f:
            s3.put_object(Bucket=bucket, Key=f"bench/{p.name}", Body=f)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(paths) if concurrent else 1) as pool:
        list(pool.map(put, paths))
    took = time.perf_counter() - t0
    for p in paths:
        s3.delete_object(Bucket=bucket, Key=f"bench/{p.name}")
    return took


def push(url: str, admin: tuple, repo: str, paths: list[Path], concurrent: bool) -> tuple[float, list]:
    from client.direct import FileSource, push_blob
    from support import Client

    c = Client(url, auth=admin)
    c.login(repo)

    def one(p: Path) -> str:
        src = FileSource(str(p))
        try:
            return push_blob(c.http, url, repo, src)
        finally:
            src.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(paths) if concurrent else 1) as pool:
        digests = list(pool.map(one, paths))
    return time.perf_counter() - t0, digests


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blobs", type=int, default=5)
    ap.add_argument("--mib", type=int, default=100)
    ap.add_argument("--big-mib", type=int, default=0)
    a = ap.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    import conftest  # noqa: F401  (the tests' clean AWS environment)
    from chalicelib import bootstrap
    from support import start_registry

    srv = start_registry(backend="strict")
    out: dict = {"blobs": a.blobs, "mib": a.mib}
    try:
        s3, bucket = bootstrap.s3_client(), bootstrap.settings().bucket_name
        with tempfile.TemporaryDirectory(prefix="bench-direct-") as tmp:
            paths = make_files(Path(tmp), a.blobs, a.mib)
            for mode, conc in (("concurrent", True), ("sequential", False)) if paths else ():
                put_s = put_objects(s3, bucket, paths, conc)
                direct_s, digests = push(srv.url, srv.admin, f"bench/{mode}", paths, conc)
                for p, d in zip(paths, digests):
                    assert d == "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
                out[mode] = {"put_object_s": round(put_s, 2), "direct_push_s": round(direct_s, 2),
                             "ratio": round(direct_s / put_s, 2)}
                print(json.dumps({mode: out[mode]}), file=sys.stderr)
            for p in paths:
                p.unlink()
            if a.big_mib:
                big = make_files(Path(tmp), 1, a.big_mib)
                put_s = put_objects(s3, bucket, big, False)
                direct_s, _ = push(srv.url, srv.admin, "bench/big", big, False)
                out["big"] = {"mib": a.big_mib, "put_object_s": round(put_s, 2),
                              "direct_push_s": round(direct_s, 2), "ratio": round(direct_s / put_s, 2)}
    finally:
        srv.stop()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
