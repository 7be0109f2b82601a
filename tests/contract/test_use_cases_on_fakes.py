"""The use cases built directly on the port fakes: no server, no emulator, milliseconds.

The contract suite (test_contract_*.py) holds the fakes to the adapters'
behaviour, so these checks of `Registry` and `Accounts` logic stand for the
same checks over HTTP; tests/integration keeps the protocol (status codes,
headers, clients).
"""
from __future__ import annotations

import json

import pytest

from chalicelib.config import Settings
from chalicelib.domain.accounts import Accounts
from chalicelib.oci.errors import RegistryError
from chalicelib.domain.registry import Registry
from chalicelib.storage.memory import MemoryMetadataStore, MemoryState
from chalicelib.storage.memory_accounts import MemoryAccountStore
from chalicelib.storage.memory_blobs import MemoryBlobStore
from support import sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MIB = 1024 * 1024


@pytest.fixture
def stores():
    state = MemoryState()
    return MemoryMetadataStore(state), MemoryBlobStore(), MemoryAccountStore(state)


@pytest.fixture
def reg(stores) -> Registry:
    meta, blobs, _ = stores
    return Registry(meta, blobs, Settings())


def _errors(code: str):
    return pytest.raises(RegistryError, match=f"^{code}:")


def _image(reg: Registry, repo: str, seed: str = "x") -> tuple[bytes, list[str]]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = f"layer {seed}".encode() * 100
    for blob in (config, layer):
        assert reg.start_upload(repo, digest=sha256(blob), body=blob).digest == sha256(blob)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": sha256(config), "size": len(config)},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": sha256(layer), "size": len(layer)}]}
    return json.dumps(doc).encode(), [sha256(config), sha256(layer)]


def test_manifest_push_and_pull(reg):
    body, _ = _image(reg, "team/app")
    digest, subject = reg.put_manifest("team/app", "v1", OCI_MANIFEST, body)
    assert (digest, subject) == (sha256(body), None)
    for ref in ("v1", digest):
        got = reg.get_manifest("team/app", ref)
        assert (got.digest, got.media_type, got.body) == (digest, OCI_MANIFEST, body)
    assert reg.list_tags("team/app", None, None).items == ["v1"]
    assert reg.catalog(None, None).items == ["team/app"]
    with _errors("MANIFEST_UNKNOWN"):
        reg.get_manifest("team/app", "v2")


def test_manifest_with_missing_blob_writes_nothing(reg):
    body, blobs = _image(reg, "team/src")
    with _errors("MANIFEST_BLOB_UNKNOWN") as err:
        reg.put_manifest("team/other", "v1", OCI_MANIFEST, body)
    assert sorted(err.value.detail["blobs"]) == sorted(blobs)
    assert not reg.meta.repo_exists("team/other")
    with _errors("MANIFEST_UNKNOWN"):
        reg.get_manifest("team/other", "v1")


