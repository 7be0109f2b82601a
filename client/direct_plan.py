"""Client side of the direct-upload extension (docs/direct-upload.md): bytes go straight to S3.

`POST <Location>/direct {size, digest}` gives a plan: one presigned PUT, or a multipart
plan with a part size. Parts are hashed (SHA-256, base64) and declared in batches to get
their presigned UploadPart URLs, each bound to its checksum, then sent in parallel, each
streamed from the file (memory: one read block per worker, whatever the part size).
Parts S3 already holds (`held`, from `GET <Location>/direct`) are skipped: resume.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

import requests

from .api import ClientError
from .upload import Blob, direct_path

BLOCK = 1024 * 1024
BATCH = 64  # parts declared per plan request


class Region(io.RawIOBase):
    """A byte range of a Blob as a file object for requests; reports progress as it is read.
    `read` hands out up to BLOCK bytes whatever the size asked (http.client asks for 8 KiB),
    which keeps the sending loop in C for most of its time."""

    def __init__(self, blob: Blob, start: int, length: int, progress: Callable[[int], None]) -> None:
        super().__init__()
        self.blob, self.pos, self.end, self.progress = blob, start, start + length, progress
        self.sent = 0

    def __len__(self) -> int:
        return self.end - self.pos

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        want = min(max(n, BLOCK) if n and n > 0 else self.end - self.pos, self.end - self.pos)
        data = self.blob.read(self.pos, want) if want > 0 else b""
        self.pos += len(data)
        self.sent += len(data)
        self.progress(len(data))
        return data


def part_sha256(blob: Blob, start: int, length: int) -> str:
    h = hashlib.sha256()
    pos = start
    while pos < start + length:
        data = blob.read(pos, min(BLOCK * 8, start + length - pos))
        h.update(data)
        pos += len(data)
    return base64.b64encode(h.digest()).decode("ascii")


def _plan(repo: Any, location: str, body: dict) -> dict:
    r = repo.request("POST", direct_path(location), ok=(200, 201), json=body)
    try:
        return r.json()
    except ValueError:
        raise ClientError(f"the registry's direct-upload plan is not JSON: {r.text[:200]}") from None


def _s3_put(url: str, headers: dict, blob: Blob, start: int, length: int,
            progress: Callable[[int], None], session: requests.Session) -> None:
    """PUT one body to a presigned URL; three tries (progress rewound on failure)."""
    last: Optional[str] = None
    for _ in range(3):
        body = Region(blob, start, length, progress)
        try:
            r = session.put(url, data=body, headers={**headers, "Content-Length": str(length)}, timeout=300)
        except requests.RequestException as err:
            progress(-body.sent)
            last = str(err)
            continue
        if r.status_code in (200, 201, 204):
            return
        progress(-body.sent)
        last = f"S3 answered {r.status_code}: {r.text[:300]}"
        if r.status_code in (400, 403):  # bad checksum, signature or expired: retrying will not help
            break
    raise ClientError(f"direct upload of bytes {start}-{start + length - 1} failed: {last}",
                      status=r.status_code if last and last.startswith("S3") else None)


def upload(repo: Any, location: str, blob: Blob, progress: Callable[[int], None],
           held: dict[int, int], workers: int = 4) -> None:
    """Send `blob` through the direct plan of the session at `location` (not closed here)."""
    plan = _plan(repo, location, {"size": blob.size, "digest": blob.digest})
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=workers, pool_maxsize=workers)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if plan.get("method") == "put":
        _s3_put(plan["url"], plan.get("headers") or {}, blob, 0, blob.size, progress, session)
        return
    if plan.get("method") != "multipart":
        raise ClientError(f"unknown direct-upload method {plan.get('method')!r}")
    size = int(plan["partSize"])
    count = max(1, -(-blob.size // size))
    spans = {n: ((n - 1) * size, min(size, blob.size - (n - 1) * size)) for n in range(1, count + 1)}
    done = [n for n, (_, length) in spans.items() if held.get(n) == length]
    progress(sum(spans[n][1] for n in done))
    todo = [n for n in spans if n not in done]
    given = {int(p["number"]): p for p in plan.get("parts") or []}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i in range(0, len(todo), BATCH):
            batch = todo[i:i + BATCH]
            sums = list(pool.map(lambda n: part_sha256(blob, *spans[n]), batch))
            declared = [{"number": n, "size": spans[n][1], "sha256": s} for n, s in zip(batch, sums)]
            more = _plan(repo, location, {"size": blob.size, "digest": blob.digest, "parts": declared})
            given.update({int(p["number"]): p for p in more.get("parts") or []})
            missing = [n for n in batch if n not in given]
            if missing:
                raise ClientError(f"the registry gave no upload URL for parts {missing[:5]}")
            futures = [pool.submit(_s3_put, given[n]["url"], given[n].get("headers") or {}, blob,
                                   spans[n][0], spans[n][1], progress, session) for n in batch]
            for f in futures:
                f.result()
