"""ministack's S3 without whole objects in memory (runs in ministack's own virtualenv).

ministack 1.5.33 keeps every multipart part in memory until the upload completes, then
joins them into one bytes object (a 1 GiB layer took it past 2 GiB RSS), and reads a
whole object into memory to copy it or to answer a GET. Its checks (SigV4 signatures,
presigned expiry, checksums, ETags) all run before the bytes are stored, and stay as
they are; this module changes only where bytes wait:

- an uploaded part is written to disk as soon as ministack accepts it: into one assembly
  file per upload, at (number - 1) x the upload's part size (the size of the first part to
  arrive; clients use one size for all parts but the last), by a writer thread while the
  event loop goes on (up to 64 MiB waiting; the completion waits for them), or, when a
  part is bigger than that or copied from an object, into a file of its own;
- CompleteMultipartUpload of parts 1..N that lie end to end in the assembly file renames
  that file into the object (no byte copied: copying 1 GiB took 3 s on this disk, most of
  a 1 GiB push's close); other parts are concatenated file to file. The final ETag comes
  from the parts' ETags, as S3 builds it (ministack_io.py says what an ETag is here);
- CopyObject hard-links the source's file (objects are written by rename, never in
  place), and UploadPartCopy copies the range file to file;
- GetObject streams the file (or the range) in 1 MiB pieces.

A request body is still read whole (ministack hashes it to check the signature), so the
memory a request takes is bounded by its body: one part, not one object.
"""
from __future__ import annotations

import base64
import contextvars
import hashlib
import os
import shutil
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, Optional

from ministack.core.responses import StreamingResponse
from ministack.services import s3

CHUNK = 1 << 20
_LAZY: contextvars.ContextVar[bool] = contextvars.ContextVar("s3_lazy_bodies", default=False)
_ORIG: dict[str, Any] = {}
ASSEMBLY = "assembly"  # the file in an upload's spool that parts are written into
_UPLOAD_LOCKS: dict[str, threading.Condition] = {}  # upload id -> lock: a part's write against completion
_UPLOAD_LOCKS_LOCK = threading.Lock()
_PENDING: dict[str, dict[int, Any]] = {}  # upload id -> part number -> bytes still being written (its lock held)
_WRITER = ThreadPoolExecutor(4, thread_name_prefix="part-writer")
MAX_BACKLOG = 64 * 1024 * 1024  # bytes of parts waiting for the writers; beyond, a part is written at once
_backlog = 0
_BACKLOG_LOCK = threading.Lock()


def upload_lock(upload_id: str) -> threading.Condition:
    """The upload's lock (as a Condition: a completion waits on it for parts still being written)."""
    with _UPLOAD_LOCKS_LOCK:
        return _UPLOAD_LOCKS.setdefault(upload_id, threading.Condition(threading.Lock()))


def forget_upload(upload_id: str) -> None:
    with _UPLOAD_LOCKS_LOCK:
        _UPLOAD_LOCKS.pop(upload_id, None)


def wait_for_writes(upload_id: str, number: Optional[int] = None) -> None:
    """With the upload's lock held: until no part (or not part `number`) is still being
    written to disk in the background."""
    cond = upload_lock(upload_id)
    while _PENDING.get(upload_id) and (number is None or number in _PENDING[upload_id]):
        cond.wait(1.0)


def _write_later(upload_id: str, number: int, part: dict, path: str, at: int) -> bool:
    """With the upload's lock held: write the part's bytes at `at` of `path` on a writer
    thread (False when the backlog is full: the caller writes now). The part keeps its
    bytes until they are on disk, then becomes a FileRange; CompleteMultipartUpload waits
    for every such write of its upload (wait_for_writes). ministack's event loop is one
    thread: writing a 16 MiB part there stopped every other request for the time the
    kernel took (41 % of its time while a 1 GiB layer streamed in)."""
    global _backlog
    data, size = part["body"], part["size"]
    with _BACKLOG_LOCK:
        if _backlog + size > MAX_BACKLOG:
            return False
        _backlog += size
    _PENDING.setdefault(upload_id, {})[number] = data

    def job() -> None:
        global _backlog
        try:
            _write_at(path, data, at)
            written = True
        except OSError:   # the upload was aborted meanwhile (its folder is gone)
            written = False
        finally:
            with _BACKLOG_LOCK:
                _backlog -= size
        with _UPLOAD_LOCKS_LOCK:
            cond = _UPLOAD_LOCKS.get(upload_id)
        if cond is None:   # completed or aborted and forgotten
            _PENDING.pop(upload_id, None)
            return
        with cond:
            if written and part.get("body") is data:
                part["body"] = FileRange(path, at, size)
            mine = _PENDING.get(upload_id, {})
            if mine.get(number) is data:
                del mine[number]
            if not mine:
                _PENDING.pop(upload_id, None)
            cond.notify_all()

    _WRITER.submit(job)
    return True


