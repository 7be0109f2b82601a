"""The push gateway's spool file: every byte of an upload, kept for the paths that send
the file again (a wrong digest hint, a stream given up, a blob too small to stream).

While parts stream to S3 from memory (direct_stream.py), the file is only a fallback, so
it is written with O_DIRECT where the OS and the filesystem allow: the bytes go to disk
without filling the page cache. On the 2-core CI VM, page-cache writes of a 1 GiB layer
cost 1-2.4 s of kernel CPU in the gateway, against about 0.1 s with O_DIRECT.
Anything else (macOS, tmpfs, a filesystem that refuses an aligned write) gets ordinary
writes, switched to at the first refusal with nothing lost. O_DIRECT needs aligned
buffers, offsets and lengths: bytes gather in a page-aligned buffer and go out in whole
buffers; `sync()` writes the partial tail (padded, then truncated) so readers of the
path see every byte.
"""
from __future__ import annotations

import mmap
import os
from typing import Optional

ALIGN = 4096             # the largest logical block size O_DIRECT asks alignment to
BUFFER = 4 * 1024 * 1024  # one aligned write (a multiple of ALIGN)


class SpoolFile:
    """Append-only bytes at `path`; thread-unsafe (the upload's lock serialises writers)."""

    def __init__(self, fd: int, path: str, direct: bool = True) -> None:
        self.fd, self.path = fd, path   # ordinary descriptor: plain writes, truncation
        self.size = 0
        self._dfd: Optional[int] = None
        self._buf: Optional[mmap.mmap] = None
        self._fill = 0   # bytes in the buffer; they belong at file offset size - fill
        if direct and hasattr(os, "O_DIRECT"):
            try:
                self._dfd = os.open(path, os.O_WRONLY | os.O_DIRECT)
                self._buf = mmap.mmap(-1, BUFFER)   # page-aligned
            except OSError:
                self.plain()

    @property
    def direct(self) -> bool:
        return self._dfd is not None

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        if self._buf is None:
            self._pwrite_all(self.fd, view, self.size)
            self.size += len(view)
            return
        while view:
            n = min(len(view), BUFFER - self._fill)
            self._buf[self._fill:self._fill + n] = view[:n]
            self._fill += n
            self.size += n
            view = view[n:]
            if self._fill == BUFFER:
                if not self._direct_write(BUFFER, self.size - BUFFER):
                    self._pwrite_all(self.fd, view, self.size)  # refused: the rest goes plainly
                    self.size += len(view)
                    return
                self._fill = 0

    def sync(self) -> None:
        """Every byte written so far is in the file at `path` (the tail goes out padded to
        ALIGN, the padding is cut off); later writes go on from there."""
        if self._buf is None or not self._fill:
            return
        base = self.size - self._fill
        padded = -(-self._fill // ALIGN) * ALIGN
        if self._direct_write(padded, base):
            os.ftruncate(self.fd, self.size)
            # the tail stays in the buffer: the next whole buffer rewrites that block

    def plain(self) -> None:
        """Ordinary writes from now on (what is buffered goes out first)."""
        if self._buf is not None and self._fill:
            with memoryview(self._buf) as whole:
                self._pwrite_all(self.fd, whole[:self._fill], self.size - self._fill)
        self.close()

    def close(self) -> None:
        """Release the O_DIRECT descriptor and the buffer (buffered bytes are dropped)."""
        self._fill = 0
        if self._buf is not None:
            self._buf.close()
            self._buf = None
        if self._dfd is not None:
            os.close(self._dfd)
            self._dfd = None

    def _direct_write(self, length: int, offset: int) -> bool:
        """One aligned write of the buffer's first `length` bytes; on refusal, plain writes
        take over (and write the buffer). False when that happened."""
        assert self._buf is not None and self._dfd is not None
        try:
            with memoryview(self._buf) as whole:
                done = os.pwrite(self._dfd, whole[:length], offset)
            if done == length:
                return True
        except OSError:
            pass
        self.plain()
        return False

    @staticmethod
    def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
        while view:
            n = os.pwrite(fd, view, offset)
            view, offset = view[n:], offset + n
