"""In-memory fake of the BlobStore port (pure Python, thread-safe, no boto3).

Objects and multipart uploads behave as S3 does where the use cases can tell:
ETags are quoted MD5s, completing checks every part's ETag (and SHA-256) and
the 5 MiB minimum of all parts but the last, a SHA-256 multipart object gets
S3's composite checksum. Failures raise `FakeS3Error` carrying S3's error code
in `.response`, so http/failures.py and s3.py's code lookups treat them alike.
Presigned URLs are `memory://` strings: nothing can fetch them (HTTP tests use
the adapters).
"""
from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from typing import Any, Iterator, Optional
from urllib.parse import quote

MIN_PART_SIZE = 5 * 1024 * 1024
_READ_CHUNK = 1024 * 1024


class ClientError(Exception):
    """Named as botocore's, which http/failures.py recognises by class name."""


class FakeS3Error(ClientError):
    """An S3 error: `.response["Error"]["Code"]` as botocore's ClientError has it."""

    def __init__(self, code: str, key: str = "") -> None:
        super().__init__(f"{code}: {key}")
        self.response = {"Error": {"Code": code, "Message": key}}


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'  # noqa: S324 - S3's ETag, not security


def _multipart_etag(chosen: list) -> str:
    md5s = b"".join(bytes.fromhex(e.strip('"')) for _, e, _ in chosen)
    return f'"{hashlib.md5(md5s).hexdigest()}-{len(chosen)}"'  # noqa: S324 - S3's ETag


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class MemoryBlobStore:
    """BlobStore in a dictionary of objects and one of open multipart uploads."""

    def __init__(self, bucket: str = "memory") -> None:
        self._bucket = bucket
        self._lock = threading.Lock()
        self._objects: dict = {}   # key -> (bytes, sha256 checksum or None)
        self._etags: dict = {}     # key -> the ETag of the object's current version
        self._uploads: dict = {}   # upload id -> {"key", "sha256": bool, "parts": {n: (bytes, etag, sha)}}
        self._mtime: dict = {}     # key -> when the object's current version was written

    def _object(self, key: str) -> bytes:
        if key not in self._objects:
            raise FakeS3Error("NoSuchKey", key)
        return self._objects[key][0]

    def _upload(self, key: str, mpu_id: str) -> dict:
        up = self._uploads.get(mpu_id)
        if up is None or up["key"] != key:
            raise FakeS3Error("NoSuchUpload", key)
        return up

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._objects[key] = (bytes(data), None)
            self._etags[key] = _etag(data)
            self._mtime[key] = time.time()

    def put_stream(self, key: str, body: Any, size: int) -> None:
        chunks, got = [], 0
        while got < size:
            chunk = body.read(size - got)
            if not chunk:
                raise ValueError(f"the body ended after {got} of {size} bytes")
            chunks.append(chunk)
            got += len(chunk)
        self.put(key, b"".join(chunks)[:size])

    def list_keys(self, prefix: str, after: str, n: int) -> tuple[list[tuple[str, int, float]], bool]:
        with self._lock:
            found = sorted(k for k in self._objects if k.startswith(prefix) and k > after)
            return [(k, len(self._objects[k][0]), self._mtime.get(k, 0.0)) for k in found[:n]], len(found) > n

    def get(self, key: str) -> bytes:
        with self._lock:
            return self._object(key)

    def size(self, key: str) -> Optional[int]:
        with self._lock:
            return len(self._objects[key][0]) if key in self._objects else None

    def delete(self, key: str) -> None:
        with self._lock:
            self._objects.pop(key, None)
            self._etags.pop(key, None)

    def copy(self, src: str, dst: str, size: int = 0) -> None:
        with self._lock:
            self._objects[dst] = self._objects.get(src) or (self._object(src), None)
            self._etags[dst] = _etag(self._objects[dst][0])
            self._mtime[dst] = time.time()

    def copy_fresh(self, src: str, dst: str) -> bool:
        with self._lock:
            if src not in self._objects:
                return False
        self.copy(src, dst)
        return True

    def presign_get(self, key: str, ttl: int) -> str:
        return f"memory://{self._bucket}/{quote(key)}?expires={int(ttl)}"

    def read_range(self, key: str, start: int, length: int) -> Iterator[bytes]:
        with self._lock:
            data = self._object(key)[start:start + length]
        for i in range(0, len(data), _READ_CHUNK):
            yield data[i:i + _READ_CHUNK]

    def head_sha256(self, key: str) -> Optional[tuple[int, Optional[str]]]:
        with self._lock:
            if key not in self._objects:
                return None
            data, checksum = self._objects[key]
            return len(data), checksum

    # -- multipart uploads ------------------------------------------------------
    def create_multipart(self, key: str, sha256: bool = False) -> str:
        mpu_id = uuid.uuid4().hex
        with self._lock:
            self._uploads[mpu_id] = {"key": key, "sha256": sha256, "parts": {}}
        return mpu_id

    def create_multipart_sha256(self, key: str) -> str:
        return self.create_multipart(key, sha256=True)

    def upload_part(self, key: str, mpu_id: str, number: int, data: bytes) -> str:
        with self._lock:
            up = self._upload(key, mpu_id)
            etag = _etag(data)
            up["parts"][int(number)] = (bytes(data), etag, _sha256_b64(data) if up["sha256"] else None)
            return etag

    def copy_part(self, src: str, dst: str, mpu_id: str, number: int, start: int, end: int) -> str:
        with self._lock:
            data = self._object(src)[start:end + 1]
        return self.upload_part(dst, mpu_id, number, data)

    def list_parts(self, key: str, mpu_id: str) -> Optional[list]:
        with self._lock:
            up = self._uploads.get(mpu_id)
            if up is None or up["key"] != key:
                return None
            return [(n, len(d), e, c) for n, (d, e, c) in sorted(up["parts"].items())]

    def _complete(self, key: str, mpu_id: str, parts: list, fresh: bool = False) -> str:
        """`parts`: [(number, etag, sha256 or None)], ascending, each as uploaded; `fresh`:
        only if no object is at `key` (If-None-Match: *)."""
        with self._lock:
            up = self._upload(key, mpu_id)
            if fresh and key in self._objects:
                raise FakeS3Error("PreconditionFailed", key)
            numbers = [int(p[0]) for p in parts]
            if not parts or numbers != sorted(set(numbers)):
                raise FakeS3Error("InvalidPartOrder", key)
            chosen = []
            for number, etag, checksum in parts:
                held = up["parts"].get(int(number))
                if held is None or held[1] != etag or (checksum and held[2] != checksum):
                    raise FakeS3Error("InvalidPart", key)
                chosen.append(held)
            if any(len(d) < MIN_PART_SIZE for d, _, _ in chosen[:-1]):
                raise FakeS3Error("EntityTooSmall", key)
            data = b"".join(d for d, _, _ in chosen)
            composite = None
            if up["sha256"]:
                digests = b"".join(base64.b64decode(c) for _, _, c in chosen)
                composite = f"{_sha256_b64(digests)}-{len(chosen)}"
            self._objects[key] = (data, composite)
            self._etags[key] = _multipart_etag(chosen)
            self._mtime[key] = time.time()
            del self._uploads[mpu_id]
            return self._etags[key]

    def complete_multipart(self, key: str, mpu_id: str, parts: list) -> None:
        self._complete(key, mpu_id, [(n, e, None) for n, e in parts])

    def complete_multipart_sha256(self, key: str, mpu_id: str, parts: list, fresh: bool = False) -> str:
        return self._complete(key, mpu_id, [(n, e, c) for n, e, c in parts], fresh)

    def delete_if(self, key: str, etag: str) -> None:
        with self._lock:
            if key in self._objects and self._etags.get(key) == etag:
                del self._objects[key], self._etags[key]

    def abort_multipart(self, key: str, mpu_id: str) -> None:
        with self._lock:
            self._upload(key, mpu_id)
            del self._uploads[mpu_id]

    # -- direct uploads: URLs only a real S3 (or the strict backend) can serve --
    def presign_put_sha256(self, key: str, sha256_b64: str, size: int, ttl: int) -> str:
        return f"memory://{self._bucket}/{quote(key)}?checksum={quote(sha256_b64)}&size={size}&expires={ttl}"

    def presign_part_sha256(self, key: str, mpu_id: str, number: int, sha256_b64: str,
                            size: int, ttl: int) -> str:
        return (f"memory://{self._bucket}/{quote(key)}?uploadId={mpu_id}&partNumber={number}"
                f"&checksum={quote(sha256_b64)}&size={size}&expires={ttl}")