class _Fd:
    """An open file shared by the ranges cut from it; closed with the last of them."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __del__(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


class FileRange(StreamingResponse):
    """`length` bytes of a file from `start`: what ministack's code takes for a body.

    It answers len() and slicing as bytes do; as a response body it streams. With an
    open file (`fd`) it reads the inode it was opened on even if the path is replaced."""

    __slots__ = ("path", "start", "length", "_fd")

    def __init__(self, path: str, start: int, length: int, fd: Optional[_Fd] = None) -> None:
        super().__init__(self._stream)
        self.path, self.start, self.length, self._fd = path, start, length, fd

    @classmethod
    def open(cls, path: str) -> "FileRange":
        fd = _Fd(os.open(path, os.O_RDONLY))
        return cls(path, 0, os.fstat(fd.fd).st_size, fd)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, item: slice) -> "FileRange":
        if not isinstance(item, slice):
            raise TypeError("a FileRange is sliced, never indexed")
        start, stop, step = item.indices(self.length)
        if step != 1:
            raise ValueError("a FileRange slice has step 1")
        return FileRange(self.path, self.start + start, max(0, stop - start), self._fd)

    def chunks(self) -> Iterator[bytes]:
        fd = self._fd or _Fd(os.open(self.path, os.O_RDONLY))
        pos, end = self.start, self.start + self.length
        while pos < end:
            data = os.pread(fd.fd, min(CHUNK, end - pos), pos)
            if not data:
                raise OSError(f"{self.path} ended at {pos}, before {end}")
            yield data
            pos += len(data)

    def whole_file(self) -> bool:
        """True when this range is all of the file now at `path` (so a link copies it)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        if self._fd is not None and os.fstat(self._fd.fd).st_ino != st.st_ino:
            return False
        return self.start == 0 and self.length == st.st_size

    def copy_to(self, dst_fd: int) -> None:
        """Append the range to `dst_fd`, in the kernel where it can."""
        fd = self._fd or _Fd(os.open(self.path, os.O_RDONLY))
        pos, end = self.start, self.start + self.length
        try:
            while pos < end:
                n = os.copy_file_range(fd.fd, dst_fd, min(end - pos, 64 * CHUNK), pos)
                if n <= 0:
                    raise OSError(f"{self.path} ended at {pos}, before {end}")
                pos += n
        except (AttributeError, OSError):
            for data in FileRange(self.path, pos, end - pos, fd).chunks():
                _write_all(dst_fd, data)

    def bytes(self) -> bytes:
        return b"".join(self.chunks())

    async def _stream(self, send: Any, receive: Any) -> None:
        for data in self.chunks():
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _spool_dir() -> str:
    return os.environ.get("S3_PART_SPOOL") or os.path.join(os.path.dirname(s3.DATA_DIR.rstrip("/")), "s3-parts")


def _upload_spool(upload_id: str) -> str:
    safe = "".join(c for c in upload_id if c.isalnum() or c in "-_")
    return os.path.join(_spool_dir(), safe)


def _write_file(path: str, data: Any) -> None:
    """Write bytes or a FileRange to `path` (tmp + rename, 0600)."""
    tmp = path + ".tmp"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    if isinstance(data, FileRange) and data.whole_file():
        try:
            os.link(data.path, tmp)
            os.replace(tmp, path)
            return
        except OSError:
            pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if isinstance(data, FileRange):
            data.copy_to(fd)
        else:
            _write_all(fd, data)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)


def _write_at(path: str, data: bytes, at: int) -> None:
    """`data` at offset `at` of the file at `path` (created 0600 if missing)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.lseek(fd, at, os.SEEK_SET)
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# -- patched ministack functions ---------------------------------------------------------

def _atomic_write(fpath: str, data: Any, *, text: bool = False) -> None:
    if isinstance(data, FileRange):
        return _write_file(fpath, data)
    return _ORIG["_atomic_write"](fpath, data, text=text)


def _read_body(bucket_name: str, key: str, obj: dict) -> Any:
    """Inside GET/copy handlers: the object's file, opened, instead of its bytes."""
    if _LAZY.get() and obj.get("body") is None:
        fpath = s3._object_disk_path(bucket_name, key)
        if fpath:
            try:
                return FileRange.open(fpath)
            except OSError:
                pass
    return _ORIG["_read_body"](bucket_name, key, obj)


