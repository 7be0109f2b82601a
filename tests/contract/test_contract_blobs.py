"""BlobStore contract: objects, ranges, copies and multipart uploads, on every implementation."""
from __future__ import annotations

import io
import os
import uuid

import pytest

from chalicelib.http.failures import aws_failure

MIB = 1024 * 1024


def _code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code"))


@pytest.fixture
def key() -> str:
    return f"contract/{uuid.uuid4().hex}"


def test_put_get_copy_delete(impl, key):
    impl.blobs.put(key, b"hello world")
    assert impl.blobs.get(key) == b"hello world"
    assert impl.blobs.head_sha256(key)[0] == 11
    assert impl.blobs.size(key) == 11
    impl.blobs.copy(key, key + ".copy")
    assert impl.blobs.copy_fresh(key, key + ".fresh") is True
    assert impl.blobs.copy_fresh(key + ".missing", key + ".none") is False  # a concurrent close took it
    assert impl.blobs.get(key + ".copy") == impl.blobs.get(key + ".fresh") == b"hello world"
    impl.blobs.put(key, b"replaced")
    assert impl.blobs.get(key) == b"replaced"
    assert impl.blobs.get(key + ".copy") == b"hello world"    # a copy, not an alias
    impl.blobs.delete(key)
    impl.blobs.delete(key)                                     # missing is fine
    assert impl.blobs.head_sha256(key) is None
    assert impl.blobs.size(key) is None
    url = impl.blobs.presign_get(key + ".copy", 60)
    assert isinstance(url, str) and url


class _RequestBody:
    """A request body as the local server lends it: read forward once, in pieces."""

    def __init__(self, data: bytes, cut_at: int = -1) -> None:
        self.data, self.pos, self.cut_at = data, 0, cut_at

    def read(self, n: int = -1) -> bytes:
        whole = n is None or n < 0   # to the end (moto reads so), else a piece of at most n
        n = len(self.data) - self.pos if whole else min(n, 256 * 1024)
        if 0 <= self.cut_at < self.pos + n:
            raise RuntimeError("the client went away")
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence or offset != self.pos:
            raise io.UnsupportedOperation("read once")
        return offset


def test_put_stream_reads_the_body_once_as_it_comes(impl, key):
    data = os.urandom(3 * MIB + 5)
    body = _RequestBody(data)
    impl.blobs.put_stream(key, body, len(data))
    assert body.pos == len(data)
    assert impl.blobs.get(key) == data
    assert impl.blobs.size(key) == len(data)


def test_put_stream_cut_short_stores_nothing(impl, key):
    with pytest.raises(Exception):
        impl.blobs.put_stream(key, _RequestBody(os.urandom(3 * MIB), cut_at=MIB), 3 * MIB)
    assert impl.blobs.size(key) is None


def test_missing_object_is_an_s3_error(impl, key):
    with pytest.raises(Exception) as err:
        impl.blobs.get(key)
    assert _code(err.value) in ("NoSuchKey", "404")
    assert aws_failure(err.value) != 429        # not mistaken for throttling
    with pytest.raises(Exception):
        impl.blobs.copy(key, key + ".copy")


def test_read_range(impl, key):
    data = bytes(range(256)) * 20
    impl.blobs.put(key, data)
    assert b"".join(impl.blobs.read_range(key, 100, 1000)) == data[100:1100]
    assert b"".join(impl.blobs.read_range(key, 0, len(data))) == data
    assert b"".join(impl.blobs.read_range(key, len(data) - 1, 1)) == data[-1:]


def test_multipart_assembles_parts_in_order(impl, key):
    first, second = b"a" * (5 * MIB), b"tail"
    mpu = impl.blobs.create_multipart(key)
    e2 = impl.blobs.upload_part(key, mpu, 2, second)
    e1 = impl.blobs.upload_part(key, mpu, 1, first)
    assert [(n, size, etag) for n, size, etag, _ in impl.blobs.list_parts(key, mpu)] == [
        (1, len(first), e1), (2, len(second), e2)]
    impl.blobs.complete_multipart(key, mpu, [[1, e1], [2, e2]])
    assert impl.blobs.head_sha256(key)[0] == len(first) + len(second)
    assert b"".join(impl.blobs.read_range(key, len(first) - 2, 6)) == b"aatail"
    assert impl.blobs.list_parts(key, mpu) is None             # completed: gone


