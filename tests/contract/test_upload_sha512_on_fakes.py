"""SHA-512 of an upload whose first body is a part or more (only the local server gets such
bodies): not tracked while receiving, computed from the stored bytes if the closing PUT
names sha512; every other upload keeps both hashes. Use cases on the port fakes."""
from __future__ import annotations

import hashlib

import pytest

from chalicelib.config import Settings
from chalicelib.domain.registry import Registry
from chalicelib.domain.resumable_hash import ResumableHash
from chalicelib.oci.errors import RegistryError
from chalicelib.storage import keys
from chalicelib.storage.memory import MemoryMetadataStore, MemoryState
from chalicelib.storage.memory_blobs import MemoryBlobStore

MIB = 1024 * 1024
REPO = "team/app"
BIG = bytes(range(256)) * (6 * MIB // 256) + b"odd end"   # over one 5 MiB part


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class CountingBlobs(MemoryBlobStore):
    """The fake, counting the ranged reads (the stored bytes read back)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read_range(self, key: str, start: int, length: int):
        self.reads += 1
        return super().read_range(key, start, length)


@pytest.fixture
def reg() -> Registry:
    return Registry(MemoryMetadataStore(MemoryState()), CountingBlobs(), Settings())


def _tracks_sha512(reg: Registry, upload_id: str) -> bool:
    return ResumableHash(reg.meta.get_upload(upload_id).hash_state).tracks("sha512")


def test_one_big_body_closes_with_sha512_from_the_stored_bytes(reg):
    up = reg.start_upload(REPO)
    reg.patch_upload(REPO, up.upload_id, BIG)
    assert not _tracks_sha512(reg, up.upload_id)
    assert reg.finish_upload(REPO, up.upload_id, sha512(BIG)) == sha512(BIG)
    assert reg.blobs.reads == 1
    link = reg.stat_blob(REPO, sha512(BIG))
    assert link.size == len(BIG) and reg.blobs.get(link.s3_key) == BIG
    assert reg.blobs.size(keys.upload_data_key(up.upload_id)) is None      # staging object gone
    with pytest.raises(RegistryError, match="^BLOB_UPLOAD_UNKNOWN:"):
        reg.upload_status(REPO, up.upload_id)


def test_a_wrong_sha512_leaves_nothing(reg):
    up = reg.start_upload(REPO)
    reg.patch_upload(REPO, up.upload_id, BIG)
    wrong = sha512(BIG + b"!")
    with pytest.raises(RegistryError, match="^DIGEST_INVALID:") as err:
        reg.finish_upload(REPO, up.upload_id, wrong)
    assert err.value.detail["actual"] == sha512(BIG)
    with pytest.raises(RegistryError, match="^BLOB_UNKNOWN:"):
        reg.stat_blob(REPO, wrong)
    assert reg.blobs.size(keys.blob_key(wrong)) is None
    assert reg.blobs.size(keys.upload_data_key(up.upload_id)) is None
    with pytest.raises(RegistryError, match="^BLOB_UPLOAD_UNKNOWN:"):
        reg.upload_status(REPO, up.upload_id)


def test_more_chunks_and_a_last_body_after_the_big_one(reg):
    data = BIG + b"more" * 1000 + b"last"
    up = reg.start_upload(REPO)
    reg.patch_upload(REPO, up.upload_id, BIG)
    reg.patch_upload(REPO, up.upload_id, b"more" * 1000)
    assert reg.finish_upload(REPO, up.upload_id, sha512(data), b"last") == sha512(data)
    assert reg.blobs.get(reg.stat_blob(REPO, sha512(data)).s3_key) == data


def test_sha256_closes_never_read_back(reg):
    up = reg.start_upload(REPO)
    reg.patch_upload(REPO, up.upload_id, BIG)
    assert reg.finish_upload(REPO, up.upload_id, sha256(BIG)) == sha256(BIG)
    assert reg.blobs.reads == 0


@pytest.mark.parametrize("first", [b"small first chunk", bytes(4 * MIB)])
def test_chunks_that_fit_a_lambda_event_keep_both_hashes(reg, first):
    data = first + BIG
    up = reg.start_upload(REPO)
    reg.patch_upload(REPO, up.upload_id, first)
    reg.patch_upload(REPO, up.upload_id, BIG)                 # a part or more, but not the first body
    assert _tracks_sha512(reg, up.upload_id)
    assert reg.finish_upload(REPO, up.upload_id, sha512(data)) == sha512(data)
    assert reg.blobs.reads == 0


def test_states_saved_before_this_change_still_resume():
    h = ResumableHash()
    h.update(b"abc")
    resumed = ResumableHash(h.state())
    assert resumed.tracks("sha512") and resumed.digest("sha512") == sha512(b"abc")
    h.drop_sha512()
    dropped = ResumableHash(h.state())
    assert not dropped.tracks("sha512") and dropped.digest("sha256") == sha256(b"abc")
