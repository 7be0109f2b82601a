"""Blob uploads to any registry: skip/mount, direct-to-S3 where offered, else chunked; resumable.

A blob is a byte range of a local file (a layer inside a docker-archive tar is read in
place), so parts are read with `os.pread` by parallel workers and memory stays at one part
per worker. The upload session of every unfinished blob is remembered in
`$XDG_CACHE_HOME/registry-client/uploads.json`; a later push of the same blob to the same
repository asks the registry what it already holds and sends only the rest.
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .api import ClientError
from .registry import Repo
from .throttle import RateLimit, take

Progress = Callable[[int], None]
DEFAULT_CHUNK = 4 * 1024 * 1024  # under the ~4.4 MiB a request may carry through API Gateway + Lambda
SMALL = 1024 * 1024  # below this, one monolithic PUT


@dataclass
class Blob:
    """`size` bytes of `path` from `offset` (or `data` in memory), with their digest."""

    digest: str
    size: int
    path: Optional[str] = None
    offset: int = 0
    data: Optional[bytes] = None
    media_type: str = "application/octet-stream"
    # (part size, SHA-256 of every part in base64), taken while the digest was computed:
    # the direct path then sends parts without reading the blob once more (client/direct.py)
    part_sums: Optional[tuple[int, list]] = None

    def read(self, start: int, length: int) -> bytes:
        length = max(0, min(length, self.size - start))
        if self.data is not None:
            return self.data[start:start + length]
        fd = os.open(self.path, os.O_RDONLY)
        try:
            first = os.pread(fd, length, self.offset + start)
            if len(first) == length:
                return first  # the usual case: no copy
            out = bytearray(first)
            while len(out) < length:
                got = os.pread(fd, length - len(out), self.offset + start + len(out))
                if not got:
                    raise ClientError(f"{self.path} is shorter than expected")
                out += got
            return bytes(out)
        finally:
            os.close(fd)


class ResumeStore:
    """Upload sessions of unfinished blobs, keyed by registry, repository and digest."""

    _lock = threading.Lock()

    def __init__(self, path: Optional[Path] = None) -> None:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        self.path = path or Path(cache) / "registry-client" / "uploads.json"

    def _load(self) -> dict:
        try:
            doc = json.loads(self.path.read_text())
            return doc if isinstance(doc, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> Optional[dict]:
        return self._load().get(key)

    def put(self, key: str, value: Optional[dict]) -> None:
        with self._lock:
            doc = self._load()
            if value is None:
                if doc.pop(key, None) is None:
                    return
            else:
                doc[key] = value
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=str(self.path.parent))
            with os.fdopen(fd, "w") as fh:
                json.dump(doc, fh)
            os.replace(tmp, self.path)


def direct_path(location: str) -> str:
    """`<upload Location>/direct`, keeping any query string of the Location."""
    path, sep, query = location.partition("?")
    return path.rstrip("/") + "/direct" + sep + query


def with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + "digest=" + digest


class Uploader:
    """Pushes blobs into one repository; `events` gets ("resumed", bytes) and the like."""

    def __init__(self, repo: Repo, workers: int = 4, chunk: int = DEFAULT_CHUNK,
                 store: Optional[ResumeStore] = None, direct: bool = True,
                 events: Optional[Callable[..., None]] = None, limit: Optional[RateLimit] = None) -> None:
        self.repo = repo
        self.limit = limit
        self.workers = max(1, workers)
        self.chunk = chunk
        self.store = store or ResumeStore()
        self.allow_direct = direct
        self.events = events or (lambda kind, **info: None)

    def _key(self, digest: str) -> str:
        return f"{self.repo.base}/{self.repo.name}@{digest}"

    def upload(self, blob: Blob, progress: Progress, mount_from: Optional[str] = None) -> str:
        """Make `blob` present in the repository; returns how: exists, mounted, direct, chunked, put."""
        key = self._key(blob.digest)
        if self.repo.blob_size(blob.digest) is not None:
            self.store.put(key, None)  # finished elsewhere: forget an interrupted session
            progress(blob.size)
            return "exists"
        if mount_from and mount_from != self.repo.name and self.repo.mount(blob.digest, mount_from):
            progress(blob.size)
            return "mounted"
        saved = self.store.get(key)
        if saved:
            try:
                how = self._resume(blob, saved, progress)
            except ClientError as err:
                if err.status not in (400, 404, 405, 416):
                    raise
                how = None  # the session is gone (expired, finished elsewhere): start afresh
            if how:
                self.store.put(key, None)
                return how
            self.store.put(key, None)
        if blob.size <= SMALL:
            self._monolithic(blob)
            progress(blob.size)
            return "put"
        r = self.repo.request("POST", f"/v2/{self.repo.name}/blobs/uploads/", ok=(202,))
        location = r.headers["Location"]
        direct = self.allow_direct and r.headers.get("OCI-Direct-Upload", "").lower().startswith("v1")
        min_chunk = int(r.headers.get("OCI-Chunk-Min-Length") or 0)
        self.store.put(key, {"location": location, "direct": direct})
        if direct:
            self._direct(blob, location, progress)
            how = "direct"
        else:
            self._chunked(blob, location, 0, max(self.chunk, min_chunk), progress)
            how = "chunked"
        self.store.put(key, None)
        return how

    # -- paths -------------------------------------------------------------------
    def _monolithic(self, blob: Blob) -> None:
        r = self.repo.request("POST", f"/v2/{self.repo.name}/blobs/uploads/", ok=(202, 201))
        if r.status_code == 201:
            return
        data = blob.read(0, blob.size)
        take(self.limit, len(data))
        self.repo.request("PUT", with_digest(r.headers["Location"], blob.digest), ok=(201,), data=data, headers={"Content-Type": "application/octet-stream"})

    def _resume(self, blob: Blob, saved: dict, progress: Progress) -> Optional[str]:
        location = saved["location"]
        if saved.get("direct"):
            r = self.repo.request("GET", direct_path(location), ok=(200,))
            held = r.json().get("parts") or []
            done = sum(int(p.get("size") or 0) for p in held)
            self.events("resumed", digest=blob.digest, bytes=done, parts=len(held))
            self._direct(blob, location, progress)
            return "direct"
        r = self.repo.request("GET", location, ok=(204, 200))
        end = r.headers.get("Range", "0-0").split("-")[-1]
        offset = int(end) + 1 if int(end) > 0 else 0
        location = r.headers.get("Location") or location
        self.events("resumed", digest=blob.digest, bytes=offset)
        self._chunked(blob, location, offset, int(saved.get("chunk") or self.chunk), progress)
        return "chunked"

    def _chunked(self, blob: Blob, location: str, offset: int, chunk: int, progress: Progress) -> None:
        progress(offset)
        self.store.put(self._key(blob.digest), {"location": location, "direct": False, "chunk": chunk})
        while offset < blob.size:
            data = blob.read(offset, chunk)
            take(self.limit, len(data))
            r = self.repo.request("PATCH", location, ok=(202,), data=data, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(data) - 1}"})
            location = r.headers.get("Location") or location
            self.store.put(self._key(blob.digest), {"location": location, "direct": False, "chunk": chunk})
            offset += len(data)
            progress(len(data))
        self._close(location, blob.digest)

    def send_direct(self, blob: Blob, location: str, progress: Progress = lambda n: None) -> None:
        """The bytes of `blob` through the direct plan of the session at `location`, closed."""
        self._direct(blob, location, progress)

    def _direct(self, blob: Blob, location: str, progress: Progress) -> None:
        """client/direct.py does the work (it resumes: parts S3 holds are not sent again)."""
        from .direct import DirectUploadError, push_blob

        try:
            push_blob(self.repo.session, self.repo.base, self.repo.name, blob, digest=blob.digest,
                      location=location, workers=self.workers, progress=progress, limit=self.limit,
                      part_sums=blob.part_sums)
        except DirectUploadError as err:
            raise ClientError(str(err), status=err.status, code=err.code, detail=err.detail) from None

    def _close(self, location: str, digest: str) -> None:
        """PUT ?digest=; repeat while the registry answers 202 (verification under way)."""
        import time

        for _ in range(10000):
            r = self.repo.request("PUT", with_digest(location, digest), ok=(201, 202), data=b"",
                                  headers={"Content-Type": "application/octet-stream"})
            if r.status_code == 201:
                return
            location = r.headers.get("Location") or location
            time.sleep(min(float(r.headers.get("Retry-After") or 1), 10))
        raise ClientError(f"the registry never finished verifying {digest}")
