"""The orphan sweep (domain/gc_sweep.py) as a use case on the in-memory fakes: objects
under blobs/ that no blob record names go once older than max(grace, upload TTL); a
recorded blob, a young object and a key that is not a blob's stay."""
from __future__ import annotations

import time

import pytest

from chalicelib.domain.gc import GarbageCollector
from chalicelib.storage import keys
from chalicelib.storage.gc_ports import BlobCollected
from chalicelib.storage.memory import MemoryMetadataStore
from chalicelib.storage.memory_blobs import MemoryBlobStore
from chalicelib.storage.memory_gc import MemoryGcStore
from chalicelib.storage.ports import ManifestRecord
from support import sha256

TTL = 3600
MT = "application/vnd.oci.image.manifest.v1+json"


def _setup() -> tuple[MemoryMetadataStore, MemoryBlobStore, list[float], GarbageCollector]:
    meta, blobs = MemoryMetadataStore(), MemoryBlobStore()
    now = [time.time()]
    return meta, blobs, now, GarbageCollector(MemoryGcStore(meta), blobs, clock=lambda: now[0], upload_ttl=TTL)


def test_sweep_deletes_only_old_unrecorded_blob_objects():
    meta, blobs, now, gc = _setup()
    orphan, kept = sha256(b"orphan"), sha256(b"kept")
    written = time.time() - 1
    blobs.put(keys.blob_key(orphan), b"orphan")
    blobs.put(keys.blob_key(kept), b"kept")
    assert meta.link_blob("acme/app", kept, 4, keys.blob_key(kept), written)
    body = b'{"seed": "kept"}'
    meta.put_manifest(ManifestRecord(repo="acme/app", digest=sha256(body), media_type=MT, size=len(body), body=body),
                      "v1", [kept], [])   # referenced: the collection keeps it too
    blobs.put("blobs/not-a-blob", b"x")

    now[0] = time.time() + TTL - 60                       # younger than the upload TTL
    assert gc.run(0, sweep=True)["orphans"] == 0
    now[0] = time.time() + TTL + 60
    assert "orphans" not in gc.run(0, dry_run=True)       # no sweep unless asked
    dry = gc.run(0, dry_run=True, sweep=True)
    assert (dry["orphans"], dry["orphanBytes"]) == (1, 6) and blobs.size(keys.blob_key(orphan)) == 6
    done = gc.run(0, sweep=True)
    assert (done["orphans"], done["orphanBytes"], done["skipped"]) == (1, 6, 0)
    assert blobs.size(keys.blob_key(orphan)) is None
    assert blobs.size(keys.blob_key(kept)) == 4 and blobs.size("blobs/not-a-blob") == 1
    # one listing page and one DeleteObject; two candidate Queries, one BatchGetItem, the claim, the tombstone
    assert done["awsCalls"] == {"s3": 2, "dynamodb": 5}
    with pytest.raises(BlobCollected):   # a late close of the abandoned upload: push again
        meta.link_blob("acme/app", orphan, 6, keys.blob_key(orphan), written)
    assert gc.run(0, sweep=True)["orphans"] == 0


def test_grace_longer_than_the_upload_ttl_holds_the_sweep_back():
    _, blobs, now, gc = _setup()
    d = sha256(b"late")
    blobs.put(keys.blob_key(d), b"late")
    now[0] = time.time() + TTL + 60
    assert gc.run(2 * TTL, sweep=True)["orphans"] == 0
    now[0] = time.time() + 2 * TTL + 60
    assert gc.run(2 * TTL, sweep=True)["orphans"] == 1
