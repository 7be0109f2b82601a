"""Concurrent closes of one direct session, interleaved by hand on the port fakes:
close B read the session, then close A ran to its end (or part of the way), then B
goes on with what it read. Every interleaving must answer 201 (the digest), 202 (a
session) or 404, never an unexpected failure, and leave the right blob."""
from __future__ import annotations

import dataclasses
import hashlib
import os

import pytest

from chalicelib.config import Settings
from chalicelib.domain import direct_close
from chalicelib.domain.direct import DirectUploads
from chalicelib.oci.errors import RegistryError
from chalicelib.storage import keys
from chalicelib.storage.memory import MemoryMetadataStore, MemoryState
from chalicelib.storage.memory_blobs import MemoryBlobStore
from chalicelib.storage.ports import UploadSession
from support import sha256

MIB = 1024 * 1024
REPO = "team/app"


@pytest.fixture(autouse=True)
def small_reads(monkeypatch):
    """Hash in 1 MiB ranges, so a close with no time budget stops after one."""
    monkeypatch.setattr(direct_close, "READ_PIECE", MIB)


@pytest.fixture
def direct() -> DirectUploads:
    settings = dataclasses.replace(Settings(), direct_uploads=True, direct_verify_seconds=30)
    return DirectUploads(MemoryMetadataStore(MemoryState()), MemoryBlobStore(), settings)


def _open(d: DirectUploads) -> str:
    import time
    import uuid

    upload_id = str(uuid.uuid4())
    d.meta.create_upload(UploadSession(upload_id=upload_id, repo=REPO, expires=int(time.time()) + 600))
    return upload_id


def _multipart(d: DirectUploads, data: bytes, part: int = 5 * MIB) -> str:
    """A planned multipart session whose parts S3 (the fake) holds."""
    import base64

    upload_id = _open(d)
    pieces = [data[i:i + part] for i in range(0, len(data), part)]
    sums = [base64.b64encode(hashlib.sha256(p).digest()).decode() for p in pieces]
    d.plan(REPO, upload_id, f'{{"size": {len(data)}, "partSize": {part}}}'.encode())
    s = d.meta.get_upload(upload_id)
    for n, p in enumerate(pieces, 1):
        d.blobs.upload_part(keys.upload_data_key(upload_id), s.mpu_id, n, p)
    assert len(sums) == len(pieces)
    return upload_id


def _close(d: DirectUploads, s: UploadSession, digest: str):
    return d.close(s, digest, b"")


def _linked(d: DirectUploads, digest: str, data: bytes) -> bool:
    link = d.meta.get_blob_link(REPO, digest)
    return link is not None and d.blobs.get(link.s3_key) == data


def test_a_close_that_read_the_session_before_another_committed(direct):
    data = os.urandom(11 * MIB)
    digest = sha256(data)
    uid = _multipart(direct, data)
    stale = direct.meta.get_upload(uid)  # B reads the session
    assert _close(direct, direct.meta.get_upload(uid), digest) == digest  # A: complete, hash, copy, link
    assert _close(direct, stale, digest) == digest  # B finds the multipart upload gone
    assert _linked(direct, digest, data) and direct.meta.get_upload(uid) is None


def test_a_close_hashing_while_another_committed(direct, monkeypatch):
    """The CI flake: B was to read the staged object that A had just promoted and deleted."""
    data = os.urandom(11 * MIB)
    digest = sha256(data)
    uid = _multipart(direct, data)
    fast = dataclasses.replace(direct.settings, direct_verify_seconds=0)
    first = DirectUploads(direct.meta, direct.blobs, fast).close(direct.meta.get_upload(uid), digest, b"")
    assert isinstance(first, UploadSession)  # completed, hashing started: 202
    stale = direct.meta.get_upload(uid)
    assert stale.direct_state == "verifying"
    assert _close(direct, direct.meta.get_upload(uid), digest) == digest  # A finishes
    assert _close(direct, stale, digest) == digest  # B: its GetObject finds no object
    assert _linked(direct, digest, data)
    assert direct.meta.verifying(REPO, [digest]) == []


def test_a_close_whose_progress_save_lost(direct):
    """B hashed a slice but A saved first: B answers from A's progress (202), marks nothing."""
    data = os.urandom(11 * MIB)
    digest = sha256(data)
    uid = _multipart(direct, data)
    fast = DirectUploads(direct.meta, direct.blobs, dataclasses.replace(direct.settings, direct_verify_seconds=0))
    fast.close(direct.meta.get_upload(uid), digest, b"")
    stale = direct.meta.get_upload(uid)
    assert isinstance(fast.close(direct.meta.get_upload(uid), digest, b""), UploadSession)  # A: a slice
    out = fast.close(stale, digest, b"")  # B: its save is refused
    assert isinstance(out, UploadSession) and out.offset >= stale.offset
    assert _close(direct, direct.meta.get_upload(uid), digest) == digest
    assert _linked(direct, digest, data)


def test_a_single_put_close_after_another_committed(direct):
    data = os.urandom(MIB)
    digest = sha256(data)
    uid = _open(direct)
    direct.plan(REPO, uid, f'{{"size": {len(data)}, "digest": "{digest}"}}'.encode())
    key = keys.upload_data_key(uid)
    import base64

    with direct.blobs._lock:  # what S3 stores for a checked PUT: the bytes and their SHA-256
        direct.blobs._objects[key] = (data, base64.b64encode(hashlib.sha256(data).digest()).decode())
    stale = direct.meta.get_upload(uid)
    assert _close(direct, direct.meta.get_upload(uid), digest) == digest
    assert _close(direct, stale, digest) == digest  # HeadObject finds nothing: the blob is linked
    assert _linked(direct, digest, data)


