"""Direct-to-S3 blob uploads (docs/direct-upload.md), for the CLI and the push gateway.

    import requests
    from client.direct import DirectUpload, FileSource, push_blob
    http = requests.Session()          # carries the registry's auth (token dance)
    digest = push_blob(http, "https://reg.example", "acme/app", FileSource("layer.tar.gz"))

`push_blob` hashes the source once (the blob digest and every part's SHA-256),
plans the upload, sends the parts to S3 in parallel (each presigned URL carries
the part's checksum, so S3 refuses corrupt bytes), and closes with the usual
`PUT ?digest=`, repeating it while the registry verifies. Given the Location of
an interrupted session it resumes: parts S3 already holds are not sent again.
`DirectUpload` is the step-by-step API the gateway uses while streaming.
Registry requests go through the caller's session; S3 requests through a
separate one, without the registry's credentials.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional, Protocol

import requests

from .auth import read_capped
from .throttle import RateLimit, take

HEADER = "OCI-Direct-Upload"
PLAN_BATCH = 1000          # parts per plan request (the registry's cap)
PART_RETRIES = 3
CLOSE_TIMEOUT_S = 6 * 3600
CLOSE_RETRIES = 8          # closing calls answered 5xx (or unanswered) in a row before giving up
MIB = 1024 * 1024
MAX_ANSWER = 16 * MIB      # a plan or status answer (1000 presigned URLs is ~2 MiB)
DEFAULT_PART = 16 * MIB
MAX_PARTS = 10_000  # give up closing when verification stops advancing for this long


class DirectUploadError(Exception):
    """The registry or S3 refused a step; `status`, `code` and `detail` when known."""

    def __init__(self, message: str, status: Optional[int] = None, code: Optional[str] = None,
                 detail: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.detail = status, code, detail


class Source(Protocol):
    """Random access to the blob's bytes (parts are read concurrently)."""

    size: int

    def read(self, offset: int, length: int) -> bytes: ...


class FileSource:
    """A file on disk, read with pread (thread-safe, no shared position)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self._fd).st_size

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def close(self) -> None:
        os.close(self._fd)


class BytesSource:
    """Bytes in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.size = len(data)

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self.data[offset:offset + length])


class _Slice:
    """A part of a source as a streamed request body (never wholly in memory)."""

    def __init__(self, source: Source, offset: int, length: int, limit: Optional[RateLimit] = None) -> None:
        self.source, self.pos, self.end, self.limit = source, offset, offset + length, limit

    def __len__(self) -> int:
        return self.end - self.pos

    def read(self, n: int = -1) -> bytes:
        # whole 1 MiB blocks whatever the caller asks (http.client asks for 8-16 KiB): far
        # fewer reads and sends per part; the socket takes any length
        data = self.source.read(self.pos, min(len(self), 1 << 20))
        self.pos += len(data)
        take(self.limit, len(data))
        return data


