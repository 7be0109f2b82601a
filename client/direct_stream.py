"""Parts sent to S3 while the blob is still being written (the gateway's streaming uploads).

    stream = PartStream(upload, "/spool/file", size, part_size, workers=4)
    stream.feed(block)   # after the block is in the file: hashes it, sends every part it completes
    stream.finish()      # waits for every part; raises the first failure

With `size` None the upload is open (the registry fixes its size from the parts at the
close): every part is `part_size` bytes, and `finish` sends the shorter last one.

Bytes are hashed once, as they arrive; a completed part is planned (its SHA-256 is in the
presigned URL) and uploaded from the file by a worker while later bytes keep arriving, so
the upload overlaps the client's transfer. Memory: one 1 MiB read per worker.
"""
from __future__ import annotations

import base64
import hashlib
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Optional

import requests

from .direct import PART_RETRIES, DirectUpload, DirectUploadError, FileSource, _Slice
from .throttle import RateLimit


class PartStream:
    def __init__(self, up: DirectUpload, path: str, size: Optional[int], part_size: int, workers: int = 4,
                 limit: Optional[RateLimit] = None, progress: Callable[[int], None] = lambda n: None) -> None:
        self.up, self.size, self.part_size = up, size, part_size
        self.source = FileSource(path)
        self.limit, self.progress = limit, progress
        self.pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="parts")
        self.futures: list[Future] = []
        self.pos = 0                  # bytes fed so far
        self.number = 1               # the part being hashed
        self.part = hashlib.sha256()
        self.error: Optional[BaseException] = None
        self._lock = threading.Lock()

    def part_end(self) -> int:
        end = self.number * self.part_size
        return end if self.size is None else min(end, self.size)

    def feed(self, data: bytes) -> None:
        """Hash `data` (already written to the file at `pos`); send each part it completes."""
        view = memoryview(data)
        while view:
            room = self.part_end() - self.pos
            if room <= 0:
                raise DirectUploadError(f"more than the {self.size} bytes declared")
            piece = view[:room]
            self.part.update(piece)
            self.pos += len(piece)
            view = view[len(piece):]
            if self.pos == self.part_end():
                self._submit(sized=False)

    def _submit(self, sized: bool) -> None:
        start = (self.number - 1) * self.part_size
        checksum = base64.b64encode(self.part.digest()).decode()
        self.futures.append(self.pool.submit(self._send, self.source, self.number, checksum, start,
                                             self.pos - start, sized))
        self.number += 1
        self.part = hashlib.sha256()

    def failed(self) -> bool:
        return self.error is not None or any(f.done() and f.exception() for f in self.futures)

    def _send(self, src: FileSource, number: int, checksum: str, offset: int, length: int, sized: bool) -> None:
        part = (number, checksum, length) if sized else (number, checksum)
        for attempt in range(PART_RETRIES + 1):
            try:
                doc = self.up.plan(self.size, parts=[part])
                p = doc["parts"][0]
                self.up.send(p["url"], p["headers"], _Slice(src, offset, length, self.limit))
                self.progress(length)
                return
            except (DirectUploadError, requests.ConnectionError) as exc:
                status = getattr(exc, "status", None)
                if attempt == PART_RETRIES or (status is not None and 400 <= status < 500 and status != 403):
                    self.error = exc
                    raise
                time.sleep(0.5 * (attempt + 1))  # a 403 is an expired URL: the next plan signs afresh

    def finish(self) -> None:
        """Wait for every part; raises the first failure. An open upload (size None) sends
        its last, shorter part now, with its size."""
        if self.size is None:
            if self.pos == 0:
                raise DirectUploadError("an open upload needs at least one byte")
            if self.pos > (self.number - 1) * self.part_size:
                self._submit(sized=True)
        elif self.pos != self.size:
            raise DirectUploadError(f"{self.pos} bytes of the {self.size} declared")
        try:
            for f in self.futures:
                f.result()
        finally:
            self.close()

    def close(self) -> None:
        """Stop: queued parts are dropped, running ones end on their own."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            if self.source is not None:
                src, self.source = self.source, None  # type: ignore[assignment]
                threading.Thread(target=self._close_after, args=(src,), daemon=True).start()

    def _close_after(self, src: FileSource) -> None:
        for f in self.futures:  # the fd stays open until no running part reads it
            try:
                f.exception()
            except BaseException:  # noqa: BLE001 - cancelled
                pass
        src.close()
