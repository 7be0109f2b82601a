"""One upload session held by the push gateway: bytes on disk, hashed as they arrive,
and sent to S3 part by part while the client is still sending.

When the first body of the session announces its length (`Content-Length` of a PATCH or
PUT at offset 0, as skopeo, podman, buildah, helm, oras and containerd send it) and that
length is over `STREAM_MIN`, the gateway plans a multipart direct upload of exactly that
size and sends each part as soon as its bytes are in: the push ends shortly after the
client's last byte. Later chunks (a resumed PATCH from the session's Range) continue the
same parts. A client that sends no length (chunked encoding, e.g. docker), or more or
fewer bytes than it announced, gets the spool path instead: the whole file is sent at the
close through a fresh upstream session, and the streamed one is dropped. The file is kept
either way, so a part upload that fails can be sent again from it.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from typing import Iterator, Optional

import requests

from .direct import DirectUpload, DirectUploadError, default_part_size
from .direct_stream import PartStream
from .gateway_auth import ForwardedAuth, TokenBook

STREAM_MIN = 64 * 1024 * 1024  # the registry's default single-PUT limit: smaller blobs go in one PUT


class Spool:
    def __init__(self, name: str, upstream_location: str, spool_dir: Optional[str]) -> None:
        self.name = name
        self.location = upstream_location  # absolute URL of the upstream session
        fd, self.path = tempfile.mkstemp(prefix="gateway-upload-", dir=spool_dir)
        self.fd: Optional[int] = fd
        self.size = 0
        self.hash = hashlib.sha256()
        self.lock = threading.Lock()
        self.used = time.monotonic()
        self.stream: Optional[PartStream] = None
        self.upload: Optional[DirectUpload] = None
        self.fell_back = False  # streaming was tried and given up: spool path at the close
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
              workers: int) -> None:
        """Before a body: start streaming to S3 when its length allows, or give streaming up."""
        if self.stream is not None:
            if length is None or self.size + length > self.stream.size:
                self.give_up()
            return
        if self.size or self.fell_back or length is None or length <= STREAM_MIN:
            return
        up = DirectUpload(http, base, self.name, self.location, s3)
        part = default_part_size(length)
        doc = up.plan(length, part_size=part)
        if doc.get("method") != "multipart" or doc.get("partSize") != part:
            return
        self.upload = up
        self.stream = PartStream(up, self.path, length, part, workers)

    def give_up(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
            self.fell_back = True

    def streamed(self) -> bool:
        """True when every byte went (or is going) to S3 by the streamed plan."""
        return self.stream is not None and self.stream.pos == self.stream.size == self.size

    def write(self, chunks: Iterator[bytes]) -> None:
        assert self.fd is not None
        for data in chunks:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
            self.hash.update(data)
            self.size += len(data)
            if self.stream is not None:
                try:
                    self.stream.feed(data)
                except DirectUploadError:
                    self.give_up()
            self.used = time.monotonic()

    def drop(self) -> None:
        if self.stream is not None:
            self.stream.close()
        if self.http is not None:
            self.http.close()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        try:
            os.unlink(self.path)
        except OSError:
            pass