def _compute_s3_checksum(algorithm: str, body: Any) -> Optional[str]:
    if not isinstance(body, FileRange):
        return _ORIG["_compute_s3_checksum"](algorithm, body)
    algo = (algorithm or "").upper().replace("_", "")
    if algo in ("SHA256", "SHA1"):
        h = hashlib.new(algo.lower())
        for chunk in body.chunks():
            h.update(chunk)
        return base64.b64encode(h.digest()).decode()
    if algo == "CRC32":
        crc = 0
        for chunk in body.chunks():
            crc = zlib.crc32(chunk, crc)
        return base64.b64encode(struct.pack(">I", crc & 0xFFFFFFFF)).decode()
    return _ORIG["_compute_s3_checksum"](algorithm, body.bytes())  # rare algorithms: in memory


def _lazy(name: str) -> Any:
    def handler(*args: Any, **kwargs: Any) -> Any:
        token = _LAZY.set(True)
        try:
            return _ORIG[name](*args, **kwargs)
        finally:
            _LAZY.reset(token)
    handler.__name__ = name
    return handler


def _spill_part(query_params: dict, result: tuple) -> tuple:
    """After ministack stored a part: move its bytes to disk (the module doc says where)."""
    if result[0] != 200:
        return result
    upload_id = s3._qp(query_params, "uploadId")
    try:
        number = int(s3._qp(query_params, "partNumber"))
    except (TypeError, ValueError):
        return result
    with upload_lock(upload_id):  # a completion holding it has taken the parts already
        upload = s3._multipart_uploads.get(upload_id)
        part = (upload or {}).get("parts", {}).get(number)
        if upload is None or part is None or part.get("body") is None:
            return result
        folder = _upload_spool(upload_id)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        data, size = part["body"], part["size"]
        slot_size = upload.setdefault("registry_part_size", size)
        if isinstance(data, FileRange) or size > slot_size or size == 0:
            path = os.path.join(folder, str(number))
            _write_file(path, data)
            part["body"] = FileRange(path, 0, size)
            return result
        path = os.path.join(folder, ASSEMBLY)
        wait_for_writes(upload_id, number)   # the same part sent again: its earlier bytes land first
        if _write_later(upload_id, number, part, path, (number - 1) * slot_size):
            return result
        _write_at(path, data, (number - 1) * slot_size)
        part["body"] = FileRange(path, (number - 1) * slot_size, size)
    return result


def _upload_part(bucket_name: str, key: str, body: bytes, query_params: dict, headers: dict) -> tuple:
    return _spill_part(query_params, _ORIG["_upload_part"](bucket_name, key, body, query_params, headers))


def _upload_part_copy(bucket_name: str, dest_key: str, query_params: dict, headers: dict) -> tuple:
    return _spill_part(query_params, _lazy("_upload_part_copy")(bucket_name, dest_key, query_params, headers))


def _abort_multipart_upload(bucket_name: str, key: str, query_params: dict) -> tuple:
    upload_id = s3._qp(query_params, "uploadId")
    with upload_lock(upload_id):
        result = _ORIG["_abort_multipart_upload"](bucket_name, key, query_params)
        if result[0] < 300:
            shutil.rmtree(_upload_spool(upload_id), ignore_errors=True)
    if result[0] < 300:
        forget_upload(upload_id)
    return result


def install() -> None:
    """Swap the functions above into ministack's S3 module (once, before it serves)."""
    if _ORIG or not s3.S3_PERSIST:
        return
    from ministack_complete import complete_multipart_upload
    for name, fn in (("_atomic_write", _atomic_write), ("_read_body", _read_body),
                     ("_compute_s3_checksum", _compute_s3_checksum), ("_upload_part", _upload_part),
                     ("_upload_part_copy", _upload_part_copy),
                     ("_abort_multipart_upload", _abort_multipart_upload),
                     ("_complete_multipart_upload", complete_multipart_upload),
                     ("_get_object", None), ("_copy_object", None)):
        _ORIG[name] = getattr(s3, name)
        setattr(s3, name, fn or _lazy(name))
    # Multipart uploads live in ministack's memory only: a restart forgets them, so their
    # spooled parts are leftovers.
    shutil.rmtree(_spool_dir(), ignore_errors=True)
    os.makedirs(_spool_dir(), mode=0o700, exist_ok=True)
