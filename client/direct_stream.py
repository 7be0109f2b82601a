"""Parts sent to S3 while the blob is still being written (the gateway's streaming uploads).

    stream = PartStream(upload, "/spool/file", size, part_size, workers=4, budget=PartBudget(...))
    stream.feed(block)   # after the block is in the file: hashes it, sends every part it completes
    stream.finish()      # waits for every part; raises the first failure

With `size` None the upload is open (the registry fixes its size from the parts at the
close): every part is `part_size` bytes, and `finish` sends the shorter last one.

Bytes are hashed once, as they arrive; a completed part is planned (its SHA-256 is in the
presigned URL) and uploaded by a worker while later bytes keep arriving, so the upload
overlaps the client's transfer. With a `budget`, a part is sent from the blocks fed (kept,
not copied) and `feed` waits while the budget's bytes are all held by parts in flight; the
file is then only the spool's fallback (spool_file.py writes it past the page cache).
Without one, parts are read back from the file (memory: one 1 MiB read per worker).
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
from .throttle import RateLimit, take


WAIT_S = 20.0  # how long a stream waits for part memory before it gives streaming up


class PartBudget:
    """Bytes of parts held in memory, shared by every stream of a gateway (its RSS bound)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._cond = threading.Condition()

    def fits(self, part_size: int) -> bool:
        """Parts this large stream from memory (two at least fit, so one fills while one goes)."""
        return 2 * part_size <= self.limit

    def take(self, n: int, failed: Callable[[], bool], sending: Callable[[], bool],
             patience: float = WAIT_S) -> None:
        """Wait for `n` bytes of room; DirectUploadError when a part of the caller's upload
        failed, or after `patience` seconds in which none of its own parts was on its way
        (others hold it all, perhaps clients that stopped sending: the caller falls back to
        its spool file instead of waiting on). Its own parts in flight, however slow, are
        progress: it waits for them."""
        deadline = time.monotonic() + patience
        with self._cond:
            while self.used and self.used + n > self.limit:
                if failed():
                    raise DirectUploadError("a part of this upload failed")
                if sending():
                    deadline = time.monotonic() + patience
                elif time.monotonic() > deadline:
                    raise DirectUploadError(f"no part memory for {patience:.0f} s")
                self._cond.wait(0.25)
            self.used += n

    def give(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


class _Held:
    """A part's blocks as a streamed request body (sent as they are: no join, no copy)."""

    def __init__(self, blocks: list, limit: Optional[RateLimit]) -> None:
        self.blocks, self.limit = blocks, limit
        self.left = sum(len(b) for b in blocks)
        self.at = 0

    def __len__(self) -> int:
        return self.left

    def read(self, n: int = -1) -> bytes:
        if self.at >= len(self.blocks):
            return b""
        data = self.blocks[self.at]
        self.at += 1
        self.left -= len(data)
        take(self.limit, len(data))
        return data


class PartStream:
    def __init__(self, up: DirectUpload, path: str, size: Optional[int], part_size: int, workers: int = 4,
                 limit: Optional[RateLimit] = None, progress: Callable[[int], None] = lambda n: None,
                 budget: Optional[PartBudget] = None) -> None:
        self.up, self.size, self.part_size = up, size, part_size
        self.budget = budget if budget is not None and budget.fits(part_size) else None
        self.held: list = []          # the blocks of the part being fed (memory mode)
        self.holding = False          # whether that part's bytes are taken from the budget
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
            if self.budget is not None:
                if not self.holding:
                    self.budget.take(self.part_size, self.failed, self.sending)
                    self.holding = True
                    start = (self.number - 1) * self.part_size
                    if self.pos > start:  # parked (park()): the part's first bytes come back from the file
                        back = self.source.read(start, self.pos - start)
                        if len(back) != self.pos - start:
                            raise DirectUploadError("the spool file is shorter than the bytes received")
                        self.held = [back]
                self.held.append(piece)  # a view of the block: kept, not copied
            self.pos += len(piece)
            view = view[len(piece):]
            if self.pos == self.part_end():
                self._submit(sized=False)

    def _submit(self, sized: bool) -> None:
        start = (self.number - 1) * self.part_size
        checksum = base64.b64encode(self.part.digest()).decode()
        held, self.held, self.holding = self.held, [], False
        future = self.pool.submit(self._send, self.source, self.number, checksum, start, self.pos - start,
                                  sized, held)
        if held and self.budget is not None:  # its budget goes back when it is sent, failed or dropped unsent
            budget, size = self.budget, self.part_size
            future.add_done_callback(lambda f: budget.give(size))
        self.futures.append(future)
        self.number += 1
        self.part = hashlib.sha256()

    def park(self) -> None:
        """The client went away in the middle of a part (it may resume with a PATCH from its
        Range, or never come back): the part's bytes leave memory and its budget goes back;
        they are in the file, and the next feed reads them from there."""
        if self.holding and self.budget is not None:
            self.held, self.holding = [], False
            self.budget.give(self.part_size)

    def sending(self) -> bool:
        return any(not f.done() for f in self.futures)

    def failed(self) -> bool:
        """A part failed, or the stream was closed (by another thread: parts cancelled)."""
        return self.error is not None or any(f.cancelled() or (f.done() and f.exception())
                                             for f in self.futures)

    def _send(self, src: FileSource, number: int, checksum: str, offset: int, length: int, sized: bool,
              held: list) -> None:
        part = (number, checksum, length) if sized else (number, checksum)
        for attempt in range(PART_RETRIES + 1):
            try:
                doc = self.up.plan(self.size, parts=[part])
                p = doc["parts"][0]
                body = _Held(held, self.limit) if held else _Slice(src, offset, length, self.limit)
                self.up.send(p["url"], p["headers"], body)
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
        self.park()  # the part being fed, if any, gives its budget back
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