def test_multipart_refuses_a_wrong_etag(impl, key):
    mpu = impl.blobs.create_multipart(key)
    impl.blobs.upload_part(key, mpu, 1, b"a" * (5 * MIB))
    e2 = impl.blobs.upload_part(key, mpu, 2, b"tail")
    with pytest.raises(Exception):
        impl.blobs.complete_multipart(key, mpu, [[1, '"0123456789abcdef0123456789abcdef"'], [2, e2]])
    assert impl.blobs.head_sha256(key) is None                 # nothing written
    impl.blobs.abort_multipart(key, mpu)
    assert impl.blobs.list_parts(key, mpu) is None


def test_multipart_refuses_small_parts(impl, key):
    if impl.name == "strict":
        pytest.skip("ministack does not enforce S3's 5 MiB minimum part size (S3 and moto do)")
    mpu = impl.blobs.create_multipart(key)
    e1 = impl.blobs.upload_part(key, mpu, 1, b"small")
    e2 = impl.blobs.upload_part(key, mpu, 2, b"tail")
    with pytest.raises(Exception) as err:
        impl.blobs.complete_multipart(key, mpu, [[1, e1], [2, e2]])
    assert _code(err.value) == "EntityTooSmall"
    assert impl.blobs.head_sha256(key) is None


def test_copy_part(impl, key):
    src = bytes(range(256)) * (6 * MIB // 256)
    impl.blobs.put(key + ".src", src)
    mpu = impl.blobs.create_multipart(key)
    e1 = impl.blobs.copy_part(key + ".src", key, mpu, 1, 0, 5 * MIB - 1)
    e2 = impl.blobs.copy_part(key + ".src", key, mpu, 2, 5 * MIB, len(src) - 1)
    impl.blobs.complete_multipart(key, mpu, [[1, e1], [2, e2]])
    assert impl.blobs.get(key) == src


def test_fresh_completion_never_replaces_an_object_and_delete_if_takes_only_its_version(impl, key):
    """Direct uploads planned with the digest complete at the blob's key only if no object
    is there (If-None-Match: *), and a refused one is deleted by its ETag (If-Match)."""
    from chalicelib.storage.ports import taken

    def staged(data: bytes) -> tuple:
        mpu = impl.blobs.create_multipart_sha256(key)
        impl.blobs.upload_part(key, mpu, 1, data)
        (n, _, etag, sha), = impl.blobs.list_parts(key, mpu)
        return mpu, [(n, etag, sha)]

    mpu, parts = staged(b"first")
    etag = impl.blobs.complete_multipart_sha256(key, mpu, parts, fresh=True)
    assert isinstance(etag, str) and etag
    mpu, parts = staged(b"second")
    with pytest.raises(Exception) as err:
        impl.blobs.complete_multipart_sha256(key, mpu, parts, fresh=True)
    assert taken(err.value) and aws_failure(err.value) != 429
    assert impl.blobs.get(key) == b"first"                  # never replaced
    assert impl.blobs.list_parts(key, mpu) is not None       # the refused upload is still open
    impl.blobs.abort_multipart(key, mpu)
    impl.blobs.put(key, b"replaced by a proven writer")
    impl.blobs.delete_if(key, etag)                          # not that version any more: kept
    assert impl.blobs.get(key) == b"replaced by a proven writer"
    mpu, parts = staged(b"third")
    impl.blobs.delete(key)
    etag = impl.blobs.complete_multipart_sha256(key, mpu, parts, fresh=True)
    impl.blobs.delete_if(key, etag)
    assert impl.blobs.size(key) is None
    impl.blobs.delete_if(key, etag)                          # missing is fine
