"""DynamoDB adapter of the MetadataStore port: one table, pynamodb models.

All models share the key schema and one connection (one botocore client), so
a cold start builds a single DynamoDB client and never calls DescribeTable.
Invariants are held by conditional writes and transactions; see keys.py for
the item layout.
"""
from __future__ import annotations

import json
import time
from typing import Any, Optional, Sequence

from pynamodb.attributes import BinaryAttribute, BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from . import keys
from .dynamo_tx import OwnedTransaction, is_condition_failure, reasons, transact
from .gc_ports import CLAIM_SECONDS, SKEW_SECONDS, BlobCollected
from .ports import (BlobLink, ManifestRecord, PartRefused, PolicyChanged, ReferenceMissing, TagImmutable,
                    TagRecord, TagWrite, TransactionPart, UploadSession)

# A transaction holds at most 100 actions; keep room for manifest, tag, repo.
_MAX_CONDITION_CHECKS = 96
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
    def _get_connection(cls):  # type: ignore[override]
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


class VerifyingItem(Item):
    """BLOB#<digest>/VERIFYING#<repo>: a direct upload of the blob is being verified."""

    upload_id = UnicodeAttribute(null=True)
    expires = NumberAttribute(null=True)


def bind(table_name: str, region: str) -> None:
    """Point every model at `table_name` (called once by bootstrap)."""
    Item.Meta.table_name = table_name
    Item.Meta.region = region
    Item._connection = None


def create_table(client: Any) -> None:
    """Create the table with its indexes and TTL (local server and tests)."""
    if not Item.exists():
        Item.create_table(wait=True)
    client.update_time_to_live(
        TableName=Item.Meta.table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
    )


def _connection() -> Connection:
    return Item._get_connection().connection


_reasons = reasons   # the name this module's callers use


class _AlreadyLinked(Exception):
    """link_blob's condition: the repository has the link already."""


def _manifest_record(repo: str, it: ManifestItem) -> ManifestRecord:
    return ManifestRecord(
        repo=repo,
        digest=it.digest,
        media_type=it.media_type,
        size=int(it.size or 0),
        body=it.body,
        s3_key=it.s3_key,
        subject=it.subject,
        artifact_type=it.artifact_type,
        annotations=json.loads(it.annotations) if it.annotations else None,
    )


