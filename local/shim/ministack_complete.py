"""CompleteMultipartUpload for ministack's S3 with the parts on disk (ministack_files.py).

The same answers as ministack's own (NoSuchUpload, InvalidPart for a missing part, a
changed ETag or a checksum that differs from the stored one, MalformedXML, BadDigest for
a wrong composite checksum, InvalidRequest for a wrong x-amz-mp-object-size, the replay
of a completed upload), but the object is assembled file to file: no part is read into
memory, and the ETag is built from the parts' ETags (ministack_io's md5_hash), as S3 builds it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import threading
from typing import Any, Optional

from ministack.services import s3

from ministack_files import (ASSEMBLY, FileRange, _upload_spool, _write_all, forget_upload, upload_lock,
                             wait_for_writes)


def _invalid_part(number: Optional[int] = None) -> tuple:
    msg = "One or more of the specified parts could not be found."
    if number is not None:
        msg += " The following part numbers are invalid: " + str(number)
    return s3._error("InvalidPart", msg, 400)


def _requested_parts(body: bytes) -> Optional[list]:
    """[(number, etag or None, {ALGORITHM: value})] in part-number order; None: bad XML."""
    try:
        root = s3.fromstring(body)
    except (s3.ParseError, ValueError):
        return None
    out = []
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] != "Part":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: child.text for child in el}
        number = fields.pop("PartNumber", None)
        if number is None:
            continue
        try:
            number = int(number)
        except ValueError:
            return None
        checksums = {name[len("Checksum"):].upper(): value for name, value in fields.items()
                     if name.startswith("Checksum")}
        out.append((number, fields.get("ETag"), checksums))
    return sorted(out, key=lambda p: p[0])


def _in_place(parts: list) -> Optional[tuple[str, int]]:
    """(the assembly file, the parts' length) when they lie end to end in it from its start."""
    at, path = 0, None
    for part in parts:
        body = part["body"]
        if not isinstance(body, FileRange) or os.path.basename(body.path) != ASSEMBLY or body.start != at:
            return None
        if path not in (None, body.path):
            return None
        path, at = body.path, at + body.length
    return (path, at) if path is not None else None


def _assemble(path: str, parts: list) -> None:
    """The object's file at `path`: the assembly file itself when the parts lie end to end
    in it (cut to their length: parts not completed may lie beyond), one spooled part as it
    is (a link: the part file is never written again), else the parts' bytes concatenated
    (files, or bytes a failed spill left in memory)."""
    whole = _in_place(parts)
    if whole is not None:
        os.truncate(*whole)
        os.rename(whole[0], path)
        return
    if len(parts) == 1 and isinstance(parts[0]["body"], FileRange) and parts[0]["body"].whole_file():
        try:
            os.link(parts[0]["body"].path, path)
            return
        except OSError:
            pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for part in parts:
            body = part["body"]
            if isinstance(body, FileRange):
                body.copy_to(fd)
            else:
                _write_all(fd, body)
    finally:
        os.close(fd)


_LOCKS: dict = {}  # (bucket, key) -> lock; one per key ever completed (a test server's lifetime)
_LOCKS_LOCK = threading.Lock()


def complete_multipart_upload(bucket_name: str, key: str, body: bytes, query_params: dict,
                              headers: Optional[dict] = None) -> tuple:
    """One completion at a time per key: the If-None-Match / If-Match check and the object
    taking its key are then one step, as in S3 (two uploads completing at one key with
    If-None-Match: * leave the first object and refuse the second with 412); completions
    at other keys go on meanwhile."""
    with _LOCKS_LOCK:
        lock = _LOCKS.setdefault((bucket_name, key), threading.Lock())
    upload_id = s3._qp(query_params, "uploadId")
    with lock, upload_lock(upload_id):  # and no part written into the upload meanwhile
        wait_for_writes(upload_id)         # parts still on their way to disk land first
        result = _complete(bucket_name, key, body, query_params, headers)
    if result[0] < 300:
        forget_upload(upload_id)
    return result


def _complete(bucket_name: str, key: str, body: bytes, query_params: dict,
              headers: Optional[dict] = None) -> tuple:
    headers = headers or {}
    bucket = s3._ensure_bucket(bucket_name)
    if bucket is None:
        return s3._no_such_bucket(bucket_name)
    upload_id = s3._qp(query_params, "uploadId")
    done = s3._completed_multipart_uploads.get(upload_id)
    if done is not None and done.get("key") == key:
        return done["response"]  # a retry of a completed upload gets the same answer
    upload = s3._multipart_uploads.get(upload_id)
    if upload is None or upload["bucket"] != bucket_name or upload["key"] != key:
        return s3._error("NoSuchUpload", "The specified multipart upload does not exist.", 404,
                         f"/{bucket_name}/{key}")
    refused = (s3._check_sse_c_part(headers, upload)
               or s3._check_put_preconditions(headers, bucket.get("objects", {}).get(key)))
    if refused:
        return refused
    requested = _requested_parts(body)
    if requested is None:
        return s3._error("MalformedXML", "The XML you provided was not well-formed or did not validate "
                         "against our published schema.", 400, f"/{bucket_name}/{key}")

    algorithm = upload.get("checksum_algorithm")
    chosen, digests, md5s = [], [], b""
    for number, etag, checksums in requested:
        stored = upload["parts"].get(number)
        if stored is None:
            return _invalid_part()
        if etag and etag.strip('"') != stored["etag"].strip('"'):
            return _invalid_part(number)
        have = stored.get("checksums") or {}
        if any(value and have.get(alg) != value for alg, value in checksums.items()):
            return _invalid_part(number)
        if algorithm:
            digests.append(have.get(algorithm))
        md5s += bytes.fromhex(stored["etag"].strip('"'))
        chosen.append((number, stored))
    size = sum(stored["size"] for _, stored in chosen)

    declared = headers.get("x-amz-mp-object-size")
    if declared is not None:
        if not declared.strip().isdigit():
            return s3._error("InvalidRequest", f"Value for x-amz-mp-object-size header is invalid: "
                             f"'{declared}'", 400, f"/{bucket_name}/{key}")
        if int(declared) != size:
            return s3._error("InvalidRequest", f"The provided 'x-amz-mp-object-size' header value {declared} "
                             f"does not match what was computed: {size}", 400, f"/{bucket_name}/{key}")
    composite = s3._composite_checksum(algorithm, digests)
    if algorithm:
        asked = headers.get(f"x-amz-checksum-{algorithm.lower()}")
        if asked and asked != composite:
            return s3._error("BadDigest", f"The {algorithm} you specified did not match the calculated "
                             f"checksum.", 400, f"/{bucket_name}/{key}")

    spool = _upload_spool(upload_id)
    os.makedirs(spool, mode=0o700, exist_ok=True)
    assembled = os.path.join(spool, "object")
    _assemble(assembled, [stored for _, stored in chosen])
    etag = f'"{hashlib.md5(md5s).hexdigest()}-{len(chosen)}"'
    obj: dict[str, Any] = {
        "body": FileRange(assembled, 0, size), "content_type": upload["content_type"],
        "content_encoding": upload.get("content_encoding"), "etag": etag, "last_modified": s3.now_iso(),
        "size": size, "metadata": upload["metadata"], "preserved_headers": upload.get("preserved_headers", {}),
        "storage_class": upload.get("storage_class") or "STANDARD",
        "parts": [{"PartNumber": n, "Size": stored["size"]} for n, stored in chosen],
        "checksums": {algorithm: composite} if composite else {},
        "checksum_type": "COMPOSITE" if composite else None}
    prior = bucket["objects"].get(key)
    bucket["objects"][key] = obj
    del s3._multipart_uploads[upload_id]

    resp_headers = {"Content-Type": "application/xml", **s3._stored_sse_headers(obj)}
    s3._maybe_replicate(bucket_name, key, obj, obj["body"])
    version_id = s3._record_object_version(bucket_name, key, prior, obj, None)  # versions read the files
    if version_id:
        resp_headers["x-amz-version-id"] = version_id
    s3._fire_s3_event_async(bucket_name, key, "s3:ObjectCreated:CompleteMultipartUpload", size=size,
                            etag=etag, version_id=version_id)
    s3._persist_object(bucket_name, key, obj)  # links the assembled file into place
    shutil.rmtree(spool, ignore_errors=True)

    root = s3.Element("CompleteMultipartUploadResult", xmlns=s3.S3_NS)
    host = headers.get("host")
    base = (f"{headers.get('x-forwarded-proto') or 'http'}://{host}" if host
            else os.environ.get("MINISTACK_HOST", os.environ.get("AWS_ENDPOINT_URL", "http://localhost:4566")))
    for tag, text in (("Location", f"{base}/{bucket_name}/{key}"), ("Bucket", bucket_name), ("Key", key),
                      ("ETag", etag)):
        s3.SubElement(root, tag).text = text
    if composite:
        s3.SubElement(root, f"Checksum{algorithm}").text = composite
        s3.SubElement(root, "ChecksumType").text = "COMPOSITE"
    response = (200, resp_headers, s3._xml_body(root))
    s3._completed_multipart_uploads[upload_id] = {"key": key, "response": response}
    return response
