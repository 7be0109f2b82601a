"""Direct uploads (docs/direct-upload.md) on the strict local backend (ministack S3, which
checks signatures and checksums, + DynamoDB Local), this registry under
REGISTRY_LAMBDA_LIMITS=1, served in this process with every request's body size recorded:

- AWS calls per blob push, direct (single PUT, multipart in place and staged) beside the chunked path;
- the largest request body the registry handled, over every push below, and 413s;
- `regcli push` of 5 files of 100 MiB (5 blobs at a time, 16 MiB parts, 8 at a time each)
  against PutObject of the same files to the same S3, all at once, and against the S3
  service's own multipart uploads of them (the floor of any push with parallel parts);
  and one blob after another with the library (client/direct.py) against PutObject one
  after another.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from .util import PYTHON, ROOT, ensure_import_path, log, median

MIB = 1024 * 1024
LAMBDA_EVENT_CAP = 6_000_000


def random_file(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, MIB))
            f.write(block)
            h.update(block)
            left -= len(block)
    return "sha256:" + h.hexdigest()


class Recorder:
    """Wraps the server's WSGI app: method, path and body length of every request."""

    def __init__(self, app: Callable) -> None:
        self.app, self.records, self.lock = app, [], threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        status: list = []

        def sr(st: str, headers: list, exc_info: Any = None) -> Any:
            status.append(int(st.split()[0]))
            return start_response(st, headers, exc_info) if exc_info else start_response(st, headers)

        out = self.app(environ, sr)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        with self.lock:
            self.records.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), length,
                                 status[0] if status else 0))
        return out

    def take(self) -> list:
        with self.lock:
            out, self.records = self.records, []
        return out


def _calls(srv: Any, rec: Recorder, counter: Any, work: Path) -> dict:
    """AWS calls and registry requests of one blob push by each path."""
    import requests

    from client.direct import FileSource, push_blob
    from support import Client

    c = Client(srv.url, auth=srv.admin)
    repo = "bench/calls"
    c.login(repo)
    out = {}

    def direct(path: Path, **kw: Any) -> None:
        src = FileSource(str(path))
        try:
            push_blob(c.http, srv.url, repo, src, **kw)
        finally:
            src.close()

    def chunked(path: Path) -> None:
        data = path.read_bytes()
        r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
        loc, off = r.headers["Location"], 0
        while off < len(data):
            piece = data[off:off + 4 * MIB]
            r = c.request("PATCH", loc, data=piece, headers={"Content-Range": f"{off}-{off + len(piece) - 1}"})
            assert r.status_code == 202, r.text
            loc, off = r.headers["Location"], off + len(piece)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        r = c.request("PUT", loc, params={"digest": digest})
        assert r.status_code == 201, r.text

    small, mid, other = work / "calls-1m.bin", work / "calls-12m.bin", work / "calls-12m-b.bin"
    fresh = work / "calls-12m-c.bin"
    random_file(small, MIB)
    random_file(mid, 12 * MIB)
    random_file(other, 12 * MIB)  # a blob of its own: the registry must not hold it at the plan
    random_file(fresh, 12 * MIB)  # the chunked push too: the same bytes again would only re-link
    def in_place(path: Path) -> None:  # the digest in the plan: completed at the blob's key
        from chalicelib.http.inject import services

        reg = services().registry()
        old = reg.settings
        reg.settings = dataclasses.replace(old, direct_put_max=MIB)  # 12 MiB with its digest: parts
        try:
            direct(path, part_size=5 * MIB)
        finally:
            reg.settings = old

    cases = {"direct, single PUT (1 MiB)": lambda: direct(small),
             "direct, multipart with the digest (12 MiB, 3 parts, completed in place)": lambda: in_place(other),
             "direct, multipart without the digest (12 MiB, 3 parts, staged and copied)":
                 lambda: direct(mid, part_size=5 * MIB, single_put=False),
             "chunked (12 MiB, 3 PATCHes of 4 MiB)": lambda: chunked(fresh)}
    for name, fn in cases.items():
        requests.get(srv.url + "/v2/")  # nothing pending
        rec.take()
        counter.reset()
        fn()
        calls = dict(sorted(counter.calls.items()))
        out[name] = {"registry_requests": len(rec.take()), "aws_calls": sum(calls.values()), "by_operation": calls}
        log(f"direct: {name}: {out[name]['aws_calls']} AWS calls, {out[name]['registry_requests']} requests")
    return out


def _put_objects(srv: Any, paths: list, concurrent: bool) -> float:
    from chalicelib.http.inject import services

    s3, bucket = services().s3_client(), services().settings.bucket_name

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


