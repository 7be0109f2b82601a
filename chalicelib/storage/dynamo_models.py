"""The DynamoDB table of the MetadataStore adapter: pynamodb models and shared helpers.

All models share the key schema and one connection (one botocore client), so
a cold start builds a single DynamoDB client and never calls DescribeTable.
See keys.py for the item layout; dynamo.py for the store built on these.
"""
from __future__ import annotations

import time
from typing import Any, Optional

from pynamodb.attributes import BinaryAttribute, BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.connection import Connection, TableConnection
from pynamodb.exceptions import DeleteError, PutError, TableError, UpdateError
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from . import keys
from .dynamo_tx import is_condition_failure, reasons
from .ports import TagWrite

_CONFLICT_RETRIES = 4


class _ReferrersIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "referrers"
        projection = IncludeProjection(["digest", "media_type", "size", "artifact_type", "annotations"])

    gsi1pk = UnicodeAttribute(hash_key=True, attr_name="GSI1PK")
    gsi1sk = UnicodeAttribute(range_key=True, attr_name="GSI1SK")


class _CatalogIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "catalog"
        projection = IncludeProjection(["public"])

    gsi2pk = UnicodeAttribute(hash_key=True, attr_name="GSI2PK")
    gsi2sk = UnicodeAttribute(range_key=True, attr_name="GSI2SK")


class _GarbageIndex(GlobalSecondaryIndex):
    """Sparse: only garbage candidates carry GCPK (storage/gc_ports.py)."""

    class Meta:
        index_name = "garbage"
        projection = IncludeProjection(["size", "s3_key", "mrefs", "refs", "counted"])

    gcpk = UnicodeAttribute(hash_key=True, attr_name="GCPK")
    gcat = NumberAttribute(range_key=True, attr_name="GCAT")


GC_LINK = "GC#LINK"   # GCPK of candidate links
GC_BLOB = "GC#BLOB"   # GCPK of candidate blobs


class Item(Model):
    """Base of every item: the table's keys and indexes, one shared connection."""

    class Meta:
        table_name = "registry"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"

    pk = UnicodeAttribute(hash_key=True, attr_name="PK")
    sk = UnicodeAttribute(range_key=True, attr_name="SK")
    gsi1pk = UnicodeAttribute(null=True, attr_name="GSI1PK")
    gsi1sk = UnicodeAttribute(null=True, attr_name="GSI1SK")
    gsi2pk = UnicodeAttribute(null=True, attr_name="GSI2PK")
    gsi2sk = UnicodeAttribute(null=True, attr_name="GSI2SK")
    gcpk = UnicodeAttribute(null=True, attr_name="GCPK")
    gcat = NumberAttribute(null=True, attr_name="GCAT")
    referrers_index = _ReferrersIndex()
    catalog_index = _CatalogIndex()
    garbage_index = _GarbageIndex()

    @classmethod
    def _get_connection(cls) -> TableConnection:
        # Subclasses reuse the base's connection instead of building their own client.
        if cls is not Item:
            return Item._get_connection()
        return super()._get_connection()


class RepoItem(Item):
    created = NumberAttribute(null=True)
    public = BooleanAttribute(null=True)
    pushed = NumberAttribute(null=True)  # last manifest push (epoch seconds; web UI)
    tag_policy = UnicodeAttribute(null=True)  # JSON (domain/tag_policy.py)
    policy_rev = NumberAttribute(null=True)   # bumped by every policy change; tag writes check it
    # Bytes of the blobs linked in the repository: the link transaction adds a blob's size,
    # unlinking subtracts it. Complete only when `counted` (the first write that kept it)
    # equals `created`; repositories created before it existed show no size.
    stored = NumberAttribute(null=True)
    counted = NumberAttribute(null=True)


