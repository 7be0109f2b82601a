"""An upload whose first body is a part or more (only the local server gets such bodies):
staged as one object (no multipart upload unless more bytes follow), SHA-512 not tracked
while receiving but computed from the stored bytes if the closing PUT names sha512; every
other upload keeps both hashes and its parts. Use cases on the port fakes."""
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
from support import sha256

MIB = 1024 * 1024
REPO = "team/app"
BIG = bytes(range(256)) * (6 * MIB // 256) + b"odd end"   # over one 5 MiB part


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


class CountingBlobs(MemoryBlobStore):
    """The fake, counting the ranged reads (the stored bytes read back)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = self.multipart = 0

    def read_range(self, key: str, start: int, length: int):
        self.reads += 1
        return super().read_range(key, start, length)

    def create_multipart(self, key: str) -> str:
        self.multipart += 1
        return super().create_multipart(key)

    def leftovers(self) -> list[str]:
        return [k for k in self._objects if k.startswith("uploads/")]


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
    assert reg.blobs.leftovers() == [] and reg.blobs.multipart == 0           # one object, copied
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
    assert reg.blobs.leftovers() == []
    with pytest.raises(RegistryError, match="^BLOB_UPLOAD_UNKNOWN:"):
        reg.upload_status(REPO, up.upload_id)


def test_more_chunks_and_a_last_body_after_the_big_one(reg):
    data = BIG + b"more" * 1000 + b"last"
    up = reg.start_upload(REPO)
    reg.patch_upload(REPO, up.upload_id, BIG)
    reg.patch_upload(REPO, up.upload_id, b"more" * 1000)
    assert reg.finish_upload(REPO, up.upload_id, sha512(data), b"last") == sha512(data)
    assert reg.blobs.get(reg.stat_blob(REPO, sha512(data)).s3_key) == data
    assert reg.blobs.multipart == 1 and reg.blobs.leftovers() == []


@pytest.mark.parametrize("last", [b"", b"the last body"])
def test_a_big_body_then_a_big_one_and_the_close(reg, last):
    data = BIG + BIG[::-1] + last
    up = reg.start_upload(REPO)
    reg.patch_upload(REPO, up.upload_id, BIG)
    reg.patch_upload(REPO, up.upload_id, BIG[::-1])         # staged body copied as part 1, this as part 2
    assert len(reg.meta.get_upload(up.upload_id).parts) == 2
    assert reg.finish_upload(REPO, up.upload_id, sha256(data), last) == sha256(data)
    assert reg.blobs.get(reg.stat_blob(REPO, sha256(data)).s3_key) == data
    assert reg.blobs.leftovers() == []


def test_a_big_body_and_a_last_body_in_the_close(reg):
    up = reg.start_upload(REPO)
    reg.patch_upload(REPO, up.upload_id, BIG)
    assert reg.finish_upload(REPO, up.upload_id, sha512(BIG + b"tail"), b"tail") == sha512(BIG + b"tail")
    assert reg.blobs.get(reg.stat_blob(REPO, sha512(BIG + b"tail")).s3_key) == BIG + b"tail"
    assert reg.blobs.leftovers() == []


def test_a_concurrent_first_body_that_loses_never_replaces_the_winners_bytes(reg):
    up = reg.start_upload(REPO)
    loser = reg.meta.get_upload(up.upload_id)                 # read before the winner saved
    reg.patch_upload(REPO, up.upload_id, BIG)
    with pytest.raises(RegistryError, match="^BLOB_UPLOAD_INVALID:"):
        reg._append(loser, BIG[::-1])                          # its write lands after the winner's
    assert reg.finish_upload(REPO, up.upload_id, sha256(BIG)) == sha256(BIG)
    assert reg.blobs.get(reg.stat_blob(REPO, sha256(BIG)).s3_key) == BIG


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