def _multipart_objects(srv: Any, paths: list) -> float:
    """The floor of any push with parallel parts: the S3 service's own multipart uploads of
    the same files, as `regcli push` sends them (16 MiB parts, 8 at a time per file, all
    files at once, each part with its SHA-256 checksum, computed before the clock starts),
    with no registry and no verification."""
    from chalicelib.http.inject import services
    from client.direct import FileSource, default_part_size, hash_source

    s3, bucket = services().s3_client(), services().settings.bucket_name
    plans = []
    for p in paths:
        src = FileSource(str(p))
        try:
            part = default_part_size(src.size)
            plans.append((p, part, hash_source(src, part)[1]))
        finally:
            src.close()

    def one(plan: tuple) -> None:
        p, part, sums = plan
        key = f"bench/mpu-{p.name}"
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")["UploadId"]

        def send(n: int) -> dict:
            with open(p, "rb") as f:
                f.seek((n - 1) * part)
                body = f.read(part)
            r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=body,
                               ChecksumSHA256=sums[n - 1])
            return {"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": sums[n - 1]}

        with ThreadPoolExecutor(8) as pool:
            parts = list(pool.map(send, range(1, len(sums) + 1)))
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(plans)) as pool:
        list(pool.map(one, plans))
    took = time.perf_counter() - t0
    for p in paths:
        s3.delete_object(Bucket=bucket, Key=f"bench/mpu-{p.name}")
    return took


def _cli_push(srv: Any, paths: list, work: Path, tag: str) -> float:
    env = {**os.environ, "DOCKER_CONFIG": str(work / "docker"), "XDG_CACHE_HOME": str(work / "cache"),
           "PYTHONPATH": str(ROOT)}
    env.pop("REGISTRY_AUTH_FILE", None)
    subprocess.run([PYTHON, "-m", "client", "login", srv.url, "--username", srv.admin[0], "--password-stdin"],
                   input=srv.admin[1].encode(), env=env, check=True, capture_output=True, cwd=str(ROOT))
    host = srv.url.split("//", 1)[1]
    t0 = time.perf_counter()
    subprocess.run([PYTHON, "-m", "client", "--json", "push", *map(str, paths), f"{host}/bench/cli:{tag}",
                    "--artifact-type", "application/x.bench"], env=env, check=True, capture_output=True,
                   cwd=str(ROOT), timeout=1800)
    return time.perf_counter() - t0


def _library_push(srv: Any, paths: list) -> float:
    from client.direct import FileSource, push_blob
    from support import Client

    c = Client(srv.url, auth=srv.admin)
    c.login("bench/sequential")
    t0 = time.perf_counter()
    for p in paths:
        src = FileSource(str(p))
        try:
            push_blob(c.http, srv.url, "bench/sequential", src)
        finally:
            src.close()
    return time.perf_counter() - t0


def run(quick: bool, work: Path) -> dict:
    ensure_import_path()
    sys.path.insert(0, str(ROOT / "tests"))
    import conftest  # noqa: F401  (the tests' clean AWS environment)
    from support import AWSCalls, start_registry

    count, mib = (2, 20) if quick else (5, 100)
    srv = start_registry(lambda_limits=True, backend="strict")
    rec = Recorder(srv.server.app)
    srv.server.app = rec
    out: dict = {"lambda_limits": True, "backend": "strict"}
    try:
        counter = AWSCalls().attach()
        out["calls"] = _calls(srv, rec, counter, work)
        counter.detach()
        rounds = 1 if quick else 5   # PutObject alone varies by 2x between rounds on this VM
        runs: dict = {"cli": [], "put_all": [], "mpu_all": [], "seq": [], "put_seq": []}
        for r in range(rounds):
            # fresh bytes each round (a blob the registry has is not uploaded again); the
            # order alternates, and each timing starts with the dirty pages written out
            paths = [work / f"blob-{r}-{i}.bin" for i in range(count)]
            for p in paths:
                random_file(p, mib * MIB)
            rec.take()
            steps = [("put_all", lambda: _put_objects(srv, paths, True)),
                     ("mpu_all", lambda: _multipart_objects(srv, paths)),
                     ("cli", lambda: _cli_push(srv, paths, work, f"all{r}")),
                     ("put_seq", lambda: _put_objects(srv, paths, False)),
                     ("seq", lambda: _library_push(srv, paths))]
            for name, step in (steps if r % 2 == 0 else steps[1::-1] + steps[:1:-1]):
                os.sync()
                runs[name].append(round(step(), 2))
            for p in paths:
                p.unlink()
        cli, put_all, mpu_all, seq, put_seq = (median(runs[k]) for k in
                                               ("cli", "put_all", "mpu_all", "seq", "put_seq"))
        out["push"] = {"blobs": count, "mib": mib, "rounds": rounds, "runs_s": runs,
                       "cli_all_s": round(cli, 2), "put_object_all_s": round(put_all, 2),
                       "cli_ratio": round(cli / put_all, 2),
                       "multipart_all_s": round(mpu_all, 2), "multipart_ratio": round(mpu_all / put_all, 2),
                       "cli_over_multipart": round(cli / mpu_all, 2),
                       "sequential_s": round(seq, 2), "put_object_sequential_s": round(put_seq, 2),
                       "sequential_ratio": round(seq / put_seq, 2)}
        log(f"direct: {count}x{mib} MiB: regcli push {cli:.2f}s vs PutObject {put_all:.2f}s "
            f"(S3's own multipart {mpu_all:.2f}s); "
            f"one after another {seq:.2f}s vs {put_seq:.2f}s (medians of {rounds}: {runs})")
        records = rec.take()
        out["requests"] = {"count": len(records), "max_body_bytes": max((r[2] for r in records), default=0),
                           "refused_413": sum(1 for r in records if r[3] == 413),
                           "cap_bytes": LAMBDA_EVENT_CAP}
    finally:
        srv.stop()
    return out