def test_a_large_copy_after_another_committed(direct, monkeypatch):
    """Above COPY_ONE_CALL the copy goes part by part; B's UploadPartCopy finds no source."""
    monkeypatch.setattr(direct_close, "COPY_ONE_CALL", 5 * MIB)
    monkeypatch.setattr(direct_close, "COPY_PART", 5 * MIB)
    monkeypatch.setattr(direct_close, "COPY_MARGIN_S", 0.0)
    data = os.urandom(11 * MIB)
    digest = sha256(data)
    uid = _multipart(direct, data)
    fast = DirectUploads(direct.meta, direct.blobs, dataclasses.replace(direct.settings, direct_verify_seconds=0))
    out = fast.close(direct.meta.get_upload(uid), digest, b"")
    while isinstance(out, UploadSession) and not out.copy_parts:  # one slice per call
        out = fast.close(direct.meta.get_upload(uid), digest, b"")
    stale = direct.meta.get_upload(uid)
    assert stale is not None and stale.direct_state == "copying"
    while not isinstance(out, str):
        out = fast.close(direct.meta.get_upload(uid), digest, b"")
    assert _close(direct, stale, digest) == digest
    assert _linked(direct, digest, data)


def test_a_close_after_another_refused_the_bytes(direct):
    """A proves the bytes wrong and discards the session: B gets 404, nothing is visible."""
    data = os.urandom(11 * MIB)
    wrong = sha256(data + b"x")
    uid = _multipart(direct, data)
    stale = direct.meta.get_upload(uid)
    with pytest.raises(RegistryError) as a:
        _close(direct, direct.meta.get_upload(uid), wrong)
    assert a.value.code == "DIGEST_INVALID"
    with pytest.raises(RegistryError) as b:
        _close(direct, stale, wrong)
    assert b.value.code == "BLOB_UPLOAD_UNKNOWN"
    assert direct.meta.get_blob_link(REPO, wrong) is None
    assert direct.blobs.size(keys.upload_data_key(uid)) is None


def _in_place(d: DirectUploads, data: bytes, digest: str, part: int = 5 * MIB) -> str:
    """A session planned with its digest (so at the blob's key) whose parts the fake holds."""
    upload_id = _open(d)
    d.plan(REPO, upload_id, f'{{"size": {len(data)}, "digest": "{digest}", "partSize": {part}}}'.encode())
    s = d.meta.get_upload(upload_id)
    assert s.direct == "multipart" and s.direct_key == keys.blob_key(digest)
    for n, i in enumerate(range(0, len(data), part), 1):
        d.blobs.upload_part(s.direct_key, s.mpu_id, n, data[i:i + part])
    return upload_id


@pytest.fixture
def in_place(direct) -> DirectUploads:
    return DirectUploads(direct.meta, direct.blobs, dataclasses.replace(direct.settings, direct_put_max=MIB))


def test_in_place_a_stale_close_after_the_commit(in_place):
    data = os.urandom(11 * MIB)
    digest = sha256(data)
    uid = _in_place(in_place, data, digest)
    stale = in_place.meta.get_upload(uid)
    assert _close(in_place, in_place.meta.get_upload(uid), digest) == digest
    assert _close(in_place, stale, digest) == digest
    assert _linked(in_place, digest, data)
    assert in_place.blobs.size(keys.upload_data_key(uid)) is None  # nothing was staged


def test_in_place_a_refusal_deletes_only_its_own_object(in_place):
    """The refused object is deleted by its ETag: had a proven writer replaced it meanwhile
    (a chunked push of the same digest), that blob stays."""
    data = os.urandom(11 * MIB)
    claimed = sha256(os.urandom(11 * MIB))
    uid = _in_place(in_place, data, claimed)
    fast = DirectUploads(in_place.meta, in_place.blobs,
                         dataclasses.replace(in_place.settings, direct_verify_seconds=0))
    assert isinstance(fast.close(in_place.meta.get_upload(uid), claimed, b""), UploadSession)  # completed
    proven = b"the proven bytes of another push"
    in_place.blobs.put(keys.blob_key(claimed), proven)  # replaced under the verifying session
    with pytest.raises(RegistryError) as err:
        _close(in_place, in_place.meta.get_upload(uid), claimed)
    assert err.value.code in ("DIGEST_INVALID", "SIZE_INVALID")
    assert in_place.blobs.get(keys.blob_key(claimed)) == proven


def test_in_place_other_parts_never_replace_the_object_there(in_place):
    data = os.urandom(11 * MIB)
    digest = sha256(data)
    first = _in_place(in_place, data, digest)
    second = _in_place(in_place, data[:-1] + bytes([data[-1] ^ 1]), digest)
    assert _close(in_place, in_place.meta.get_upload(first), digest) == digest
    with pytest.raises(RegistryError) as err:
        _close(in_place, in_place.meta.get_upload(second), digest)
    assert err.value.code == "BLOB_UPLOAD_INVALID" and err.value.detail["pushAgain"] is True
    assert _linked(in_place, digest, data) and in_place.meta.get_upload(second) is None