class DynamoMetadataStore:
    """MetadataStore on one DynamoDB table."""

    # -- manifests and tags -------------------------------------------------
    def get_tag(self, repo: str, tag: str) -> Optional[TagRecord]:
        """One consistent read of the tag item (which carries the manifest)."""
        try:
            it = TagItem.get(keys.repo_pk(repo), keys.tag_sk(tag), consistent_read=True)
        except DoesNotExist:
            return None
        return TagRecord(repo, tag, it.digest, it.media_type, int(it.size or 0), it.body, it.s3_key,
                         int(it.expires_at) if it.expires_at is not None else None)

    def get_manifest(self, repo: str, digest: str) -> Optional[ManifestRecord]:
        """One consistent read of the manifest item."""
        try:
            it = ManifestItem.get(keys.repo_pk(repo), keys.manifest_sk(digest), consistent_read=True)
        except DoesNotExist:
            return None
        return _manifest_record(repo, it)

    def put_manifest(
        self, manifest: ManifestRecord, tag: Optional[str], blobs: list[str], manifests: list[str],
        tag_write: Optional[TagWrite] = None, parts: Sequence[TransactionPart] = (),
    ) -> None:
        """Write manifest, tag and repository in one transaction that also
        checks every referenced blob link and child manifest exists, and, with
        `tag_write`, that the tag policy is unchanged and an immutable tag keeps its digest;
        `parts` (other stores' writes, e.g. a Helm index entry) commit in it too."""
        repo = manifest.repo
        pk = keys.repo_pk(repo)
        checks = [(BlobLinkItem, keys.blob_link_sk(d), d, "blob") for d in dict.fromkeys(blobs)]
        checks += [(ManifestItem, keys.manifest_sk(d), d, "manifest") for d in dict.fromkeys(manifests)
                   if d != manifest.digest]
        room = _MAX_CONDITION_CHECKS - sum(p.ops for p in parts)
        overflow = checks[room:]
        checks = checks[:room]
        if overflow:
            # Beyond one transaction's room: check the rest first, pinning the links for good
            # (a reference never taken back: they are never collected).
            self._check_exist(repo, overflow)
        counted = [d for _, _, d, kind in checks if kind == "blob"]
        item = ManifestItem(
            pk, keys.manifest_sk(manifest.digest), digest=manifest.digest,
            media_type=manifest.media_type, size=manifest.size, body=manifest.body,
            s3_key=manifest.s3_key, subject=manifest.subject,
            artifact_type=manifest.artifact_type,
            annotations=json.dumps(manifest.annotations) if manifest.annotations else None,
            pushed=int(time.time()), counted=True, blob_refs=json.dumps(counted),
        )
        if manifest.subject:
            item.gsi1pk = keys.referrers_pk(repo, manifest.subject)
            item.gsi1sk = manifest.digest
        new = True   # a new manifest adds a reference to each link; a re-put of a counted one does not
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                with OwnedTransaction(connection=_connection()) as t:
                    for i, (model, sk, _, kind) in enumerate(checks):
                        t.owner = ("check", i)   # reasons come back grouped by kind: trace them by owner
                        if new and kind == "blob":
                            t.update(BlobLinkItem(pk, sk), actions=[
                                BlobLinkItem.mrefs.add(1), BlobLinkItem.gcpk.remove(), BlobLinkItem.gcat.remove(),
                            ], condition=BlobLinkItem.pk.exists())
                        else:
                            t.condition_check(model, pk, sk, condition=model.pk.exists())
                    t.owner = "manifest"
                    t.save(item, condition=ManifestItem.counted.does_not_exist() if new
                           else ManifestItem.counted.exists())
                    t.owner = "tag"
                    if tag is not None:
                        _save_tag(t, manifest, tag, tag_write)
                    t.owner = "repo"
                    self._touch_repo(t, repo, tag_write)
                    for part in parts:
                        t.owner = part
                        part.add(t)
                return
            except TransactWriteError as err:
                reasons = _reasons(err)
                refused = t.refused(reasons)
                if tag is not None and tag_write is not None:
                    _tag_refusal("tag" in refused, "repo" in refused)
                missing = [checks[o[1]] for o in refused if isinstance(o, tuple)]
                if missing:
                    raise ReferenceMissing(
                        [d for _, _, d, kind in missing if kind == "blob"],
                        [d for _, _, d, kind in missing if kind == "manifest"],
                    ) from err
                for part in [o for o in refused if isinstance(o, TransactionPart)][:1]:
                    raise PartRefused(part) from err
                if "manifest" in refused and attempt < _CONFLICT_RETRIES:
                    new = not new   # counted already (a re-push), or deleted meanwhile
                    continue
                if "TransactionConflict" in reasons and attempt + 1 < _CONFLICT_RETRIES:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise

    def get_derived(self, repo: str, source_digest: str, media_type: str) -> Optional[ManifestRecord]:
        """A conversion of `source_digest` to `media_type` made earlier, if any."""
        try:
            it = ManifestItem.get(keys.repo_pk(repo), keys.derived_sk(source_digest, media_type),
                                  consistent_read=True)
        except DoesNotExist:
            return None
        return _manifest_record(repo, it)

    def put_derived(self, source_digest: str, media_type: str, derived: ManifestRecord) -> None:
        """Keep a conversion: the derived manifest (by its digest) and the cache entry, together."""
        pk = keys.repo_pk(derived.repo)
        fields = dict(digest=derived.digest, media_type=derived.media_type, size=derived.size,
                      body=derived.body)
        try:
            with TransactWrite(connection=_connection()) as t:
                # never over a pushed manifest of the same digest (its refcounts would be lost)
                t.save(ManifestItem(pk, keys.manifest_sk(derived.digest), **fields),
                       condition=ManifestItem.counted.does_not_exist())
                t.save(ManifestItem(pk, keys.derived_sk(source_digest, media_type), **fields))
        except TransactWriteError as err:
            if _reasons(err)[:1] != ["ConditionalCheckFailed"]:
                raise
            ManifestItem(pk, keys.derived_sk(source_digest, media_type), **fields).save()

    def _check_exist(self, repo: str, checks: list) -> None:
        pk = keys.repo_pk(repo)
        missing = []
        for model, sk, digest, kind in checks:
            if kind == "blob":
                found = conditional(lambda: BlobLinkItem(pk, sk).update(
                    actions=[BlobLinkItem.mrefs.add(1), BlobLinkItem.gcpk.remove(), BlobLinkItem.gcat.remove()],
                    condition=BlobLinkItem.pk.exists()))
            else:
                found = bool(model.count(pk, model.sk == sk, consistent_read=True))
            if not found:
                missing.append((digest, kind))
        if missing:
            raise ReferenceMissing([d for d, k in missing if k == "blob"],
                                   [d for d, k in missing if k == "manifest"])

    @staticmethod
    def _touch_repo(t: TransactWrite, repo: str, tag_write: Optional[TagWrite] = None, stored: int = 0) -> None:
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

    def delete_tag(self, repo: str, tag: str) -> bool:
        """Delete one tag; False when it did not exist."""
        return conditional(lambda: TagItem(keys.repo_pk(repo), keys.tag_sk(tag)).delete(
            condition=TagItem.pk.exists()))

    def delete_manifest(self, repo: str, digest: str) -> bool:
        """Delete a manifest and every tag pointing at it, atomically; in the same transaction
        each link it counted loses the reference (and is stamped a garbage candidate).
        Its conversions go after it (storage/dynamo_gc.py)."""
        pk = keys.repo_pk(repo)
        try:
            held = ManifestItem.get(pk, keys.manifest_sk(digest), consistent_read=True,
                                    attributes_to_get=["PK", "SK", "counted", "blobs"])
        except DoesNotExist:
            return False
        refs = json.loads(held.blob_refs or "[]") if held.counted else []
        tags = [t.sk for t in TagItem.query(
            pk, TagItem.sk.startswith(keys.TAG_PREFIX), filter_condition=TagItem.digest == digest,
            attributes_to_get=["PK", "SK"], consistent_read=True)]
        first, now = True, int(time.time())
        while True:
            if not first and not tags:
                drop_conversions(repo, digest)
                return True
            room = 99 - len(refs) if first else 99   # a transaction holds 100 actions
            batch, rest = tags[:room], tags[room:]
            try:
                with OwnedTransaction(connection=_connection()) as t:
                    if first:
                        t.owner = "manifest"
                        t.delete(ManifestItem(pk, keys.manifest_sk(digest)), condition=ManifestItem.pk.exists()
                                 & (ManifestItem.counted.exists() if held.counted else ManifestItem.counted.does_not_exist()))
                        for d in refs:   # only links still there and counted (unlinked ones are not re-created)
                            t.owner = d
                            t.update(BlobLinkItem(pk, keys.blob_link_sk(d)), actions=[
                                BlobLinkItem.mrefs.add(-1), BlobLinkItem.gcpk.set(GC_LINK), BlobLinkItem.gcat.set(now),
                            ], condition=BlobLinkItem.counted.exists())
                    t.owner = "tag"
                    for sk in batch:
                        t.delete(TagItem(pk, sk), condition=TagItem.digest == digest)
            except TransactWriteError as err:
                refused = t.refused(_reasons(err))
                if "manifest" in refused:
                    return False
                gone = [d for d in refused if d in refs]
                if gone:
                    refs = [d for d in refs if d not in gone]
                    continue
                if "tag" not in refused:
                    raise
                # A tag moved to another manifest meanwhile: delete this batch one by one.
                for sk in batch:
                    conditional(lambda: TagItem(pk, sk).delete(condition=TagItem.digest == digest))
                tags = rest
                continue   # the manifest (when first) with the next batch
            first, tags = False, rest

    def list_tags(self, repo: str, n: int, last: Optional[str]) -> tuple[list[str], bool]:
        """Up to `n` tags after `last` in lexical order, and whether more follow."""
        pk = keys.repo_pk(repo)
        # TAG# is the last SK prefix in a repository partition, so `> TAG#last` stays in tags.
        cond = TagItem.sk > keys.tag_sk(last) if last else TagItem.sk.startswith(keys.TAG_PREFIX)
        out = []
        for it in TagItem.query(pk, cond, limit=n + 1, attributes_to_get=["PK", "SK"],
                                consistent_read=True):
            if not it.sk.startswith(keys.TAG_PREFIX):
                break
            out.append(it.sk[len(keys.TAG_PREFIX):])
            if len(out) > n:
                break
        return out[:n], len(out) > n

    def repo_exists(self, repo: str) -> bool:
        """True when anything was ever pushed to `repo`."""
        try:
            RepoItem.get(keys.repo_pk(repo), keys.REPO_META_SK, consistent_read=True,
                         attributes_to_get=["PK"])
            return True
        except DoesNotExist:
            return False

    def list_repos(self, n: int, last: Optional[str]) -> tuple[list[str], bool]:
        """Up to `n` repository names after `last`, in order."""
        page, more = catalog_page(n, last)
        return [name for name, _ in page], more

    def referrers(self, repo: str, subject: str, limit: int,
                  after: Optional[str] = None) -> tuple[list[ManifestRecord], bool]:
        """Up to `limit` manifests in `repo` whose subject is `subject`, in digest order
        after `after` (from the GSI), and whether more follow."""
        cond = ManifestItem.gsi1sk > after if after else None
        # Query through ManifestItem so the projected attributes are deserialised.
        out = [ManifestRecord(
            repo=repo, digest=it.digest or it.gsi1sk, media_type=it.media_type or "",
            size=int(it.size or 0), artifact_type=it.artifact_type,
            annotations=json.loads(it.annotations) if it.annotations else None)
            for it in ManifestItem.query(keys.referrers_pk(repo, subject), cond, index_name="referrers",
                                         limit=limit + 1)]
        return out[:limit], len(out) > limit

    # -- blobs --------------------------------------------------------------
    def get_blob_link(self, repo: str, digest: str) -> Optional[BlobLink]:
        """One consistent read of the repository's link to a blob."""
        try:
            it = BlobLinkItem.get(keys.repo_pk(repo), keys.blob_link_sk(digest), consistent_read=True)
        except DoesNotExist:
            return None
        return BlobLink(repo, digest, int(it.size), it.s3_key)

    def find_blob_link(self, repos: list[str], digest: str) -> Optional[BlobLink]:
        """A link to `digest` in any of `repos` (one BatchGetItem per 100 repositories)."""
        keys_ = [(keys.repo_pk(r), keys.blob_link_sk(digest)) for r in dict.fromkeys(repos)]
        for it in BlobLinkItem.batch_get(keys_, consistent_read=True):
            return BlobLink(it.pk[len("REPO#"):], digest, int(it.size), it.s3_key)
        return None

    def get_blob(self, digest: str) -> Optional[BlobLink]:
        """The blob's global record, if any repository ever committed it."""
        try:
            it = BlobItem.get(keys.blob_pk(digest), keys.META_SK, consistent_read=True)
        except DoesNotExist:
            return None
        if it.gone is not None:   # a tombstone (domain/gc.py): no bytes
            return None
        return BlobLink("", digest, int(it.size), it.s3_key)

    def link_blob(self, repo: str, digest: str, size: int, s3_key: str,
                  written_at: Optional[float] = None) -> bool:
        """Link a committed blob into `repo`; False when it was linked already. The new link
        is counted, referenced by no manifest yet: a garbage candidate until one is pushed.
        With `written_at` (when the caller started writing the bytes), BlobCollected while a
        collection claims the blob or when it deleted the bytes after that."""
        pk = keys.repo_pk(repo)
        now = int(time.time())

        def build(t: TransactWrite) -> None:
            t.save(BlobLinkItem(pk, keys.blob_link_sk(digest), size=size, s3_key=s3_key, mrefs=0, counted=True,
                                gcpk=GC_LINK, gcat=now),
                   condition=BlobLinkItem.pk.does_not_exist())
            t.update(BlobItem(keys.blob_pk(digest), keys.META_SK), actions=[
                BlobItem.size.set(size),
                BlobItem.s3_key.set(BlobItem.s3_key | s3_key),
                BlobItem.refs.add(1),
                BlobItem.collecting.remove(), BlobItem.gone.remove(), BlobItem.expires.remove(),
                BlobItem.gcpk.remove(), BlobItem.gcat.remove(),
            ], condition=None if written_at is None else (
                (BlobItem.collecting.does_not_exist() | (BlobItem.collecting < written_at - CLAIM_SECONDS))
                & (BlobItem.gone.does_not_exist() | (BlobItem.gone < written_at - SKEW_SECONDS))))
            self._touch_repo(t, repo, stored=size)

        def refused(codes: list, _t: Any) -> None:
            if codes and codes[0] == "ConditionalCheckFailed":
                raise _AlreadyLinked()
            if codes[1:2] == ["ConditionalCheckFailed"]:
                raise BlobCollected(digest)

        try:
            transact(_connection(), build, refused=refused, attempts=_CONFLICT_RETRIES)
        except _AlreadyLinked:
            return False
        return True

    def unlink_blob(self, repo: str, digest: str) -> bool:
        """Remove `repo`'s link to a blob; False when there was none. The link is read first
        for its size (subtracted from the repository's `stored` in the same transaction,
        which deletes the link only if it still has that size)."""
        link = self.get_blob_link(repo, digest)
        if link is None:
            return False
        try:
            with TransactWrite(connection=_connection()) as t:
                t.delete(BlobLinkItem(keys.repo_pk(repo), keys.blob_link_sk(digest)),
                         condition=BlobLinkItem.pk.exists() & (BlobLinkItem.size == link.size))
                t.update(BlobItem(keys.blob_pk(digest), keys.META_SK),  # maybe the last link: a candidate
                         actions=[BlobItem.refs.add(-1), BlobItem.gcpk.set(GC_BLOB), BlobItem.gcat.set(int(time.time()))])
                t.update(RepoItem(keys.repo_pk(repo), keys.REPO_META_SK), actions=[RepoItem.stored.add(-link.size)])
            return True
        except TransactWriteError as err:
            if _reasons(err)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise

    # -- Docker V1 images -----------------------------------------------------
    def put_v1_images(self, repo: str, images: list) -> None:
        """Record synthesised V1 images [(id, layer digest, size, json, ancestry)] for `repo`."""
        with V1ImageItem.batch_write() as batch:
            for image_id, layer, size, v1_json, ancestry in images:
                batch.save(V1ImageItem(keys.v1_image_pk(image_id), keys.repo_pk(repo), layer=layer,
                                       size=size, v1_json=v1_json, ancestry=json.dumps(ancestry)))

    def get_v1_image(self, image_id: str) -> list:
        """Every repository holding V1 image `image_id`: [(repo, layer, size, json, ancestry)]."""
        return [(it.sk[len("REPO#"):], it.layer, int(it.size or 0), it.v1_json, json.loads(it.ancestry or "[]"))
                for it in V1ImageItem.query(keys.v1_image_pk(image_id))]

    # -- upload sessions ----------------------------------------------------
    def create_upload(self, session: UploadSession) -> None:
        """Store a new session (its id is fresh, so this never overwrites). A failed
        condition can only be this very write, retried by the SDK after a timeout
        whose first attempt had landed: that is success, not an error."""
        conditional(lambda: self._upload_item(session).save(condition=UploadItem.pk.does_not_exist()))

    def get_upload(self, upload_id: str) -> Optional[UploadSession]:
        """One consistent read of a session; expired ones count as missing."""
        try:
            it = UploadItem.get(keys.upload_pk(upload_id), keys.META_SK, consistent_read=True)
        except DoesNotExist:
            return None
        if it.expires and it.expires < time.time():
            return None
        return UploadSession(
            upload_id=upload_id, repo=it.repo, offset=int(it.offset or 0),
            hash_state=it.hash_state or b"", mpu_id=it.mpu_id,
            parts=json.loads(it.parts) if it.parts else [], tail_key=it.tail_key,
            tail_size=int(it.tail_size or 0), expires=int(it.expires or 0),
            tail_inline=it.tail_inline,
            direct=it.direct, direct_size=int(it.direct_size or 0), direct_digest=it.direct_digest,
            part_size=int(it.part_size or 0), direct_state=it.direct_state,
            verify_state=it.verify_state or b"", copy_mpu_id=it.copy_mpu_id,
            copy_parts=json.loads(it.copy_parts) if it.copy_parts else [],
        )

    def save_upload(self, session: UploadSession, expected_offset: int) -> bool:
        """Write the session only if nobody advanced it since `expected_offset`."""
        return conditional(lambda: self._upload_item(session).save(
            condition=UploadItem.pk.exists() & (UploadItem.offset == expected_offset)))

    def delete_upload(self, upload_id: str) -> None:
        """Forget a session."""
        UploadItem(keys.upload_pk(upload_id), keys.META_SK).delete()

    @staticmethod
    def _upload_item(s: UploadSession) -> UploadItem:
        return UploadItem(
            keys.upload_pk(s.upload_id), keys.META_SK, repo=s.repo, offset=s.offset,
            hash_state=s.hash_state or None, mpu_id=s.mpu_id,
            parts=json.dumps(s.parts) if s.parts else None, tail_key=s.tail_key,
            tail_size=s.tail_size, expires=s.expires, tail_inline=s.tail_inline or None,
            direct=s.direct, direct_size=s.direct_size or None, direct_digest=s.direct_digest,
            part_size=s.part_size or None, direct_state=s.direct_state,
            verify_state=s.verify_state or None, copy_mpu_id=s.copy_mpu_id,
            copy_parts=json.dumps(s.copy_parts) if s.copy_parts else None,
        )

    # -- direct uploads -----------------------------------------------------
    def start_direct(self, session: UploadSession) -> bool:
        """Turn a fresh session into a direct one; False if it was planned or fed already."""
        return conditional(lambda: self._upload_item(session).save(
            condition=UploadItem.pk.exists() & UploadItem.direct.does_not_exist()
            & (UploadItem.offset == 0)))

    def mark_verifying(self, repo: str, digest: str, upload_id: str, expires: int) -> None:
        """Note that a direct upload of `digest` into `repo` is being verified."""
        VerifyingItem(keys.blob_pk(digest), keys.verifying_sk(repo), upload_id=upload_id,
                      expires=expires).save()

    def clear_verifying(self, repo: str, digest: str) -> None:
        VerifyingItem(keys.blob_pk(digest), keys.verifying_sk(repo)).delete()

    def verifying(self, repo: str, digests: list[str]) -> list[str]:
        """Which of `digests` a direct upload into `repo` is verifying (one BatchGetItem per 100)."""
        now = time.time()
        found = {it.pk[len("BLOB#"):] for it in VerifyingItem.batch_get(
            [(keys.blob_pk(d), keys.verifying_sk(repo)) for d in dict.fromkeys(digests)])
            if not it.expires or it.expires >= now}
        return [d for d in digests if d in found]