class AccountItem(Item):
    """USER#<name>/META (user or robot) and USER#<name>/GRANT#... (its roles)."""

    password_hash = UnicodeAttribute(null=True)
    admin = BooleanAttribute(null=True)
    robot_namespace = UnicodeAttribute(null=True)
    revoked = BooleanAttribute(null=True)
    generation = NumberAttribute(null=True)  # bumped by every credential change (refresh tokens)
    role = UnicodeAttribute(null=True)
    created = NumberAttribute(null=True)


class NamespaceItem(Item):
    owner = UnicodeAttribute(null=True)
    created = NumberAttribute(null=True)


class ThrottleItem(Item):
    failures = NumberAttribute(null=True)
    expires = NumberAttribute(null=True)


class TagItem(Item):
    digest = UnicodeAttribute(null=True)
    media_type = UnicodeAttribute(null=True)
    size = NumberAttribute(null=True)
    body = BinaryAttribute(null=True, legacy_encoding=False)
    s3_key = UnicodeAttribute(null=True)
    pushed = NumberAttribute(null=True)  # when the tag was last pushed (epoch seconds; web UI)
    expires_at = NumberAttribute(null=True)  # tag expiry (epoch seconds); reads filter, the run deletes


class ManifestItem(TagItem):
    subject = UnicodeAttribute(null=True)
    artifact_type = UnicodeAttribute(null=True)
    annotations = UnicodeAttribute(null=True)  # JSON object
    # Refcounts (gc_ports.py): set when the put added a reference to each link in `blob_refs`
    # (JSON list); absent on conversions and manifests pushed before refcounts.
    counted = BooleanAttribute(null=True)
    blob_refs = UnicodeAttribute(null=True, attr_name="blobs")
    # New on every put: a delete goes through only if no put (a new tag) came after its reads.
    rev = UnicodeAttribute(null=True)


class BlobLinkItem(Item):
    size = NumberAttribute(null=True)
    s3_key = UnicodeAttribute(null=True)
    mrefs = NumberAttribute(null=True)      # manifests of the repository referencing it
    counted = BooleanAttribute(null=True)   # absent on links made before refcounts: never collected


class BlobItem(BlobLinkItem):
    refs = NumberAttribute(null=True)       # repositories linking it
    collecting = NumberAttribute(null=True)  # claimed by a collection at (domain/gc.py)
    gone = NumberAttribute(null=True)       # tombstone: bytes deleted at
    expires = NumberAttribute(null=True)    # TTL of the tombstone


class QuotaItem(Item):
    """QUOTA#<ns>/META. `room` and `soft_room` are the limits minus `stored`, kept by the same
    updates (a huge number while no limit is set), so a condition can compare one attribute."""

    quota = NumberAttribute(null=True)
    soft = NumberAttribute(null=True)
    stored = NumberAttribute(null=True)
    room = NumberAttribute(null=True)
    soft_room = NumberAttribute(null=True)


class StorageDayItem(Item):
    """QUOTA#<ns>/DAY#<yyyy-mm-dd>: the day's changes of the namespace's stored bytes (StorageDay)."""

    bytes = NumberAttribute(null=True)
    weighted = NumberAttribute(null=True)


class NsBlobItem(Item):
    """QUOTA#<ns>/BLOB#<digest>: the namespace's links to a blob (its size counted once)."""

    nrefs = NumberAttribute(null=True)
    size = NumberAttribute(null=True)


class V1ImageItem(Item):
    layer = UnicodeAttribute(null=True)
    size = NumberAttribute(null=True)
    v1_json = UnicodeAttribute(null=True)
    ancestry = UnicodeAttribute(null=True)  # JSON list of ids, this image first