def sha256_b64(data: bytes) -> str:
    """S3's form of a SHA-256 checksum."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _json(resp: requests.Response, what: str) -> dict:
    body = read_capped(resp, MAX_ANSWER)
    try:
        doc = json.loads(body) if body is not None else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise DirectUploadError(f"{what}: the registry's answer is not a JSON object of at most "
                                f"{MAX_ANSWER // MIB} MiB", resp.status_code, "ANSWER")
    return doc


def _error(resp: requests.Response, what: str) -> DirectUploadError:
    code = detail = None
    body = read_capped(resp, 64 * 1024) or b""
    try:
        err = json.loads(body)["errors"][0]
        code, detail = err.get("code"), err.get("detail")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        pass
    return DirectUploadError(f"{what}: HTTP {resp.status_code} {code or body[:300].decode('utf-8', 'replace')}",
                             resp.status_code, code, detail)


def offers_direct(headers: Any) -> bool:
    """True when a POST /blobs/uploads/ answer advertises the extension."""
    return (headers.get(HEADER) or "").strip() == "v1"


class DirectUpload:
    """One direct upload session: plan, send parts, status, close."""

    def __init__(self, http: requests.Session, base: str, repo: str, location: Optional[str] = None,
                 s3: Optional[requests.Session] = None) -> None:
        self.http, self.base, self.repo = http, base.rstrip("/"), repo
        self.location = location
        self.s3 = s3 or requests.Session()
        self.plan_doc: dict = {}
        self._lock = threading.Lock()

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def open(self) -> bool:
        """Open a session; True when the registry offers direct uploads."""
        r = self.http.post(self._url(f"/v2/{self.repo}/blobs/uploads/"), allow_redirects=False, stream=True)
        if r.status_code != 202:
            raise _error(r, "opening an upload")
        r.close()
        self.location = r.headers["Location"]
        return offers_direct(r.headers)

    def plan(self, size: Optional[int], digest: Optional[str] = None, part_size: Optional[int] = None,
             parts: Optional[list] = None) -> dict:
        """POST <Location>/direct; `parts` are (number, sha256_b64) or (number, sha256_b64, size).
        `size` None plans an open multipart upload: parts of `part_size`, the last one's size
        given with its plan, the total fixed by the registry at the close."""
        body: dict = {} if size is None else {"size": size}
        if digest:
            body["digest"] = digest
        if part_size:
            body["partSize"] = part_size
        if parts:
            body["parts"] = [{"number": p[0], "sha256": p[1], **({"size": p[2]} if len(p) > 2 else {})}
                             for p in parts]
        r = self.http.post(self._url(f"{self.location}/direct"), json=body, allow_redirects=False, stream=True)
        if r.status_code != 200:
            raise _error(r, "planning the upload")
        doc = _json(r, "planning the upload")
        with self._lock:
            self.plan_doc = doc
        return doc

    def status(self) -> dict:
        """GET <Location>/direct: what S3 already holds."""
        r = self.http.get(self._url(f"{self.location}/direct"), allow_redirects=False, stream=True)
        if r.status_code != 200:
            raise _error(r, "reading the upload's status")
        return _json(r, "reading the upload's status")

    def send(self, url: str, headers: dict, body: Any) -> None:
        """PUT bytes to a presigned S3 URL (no registry credentials)."""
        r = self.s3.put(url, data=body, headers=headers)
        if r.status_code != 200:
            raise DirectUploadError(f"S3 refused the upload: HTTP {r.status_code} {r.text[:300]}",
                                    r.status_code, "S3")

    def upload_part(self, number: int, data: bytes, size: int, digest: Optional[str] = None) -> None:
        """Plan one part (by its checksum) and send it: what a streaming gateway calls."""
        plan = self.plan(size, digest, parts=[(number, sha256_b64(data))])
        part = plan["parts"][0]
        self.send(part["url"], part["headers"], data)

    def close(self, digest: str, poll: Callable[[int], None] = lambda n: None) -> str:
        """PUT <Location>?digest=, repeated while the registry verifies; the digest on 201."""
        last_progress, verified, failures = time.monotonic(), -1, 0
        while True:
            try:
                r = self.http.put(self._url(self.location or ""), params={"digest": digest},
                                  data=b"", allow_redirects=False, stream=True)
            except requests.ConnectionError:
                if failures >= CLOSE_RETRIES:
                    raise
                r = None
            if r is not None and r.status_code == 201:
                r.close()
                return r.headers.get("Docker-Content-Digest", digest)
            if r is None or r.status_code in (500, 502, 503, 504):
                # a call cut short (the 29 s gateway limit, a crash) loses only its own slice
                # of the work: close again; a lost 201 shows as the blob being there
                failures += 1
                if failures > CLOSE_RETRIES:
                    raise _error(r, "closing the upload") if r is not None else DirectUploadError("no answer")
                if r is not None:
                    r.close()
                time.sleep(min(float((r.headers.get("Retry-After") if r is not None else None) or 2 ** failures), 10))
                continue
            if r.status_code == 404 and self._blob_exists(digest):
                # An earlier close of ours, or another client's close of this very session
                # (two pushes of one file resume the same session), committed it and ended it.
                r.close()
                return digest
            if r.status_code != 202:
                raise _error(r, "closing the upload")
            r.close()
            done = int((r.headers.get("Range") or "0-0").rsplit("-", 1)[-1])
            if done != verified:
                verified, last_progress = done, time.monotonic()
                poll(done)
            elif time.monotonic() - last_progress > CLOSE_TIMEOUT_S:
                raise DirectUploadError("the registry stopped verifying the upload")
            self.location = r.headers.get("Location", self.location)
            time.sleep(min(float(r.headers.get("Retry-After") or 1), 5.0))


    def _blob_exists(self, digest: str) -> bool:
        r = self.http.head(self._url(f"/v2/{self.repo}/blobs/{digest}"), allow_redirects=False)
        return r.status_code in (200, 307)


def hash_source(source: Source, part_size: int, chunk: int = 8 << 20) -> tuple[str, list[str]]:
    """One sequential pass: the blob's digest and the SHA-256 (base64) of every part."""
    whole = hashlib.sha256()
    parts: list[str] = []
    offset = 0
    while offset < source.size or not parts:
        part = hashlib.sha256()
        end = min(offset + part_size, source.size)
        while offset < end:
            data = source.read(offset, min(chunk, end - offset))
            if not data:
                raise DirectUploadError("the source ended early")
            whole.update(data)
            part.update(data)
            offset += len(data)
        parts.append(base64.b64encode(part.digest()).decode())
        if offset >= source.size:
            break
    return "sha256:" + whole.hexdigest(), parts