def policy_condition(rev: Optional[int]) -> Any:
    """The repository item's policy is still at revision `rev` (None: never set)."""
    return RepoItem.policy_rev.does_not_exist() if rev is None else RepoItem.policy_rev == rev


def _save_tag(t: TransactWrite, manifest: ManifestRecord, tag: str, tw: Optional[TagWrite]) -> None:
    """The tag item (an immutable one may only be rewritten with its digest) and, when it
    expires, its expiry index entry."""
    pk = keys.repo_pk(manifest.repo)
    expires = tw.expires_at if tw else None
    cond = (TagItem.pk.does_not_exist() | (TagItem.digest == manifest.digest)) if tw and tw.immutable else None
    t.save(TagItem(pk, keys.tag_sk(tag), digest=manifest.digest, media_type=manifest.media_type,
                   size=manifest.size, body=manifest.body, s3_key=manifest.s3_key,
                   pushed=int(time.time()), expires_at=expires), condition=cond)
    if expires is not None:
        t.save(ExpiryItem(keys.EXPIRY_PK, keys.expiry_sk(expires, manifest.repo, tag),
                          repo=manifest.repo, tag=tag, digest=manifest.digest))


def _tag_refusal(tag_refused: bool, repo_refused: bool) -> None:
    """Raise what a cancelled manifest transaction says about its tag, if anything."""
    if repo_refused:
        raise PolicyChanged()
    if tag_refused:
        raise TagImmutable()


class ExpiryItem(Item):
    """TAGEXPIRY/<expires>#<repo>#<tag>: the expiry index (keys.py)."""

    repo = UnicodeAttribute(null=True)
    tag = UnicodeAttribute(null=True)
    digest = UnicodeAttribute(null=True)


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


def drop_conversions(repo: str, digest: str) -> None:
    """After a manifest's delete: its cached conversions (one Query; usually none), and the
    converted manifests themselves unless pushed (counted) under the same digest."""
    pk = keys.repo_pk(repo)
    for it in ManifestItem.query(pk, ManifestItem.sk.startswith(keys.derived_sk(digest, "")),
                                 attributes_to_get=["PK", "SK", "digest"], consistent_read=True):
        conditional(lambda: ManifestItem(pk, keys.manifest_sk(it.digest)).delete(
            condition=ManifestItem.counted.does_not_exist()))
        it.delete()
