"""One upload session held by the push gateway: bytes on disk, hashed as they arrive,
and sent to S3 part by part while the client is still sending.

When the first body of the session announces its length (`Content-Length` of a PATCH or
PUT at offset 0, as skopeo, podman, buildah, helm, oras and containerd send it) and that
length is over `STREAM_MIN`, the gateway plans a multipart direct upload of exactly that
size and sends each part as soon as its bytes are in. Without a length (chunked encoding:
docker, or skopeo compressing on the fly) or in several chunks, it waits until the spool
holds `STREAM_MIN`, then plans an open upload (parts of `OPEN_PART`, the size fixed by the
registry at the close) and streams from there. Either way the push ends shortly after the
client's last byte. A client that sends more bytes than it announced, or a part that
fails, falls back to the spool path: the whole file is sent at the close through a fresh
upstream session. Smaller blobs are spooled and sent in one presigned PUT at the close.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from typing import Any, Iterator, Optional

import requests

from .direct import DirectUpload, DirectUploadError, default_part_size
from .direct_stream import PartBudget, PartStream
from .gateway_auth import ForwardedAuth, TokenBook
from .spool_file import SpoolFile

STREAM_MIN = 64 * 1024 * 1024  # the registry's default single-PUT limit: smaller blobs go in one PUT
OPEN_PART = 16 * 1024 * 1024   # parts of an upload of unknown size (so at most ~156 GiB)
BLOCK = 1024 * 1024


class Spool:
    def __init__(self, name: str, upstream_location: str, spool_dir: Optional[str],
                 hint: Optional[str] = None) -> None:
        self.name = name
        self.hint = hint  # the digest the client probably sends (gateway_hints.py): plans go to its key
        self.location = upstream_location  # absolute URL of the upstream session
        fd, self.path = tempfile.mkstemp(prefix="gateway-upload-", dir=spool_dir)
        self.fd: Optional[int] = fd
        self.file = SpoolFile(fd, self.path)
        self.size = 0
        # The whole blob's SHA-256, for refusing a wrong digest before contacting the registry;
        # dropped once bytes stream to S3 (the registry proves the digest of what it links, and
        # one more pass over every byte on the receiving thread slowed streamed pushes).
        self.hash: Optional[Any] = hashlib.sha256()
        self.lock = threading.Lock()
        self.used = time.monotonic()
        self.stream: Optional[PartStream] = None
        self.upload: Optional[DirectUpload] = None
        self.fell_back = False  # streaming was tried and given up: spool path at the close
        self.dropped = False  # closed or deleted: a request that waited for the lock gets 404
        self.open_pending = False  # no length known: stream (open size) once STREAM_MIN is spooled
        self._ctx: tuple = ()
        self.auth: Optional[ForwardedAuth] = None
        self.http: Optional[requests.Session] = None

    def session(self, authorization: Optional[str], book: TokenBook) -> requests.Session:
        """Upstream requests of this upload: the client's latest credentials, renewed on 401."""
        if self.http is None:
            self.auth = ForwardedAuth(authorization, book)
            self.http = requests.Session()
            self.http.auth = self.auth
        elif authorization and self.auth is not None:
            with self.auth.lock:
                self.auth.header = authorization
        return self.http

    def begin(self, length: Optional[int], base: str, http: requests.Session, s3: requests.Session,
              workers: int, budget: Optional[PartBudget] = None) -> None:
        """Before a body: start streaming to S3 when its length allows, or give streaming up."""
        self._ctx = (base, http, s3, workers, budget)
        if self.stream is not None:
            if self.stream.size is not None and (length is None or self.size + length > self.stream.size):
                self.give_up()  # more than announced, or no length: the spool path
            return
        if self.fell_back or self.open_pending:
            return
        if self.size == 0 and length is not None and length > STREAM_MIN:
            part = default_part_size(length)
            self._start(length, part)
        else:  # no length, or chunks: stream with an open size once the spool holds STREAM_MIN
            self.open_pending = True

    def _start(self, size: Optional[int], part: int) -> None:
        base, http, s3, workers, budget = self._ctx
        up = DirectUpload(http, base, self.name, self.location, s3)
        doc = up.plan(size, self.hint, part_size=part)
        if doc.get("method") != "multipart" or doc.get("partSize") != part:
            raise DirectUploadError(f"the registry planned {doc.get('method')} with partSize {doc.get('partSize')}")
        self.upload = up
        self.file.sync()  # parts read back from the file (no budget, or _start_open) see every byte
        self.stream = PartStream(up, self.path, size, part, workers, budget=budget)
        if self.stream.budget is None:
            self.file.plain()  # parts too large for memory are read back from the file as they complete
        self.hash = None

    def _start_open(self) -> None:
        """The spool reached STREAM_MIN without a known length: plan an open upload and
        send what is already on disk, then go on with the bytes as they come."""
        self.open_pending = False
        try:
            self._start(None, OPEN_PART)
        except (DirectUploadError, requests.RequestException):
            return  # not offered as asked: the spool path at the close
        assert self.stream is not None and self.fd is not None
        self.file.sync()
        offset = 0
        while offset < self.size:
            block = os.pread(self.fd, min(BLOCK, self.size - offset), offset)
            if not block:
                break
            self.stream.feed(block)
            offset += len(block)

    def ready(self) -> str:
        """The path, with every byte received in the file (for sending it whole)."""
        self.file.sync()
        return self.path

    def park(self) -> None:
        """The body was cut short: what arrived stays in the file, not in memory (an abandoned
        upload must not hold part memory every other upload waits for)."""
        self.file.sync()
        if self.stream is not None:
            self.stream.park()

    def give_up(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
            self.fell_back = True
        self.open_pending = False

    def streamed(self) -> bool:
        """True when every byte went (or is going) to S3 by the streamed plan."""
        return self.stream is not None and self.stream.pos == self.size and self.stream.size in (None, self.size)

    def write(self, chunks: Iterator[bytes]) -> None:
        assert self.fd is not None
        for data in chunks:
            self.file.write(data)
            if self.hash is not None:
                self.hash.update(data)
            self.size += len(data)
            if self.stream is not None:
                try:
                    self.stream.feed(data)
                except DirectUploadError:
                    self.give_up()
            elif self.open_pending and self.size >= STREAM_MIN:
                self._start_open()
            self.used = time.monotonic()

    def drop(self) -> None:
        self.dropped = True
        if self.stream is not None:
            self.stream.close()
        if self.http is not None:
            self.http.close()
        if self.fd is not None:
            self.file.close()
            os.close(self.fd)
            self.fd = None
        try:
            os.unlink(self.path)
        except OSError:
            pass