class UploadItem(Item):
    repo = UnicodeAttribute(null=True)
    offset = NumberAttribute(null=True)
    hash_state = BinaryAttribute(null=True, legacy_encoding=False)
    mpu_id = UnicodeAttribute(null=True)
    parts = UnicodeAttribute(null=True)  # JSON [[number, etag], ...]
    tail_key = UnicodeAttribute(null=True)
    tail_size = NumberAttribute(null=True)
    tail_inline = BinaryAttribute(null=True, legacy_encoding=False)
    expires = NumberAttribute(null=True)  # DynamoDB TTL attribute (epoch seconds)
    # direct-to-S3 uploads (see UploadSession)
    direct = UnicodeAttribute(null=True)
    direct_size = NumberAttribute(null=True)
    direct_digest = UnicodeAttribute(null=True)
    part_size = NumberAttribute(null=True)
    direct_state = UnicodeAttribute(null=True)
    verify_state = BinaryAttribute(null=True, legacy_encoding=False)
    copy_mpu_id = UnicodeAttribute(null=True)
    copy_parts = UnicodeAttribute(null=True)  # JSON [[number, etag], ...]
    direct_key = UnicodeAttribute(null=True)
    direct_etag = UnicodeAttribute(null=True)


class VerifyingItem(Item):
    """BLOB#<digest>/VERIFYING#<repo>: a direct upload of the blob is being verified."""

    upload_id = UnicodeAttribute(null=True)
    expires = NumberAttribute(null=True)


class ExpiryItem(Item):
    """TAGEXPIRY/<expires>#<repo>#<tag>: the expiry index (keys.py)."""

    repo = UnicodeAttribute(null=True)
    tag = UnicodeAttribute(null=True)
    digest = UnicodeAttribute(null=True)


def bind(table_name: str, region: str) -> None:
    """Point every model at `table_name` (once per container: chalicelib/container)."""
    Item.Meta.table_name = table_name
    Item.Meta.region = region
    Item._connection = None


def create_table(client: Any) -> None:
    """Create the table with its indexes and TTL (local server and tests)."""
    if not Item.exists():
        try:
            Item.create_table(wait=True)
        except TableError as exc:  # created meanwhile by another process starting on the same endpoint
            if exc.cause_response_code != "ResourceInUseException":
                raise
            Item.create_table(wait=True)  # it exists now: this only waits until it is ACTIVE
    client.update_time_to_live(
        TableName=Item.Meta.table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
    )


def _connection() -> Connection:
    return Item._get_connection().connection


_reasons = reasons   # the name this module's callers use


def policy_condition(rev: Optional[int]) -> Any:
    """The repository item's policy is still at revision `rev` (None: never set)."""
    return RepoItem.policy_rev.does_not_exist() if rev is None else RepoItem.policy_rev == rev


def touch_repo(t: TransactWrite, repo: str, tag_write: Optional[TagWrite] = None, stored: int = 0) -> None:
    """Create or refresh the repository item in transaction `t` (catalog entry, push time,
    stored bytes), conditional on the tag policy revision when `tag_write` carries one."""
    now = int(time.time())
    t.update(
        RepoItem(keys.repo_pk(repo), keys.REPO_META_SK),
        actions=[
            RepoItem.created.set(RepoItem.created | now),
            RepoItem.counted.set(RepoItem.counted | now),
            RepoItem.pushed.set(now),
            RepoItem.gsi2pk.set(keys.CATALOG_PK),
            RepoItem.gsi2sk.set(repo),
        ] + ([RepoItem.stored.add(stored)] if stored else []),
        condition=policy_condition(tag_write.policy_rev) if tag_write is not None else None,
    )


def catalog_page(n: int, last: Optional[str]) -> tuple[list[tuple[str, bool]], bool]:
    """Up to `n` (name, public) pairs after `last` from the catalog index, and whether more follow."""
    cond = RepoItem.gsi2sk > last if last else None
    out = [(it.gsi2sk, bool(it.public))
           for it in RepoItem.query(keys.CATALOG_PK, cond, index_name="catalog", limit=n + 1)]
    return out[:n], len(out) > n


def conditional(write: Any) -> bool:
    """Run a conditional write; False (not an error) when its condition failed."""
    try:
        write()
        return True
    except (PutError, UpdateError, DeleteError) as err:
        if is_condition_failure(err):
            return False
        raise