def default_part_size(size: int, preferred: int = DEFAULT_PART) -> int:
    """`preferred`, raised to whole MiB so the blob fits S3's 10,000 parts."""
    return max(preferred, -(-size // (MAX_PARTS * MIB)) * MIB)


def push_blob(http: requests.Session, base: str, repo: str, source: Source, *,
              digest: Optional[str] = None, location: Optional[str] = None,
              part_size: Optional[int] = None, workers: int = 8,
              progress: Callable[[int], None] = lambda n: None,
              s3: Optional[requests.Session] = None, single_put: bool = True,
              limit: Optional[RateLimit] = None, part_sums: Optional[tuple[int, list]] = None) -> str:
    """Upload `source` as a blob of `repo` straight to S3; returns its digest.

    With `location` (an interrupted session), parts S3 holds are skipped.
    `single_put=False` asks for parallel parts even where one PUT would do.
    `limit` caps the upload rate (shared by all parts).
    `part_sums` (part size, part checksums), taken with `digest` in one earlier pass
    (client/layout.py), spares hashing the source again when the part size is the same;
    S3 still refuses any part whose bytes changed since.
    Raises DirectUploadError, or ValueError when the registry offers no direct
    uploads (use the standard upload path then).
    """
    up = DirectUpload(http, base, repo, location, s3)
    if location is None and not up.open():
        raise ValueError("the registry does not offer direct uploads")
    state = up.status() if location else {"method": None}
    held: set = set()
    if state.get("method") == "multipart":
        part_size = state["partSize"]
        held = {p["number"] for p in state.get("parts", [])}
    part_size = part_size or default_part_size(source.size)
    if digest and part_sums is not None and part_sums[0] == part_size:
        blob_digest, checksums = digest, list(part_sums[1])
    else:
        blob_digest, checksums = hash_source(source, part_size)
    if digest and digest != blob_digest:
        raise DirectUploadError(f"the source hashes to {blob_digest}, not {digest}", 400, "DIGEST_INVALID",
                                {"expected": digest, "actual": blob_digest})
    if state.get("state") in ("verifying", "copying") or (state.get("method") == "put"
                                                          and state.get("uploaded")):
        return up.close(blob_digest)
    todo = [n for n in range(1, len(checksums) + 1) if n not in held]
    doc = up.plan(source.size, blob_digest if single_put or state.get("method") else None, part_size,
                  [(n, checksums[n - 1]) for n in todo[:PLAN_BATCH]])
    if doc["method"] == "put":
        up.send(doc["url"], doc["headers"], _Slice(source, 0, source.size, limit))
        progress(source.size)
        return up.close(blob_digest)
    if doc["partSize"] != part_size:
        raise DirectUploadError(f"the registry planned {doc['partSize']}-byte parts, not {part_size}")
    progress(sum(min(part_size, source.size - (n - 1) * part_size) for n in held))
    _send_parts(up, source, part_size, checksums, todo, doc["parts"], workers, progress, limit)
    try:
        return up.close(blob_digest)
    except DirectUploadError as exc:
        # another upload completed other parts at the blob's key first (docs/direct-upload.md):
        # push once more without the digest in the plan, so the parts are staged and proven
        if not (isinstance(exc.detail, dict) and exc.detail.get("pushAgain")) or not single_put:
            raise
    return push_blob(http, base, repo, source, digest=blob_digest, part_size=part_size, workers=workers,
                     progress=progress, s3=s3, single_put=False, limit=limit, part_sums=(part_size, checksums))


def _send_parts(up: DirectUpload, source: Source, part_size: int, checksums: list, todo: list,
                planned: list, workers: int, progress: Callable[[int], None],
                limit: Optional[RateLimit] = None) -> None:
    urls: dict = {p["number"]: p for p in planned}

    def plan(numbers: list) -> None:
        doc = up.plan(source.size, parts=[(n, checksums[n - 1]) for n in numbers])
        for p in doc["parts"]:
            urls[p["number"]] = p

    def send(n: int) -> None:
        for attempt in range(PART_RETRIES + 1):
            p = urls[n]
            try:
                up.send(p["url"], p["headers"], _Slice(source, (n - 1) * part_size, p["size"], limit))
                progress(p["size"])
                return
            except (DirectUploadError, requests.ConnectionError) as exc:
                if attempt == PART_RETRIES or getattr(exc, "status", None) == 400:
                    raise
                time.sleep(0.5 * (attempt + 1))
                if getattr(exc, "status", None) == 403:  # expired URL: plan the part again
                    plan([n])

    for i in range(PLAN_BATCH, len(todo), PLAN_BATCH):
        plan(todo[i:i + PLAN_BATCH])
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for _ in pool.map(send, todo):
            pass