def test_chunked_upload_state_machine(reg):
    data = bytes(range(256)) * (6 * MIB // 256) + b"end"
    first, second, last = data[:1000], data[1000:6 * MIB], data[6 * MIB:]
    up = reg.start_upload("team/app")
    assert up.offset == 0 and up.upload_id
    assert reg.patch_upload("team/app", up.upload_id, first, "0-999").offset == 1000
    with _errors("BLOB_UPLOAD_INVALID") as err:              # a chunk that does not start at 1000
        reg.patch_upload("team/app", up.upload_id, second, "5-10")
    assert (err.value.status, err.value.headers["Range"]) == (416, "0-999")
    assert reg.upload_status("team/app", up.upload_id).offset == 1000
    assert reg.patch_upload("team/app", up.upload_id, second).offset == 6 * MIB   # a 5 MiB part went out
    assert reg.meta.get_upload(up.upload_id).mpu_id is not None
    assert reg.finish_upload("team/app", up.upload_id, sha256(data), last) == sha256(data)
    link = reg.stat_blob("team/app", sha256(data))
    assert link.size == len(data) and reg.blobs.get(link.s3_key) == data
    with _errors("BLOB_UPLOAD_UNKNOWN"):                     # the session is gone
        reg.upload_status("team/app", up.upload_id)
    with _errors("BLOB_UPLOAD_UNKNOWN"):                     # and belongs to its repository only
        reg.upload_status("team/else", reg.start_upload("team/app").upload_id)


def test_upload_with_the_wrong_digest_is_discarded(reg):
    up = reg.start_upload("team/app")
    reg.patch_upload("team/app", up.upload_id, b"some bytes")
    with _errors("DIGEST_INVALID"):
        reg.finish_upload("team/app", up.upload_id, sha256(b"other bytes"))
    with _errors("BLOB_UPLOAD_UNKNOWN"):
        reg.upload_status("team/app", up.upload_id)
    with _errors("BLOB_UNKNOWN"):
        reg.stat_blob("team/app", sha256(b"some bytes"))


def test_cross_repository_mount(reg):
    blob = b"shared layer"
    reg.start_upload("team/a", digest=sha256(blob), body=blob)
    got = reg.start_upload("team/b", mount=sha256(blob), mount_from="team/a")
    assert got.digest == sha256(blob) and got.upload_id is None
    assert reg.stat_blob("team/b", sha256(blob)).size == len(blob)
    # not in the named source: a normal upload session instead
    miss = reg.start_upload("team/c", mount=sha256(b"nowhere"), mount_from="team/a")
    assert miss.digest is None and miss.upload_id
    # without `from`, only the caller's readable repositories are searched
    assert reg.start_upload("team/d", mount=sha256(blob), mount_candidates=["team/x"]).digest is None
    assert reg.start_upload("team/d", mount=sha256(blob), mount_candidates=["team/b"]).digest == sha256(blob)


def test_delete_manifest_and_blob(reg):
    body, blobs = _image(reg, "team/app")
    digest, _ = reg.put_manifest("team/app", "v1", OCI_MANIFEST, body)
    reg.put_manifest("team/app", "stable", OCI_MANIFEST, body)
    reg.delete_manifest("team/app", digest)                  # by digest: its tags go too
    assert reg.list_tags("team/app", None, None).items == []
    with _errors("MANIFEST_UNKNOWN"):
        reg.delete_manifest("team/app", digest)
    with _errors("MANIFEST_UNKNOWN"):
        reg.delete_manifest("team/app", "v1")
    reg.delete_blob("team/app", blobs[1])
    with _errors("BLOB_UNKNOWN"):
        reg.delete_blob("team/app", blobs[1])
    with _errors("MANIFEST_BLOB_UNKNOWN"):                   # the manifest needs it again
        reg.put_manifest("team/app", "v1", OCI_MANIFEST, body)


def test_accounts_first_admin_login_and_throttle(stores):
    accounts = Accounts(stores[2])
    accounts.create_first_admin("root", "a-long-password")
    with _errors("DENIED"):
        accounts.create_first_admin("other", "a-long-password")
    assert accounts.login("root", "a-long-password", "10.0.0.1").admin
    codes = []
    for _ in range(60):
        try:
            accounts.login("root", "wrong-password", "10.0.0.2")
        except RegistryError as err:
            codes.append(err.code)
            if err.code == "TOOMANYREQUESTS":
                break
    assert codes[0] == "UNAUTHORIZED" and codes[-1] == "TOOMANYREQUESTS"
    with _errors("TOOMANYREQUESTS"):                          # even the right password, for a while
        accounts.login("root", "a-long-password", "10.0.0.3")


def test_ensure_admin_lost_to_a_concurrent_start_says_so(stores):
    """Two servers starting at once both find no admin; the one whose create loses says it
    did not create it (its generated password is not the one that works)."""
    store = stores[2]
    Accounts(store).ensure_admin("root", "first-password")
    real_get = store.get_account
    store.get_account = lambda name: None  # type: ignore[method-assign]  # read before the other's write
    try:
        assert Accounts(store).ensure_admin("root", "second-password") is False
    finally:
        store.get_account = real_get  # type: ignore[method-assign]
    assert Accounts(store).login("root", "first-password", "10.0.0.9").admin


def test_upload_session_expires_without_waiting():
    """The fake's clock moves a day on: the session reads as absent, as DynamoDB's TTL filter makes it."""
    import time

    now = [time.time()]
    reg = Registry(MemoryMetadataStore(clock=lambda: now[0]), MemoryBlobStore(), Settings(upload_ttl=3600))
    up = reg.start_upload("team/app")
    reg.patch_upload("team/app", up.upload_id, b"abc")
    now[0] += 3599
    assert reg.upload_status("team/app", up.upload_id).offset == 3
    now[0] += 2
    with _errors("BLOB_UPLOAD_UNKNOWN"):
        reg.upload_status("team/app", up.upload_id)
    with _errors("BLOB_UPLOAD_UNKNOWN"):
        reg.finish_upload("team/app", up.upload_id, sha256(b"abc"))


def test_filtered_referrers_read_pages_of_a_hundred_and_at_most_a_thousand(reg, stores):
    meta, _, _ = stores
    repo, config = "team/refs", b"{}"
    reg.start_upload(repo, digest=sha256(config), body=config)
    cfg = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": 2}
    subject, _ = reg.put_manifest(repo, "base", OCI_MANIFEST, json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": []}).encode())

    def refer(kind: str, i: int) -> str:
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": [],
                           "artifactType": kind, "annotations": {"i": str(i)},
                           "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}}).encode()
        return reg.put_manifest(repo, sha256(body), OCI_MANIFEST, body)[0]

    others = [refer("application/x-other", i) for i in range(1200)]
    wanted = refer("application/x-wanted", 0)
    queries = []
    real = meta.referrers

    def counted(*args, **kw):
        queries.append(args)
        return real(*args, **kw)

    meta.referrers = counted
    # n=1 over 1,201 records, one matching: Queries of 100 records, not of one, and at most
    # 10 of them (1,000 records) per request; a Link goes on from where it stopped
    found, cursor, requests = [], None, 0
    while not found:
        before = len(queries)
        index, cursor = reg.referrers(repo, subject, "application/x-wanted", n=1, last=cursor)
        requests += 1
        assert len(queries) - before <= 10
        found = index["manifests"]
        assert found or cursor is not None
    assert [m["digest"] for m in found] == [wanted] and len(queries) <= 14 and requests <= 2
    assert all(q[2] == 100 for q in queries) and len(others) == 1200


def test_references_are_capped_and_a_long_missing_list_is_cut(reg):
    from chalicelib.domain.registry_manifests import MAX_MISSING_NAMED, MAX_REFERENCES

    repo, config = "team/many", b"{}"
    reg.start_upload(repo, digest=sha256(config), body=config)
    cfg = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": 2}

    def manifest(n: int) -> bytes:
        layers = [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(b"%d" % i), "size": 1}
                  for i in range(n)]
        return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": layers}).encode()

    with _errors("MANIFEST_INVALID") as err:
        reg.put_manifest(repo, "big", OCI_MANIFEST, manifest(MAX_REFERENCES))   # + the config
    assert err.value.detail["references"] == MAX_REFERENCES + 1
    with _errors("MANIFEST_BLOB_UNKNOWN") as err:
        reg.put_manifest(repo, "missing", OCI_MANIFEST, manifest(MAX_REFERENCES - 1))
    assert len(err.value.detail["blobs"]) == MAX_MISSING_NAMED
    assert err.value.detail["missingBlobs"] == MAX_REFERENCES - 1
