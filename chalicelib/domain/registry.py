"""The registry's use cases, written against the storage ports only.

Every public method is one operation of the distribution API; routes call
exactly one of them and render the result.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from fnmatch import fnmatchcase
from dataclasses import dataclass
from typing import Optional, Sequence, Union

from .. import manifests as manifest_formats
from ..manifests import convert, negotiate
from ..manifests.convert import ConversionImpossible
from ..manifests.platform import select_platform
from ..oci import mediatypes as mt
from ..oci.digest import MAX_DIGEST_LENGTH, compute, looks_like_digest, parse_digest
from ..oci.errors import RegistryError
from ..oci.names import MAX_NAME_LENGTH, MAX_TAG_LENGTH, is_tag, validate_name, validate_tag
from ..storage import keys
from ..storage.ports import (BlobLink, BlobStore, ManifestRecord, MetadataStore, PartRefused, ReferenceMissing,
                             TransactionPart, UploadSession)
from .hooks import ManifestHook
from .notify import Notifier
from .ranges import RangeInvalid, parse_content_range
from .resumable_hash import ResumableHash
from .sessions import find_session
from .tag_policy import TagRules, is_expired


@dataclass
class ManifestResult:
    """A manifest as served: bytes may be None for HEAD of an S3-held manifest."""

    digest: str
    media_type: str
    size: int
    body: Optional[bytes]


@dataclass
class UploadResult:
    """Either a committed blob (`digest` set, 201) or an open session (202)."""

    digest: Optional[str] = None
    upload_id: Optional[str] = None
    offset: int = 0


@dataclass
class Page:
    """One page of a listing and whether another follows."""

    items: list
    more: bool
    expires: Optional[dict] = None  # tags list: tag -> expiry (epoch seconds), for those that expire


log = logging.getLogger("registry")
# Upload tails up to this size are kept in the DynamoDB session item, not in S3
# (the item also holds the hash state and the part list; items hold 400 KB).
INLINE_TAIL_BYTES = 128 * 1024
# Automatic mounts look in at most this many readable repositories (one BatchGetItem).
MAX_MOUNT_CANDIDATES = 100
# Image configs read for a schema 1 conversion are at most this big (they are read whole).
MAX_CONFIG_BYTES = 8 * 1024 * 1024
# Larger annotations are not repeated in the referrers index (documented limit).
MAX_REFERRER_ANNOTATIONS_BYTES = 64 * 1024


def _stored_doc(body: bytes) -> dict:
    """A stored manifest's JSON object (validated when pushed; checked again, cheaply)."""
    try:
        doc = manifest_formats.loads(body)
    except ValueError as exc:
        raise ConversionImpossible(f"the stored manifest is not usable JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConversionImpossible("the stored manifest is not a JSON object")
    return doc


def _after(last: Optional[str], longest: int) -> Optional[str]:
    """A listing's `last`, cut to one character beyond the longest possible key.

    Every key is at most `longest` characters, so it sorts after `last` exactly
    when it sorts after that prefix; the cut keeps DynamoDB key conditions under
    their size limit (a 400 from AWS, a 500 here, before).
    """
    return last[: longest + 1] if last else last


def _uploads_range(offset: int) -> str:
    # The spec's Range for an upload is inclusive; an empty upload reports 0-0.
    return f"0-{max(offset - 1, 0)}"


class Registry:
    """OCI distribution use cases over a MetadataStore and a BlobStore."""

    def __init__(self, meta: MetadataStore, blobs: BlobStore, settings,
                 hooks: Sequence[ManifestHook] = (), tag_rules: Optional[TagRules] = None,
                 notify: Optional[Notifier] = None) -> None:
        self.meta = meta
        self.blobs = blobs
        self.settings = settings
        self.hooks = list(hooks)  # e.g. the Helm chart index (domain/hooks.py)
        self.tag_rules = tag_rules  # tag policies and expiry (domain/tag_policy.py)
        self.notify = notify or Notifier()  # events after each commit, uploaded bytes (domain/notify.py)

    # -- manifests ------------------------------------------------------------
    def get_manifest(self, repo: str, reference: str, want_body: bool = True,
                     accept: Optional[list[str]] = None) -> ManifestResult:
        """Fetch a manifest: one DynamoDB read (plus S3 for large bodies).

        By digest, or when the client's Accept allows the stored type, the
        stored bytes come back. By tag, an Accept set without the stored type
        gets the best representation it allows (see `_negotiate`).
        """
        validate_name(repo)
        by_digest = looks_like_digest(reference)
        if by_digest:
            parse_digest(reference, code="DIGEST_INVALID")
            rec = self.meta.get_manifest(repo, reference)
        elif not is_tag(reference):
            # A malformed tag names nothing: 404, as clients and the conformance suite expect.
            raise RegistryError("MANIFEST_UNKNOWN", {"name": repo, "reference": reference,
                                                     "reason": "not a valid tag"})
        else:
            rec = self.meta.get_tag(repo, reference)
            now = self.tag_rules.clock() if self.tag_rules else time.time()
            if rec is not None and is_expired(rec.expires_at, now):
                rec = None  # expired: gone at once, whenever the lifecycle run deletes it
        if rec is None:
            raise RegistryError("MANIFEST_UNKNOWN", {"name": repo, "reference": reference})
        wanted = negotiate.parse_accept(accept or [])
        if by_digest or negotiate.quality(rec.media_type, wanted) > 0 or not wanted:
            return self._stored(rec, want_body)
        return self._negotiate(repo, reference, rec, wanted, want_body)

    def _stored(self, rec, want_body: bool) -> ManifestResult:
        body = rec.body
        if body is None and want_body and rec.s3_key:
            body = self.blobs.get(rec.s3_key)
        return ManifestResult(rec.digest, rec.media_type, rec.size, body)

    def _negotiate(self, repo: str, tag: str, rec, wanted: list, want_body: bool,
                   allow_child: bool = True) -> ManifestResult:
        """Conversion on read: try the acceptable representations, best first."""
        reasons = []
        body = self._stored(rec, True).body
        for target in negotiate.candidates(rec.media_type, wanted):
            try:
                if target == rec.media_type:
                    return self._stored(rec, want_body)
                if target == negotiate.CHILD:
                    if allow_child:
                        return self._platform_child(repo, tag, body, wanted, want_body)
                    continue
                return self._derived(repo, tag, rec, body, target)
            except ConversionImpossible as exc:
                reasons.append(f"{target}: {exc}")
        raise RegistryError("MANIFEST_UNKNOWN", {
            "reason": "no representation of this manifest is acceptable to the client",
            "mediaType": rec.media_type, "accepted": [t for t, _ in wanted], "conversions": reasons})

    def _platform_child(self, repo: str, tag: str, body: bytes, wanted: list,
                        want_body: bool) -> ManifestResult:
        os_name, arch, variant = self.settings.default_platform
        desc = select_platform(_stored_doc(body), os_name, arch, variant)
        if desc is None:
            raise ConversionImpossible(f"no {'/'.join(filter(None, (os_name, arch, variant)))} child")
        child = self.meta.get_manifest(repo, desc["digest"])
        if child is None:
            raise ConversionImpossible(f"child {desc['digest']} is not in the repository")
        if negotiate.quality(child.media_type, wanted) > 0:
            return self._stored(child, want_body)
        return self._negotiate(repo, tag, child, wanted, want_body, allow_child=False)

    def _derived(self, repo: str, tag: str, rec, body: bytes, target: str) -> ManifestResult:
        """A converted manifest, made once and kept, so its digest stays valid."""
        cached = self.meta.get_derived(repo, rec.digest, target)
        if cached is not None:
            return self._stored(cached, True)
        config_body = None
        if target in (mt.DOCKER_V1, mt.DOCKER_V1_SIGNED) and rec.media_type in (mt.OCI_MANIFEST, mt.DOCKER_V2):
            cfg = (_stored_doc(body).get("config") or {}).get("digest")
            link = self.meta.get_blob_link(repo, cfg) if isinstance(cfg, str) else None
            if link is None:
                raise ConversionImpossible("the image config blob is not in the repository")
            if link.size > MAX_CONFIG_BYTES:  # read whole into memory: bounded
                raise ConversionImpossible(f"the image config is over {MAX_CONFIG_BYTES} bytes")
            config_body = self.blobs.get(link.s3_key)
        out, digest, media_type = convert.convert(
            body, rec.media_type, target, config_body=config_body, name=repo, tag=tag,
            signing_key_pem=self.settings.schema1_key_pem)
        if media_type in (mt.DOCKER_V1, mt.DOCKER_V1_SIGNED) and convert.EMPTY_LAYER_DIGEST in out.decode():
            self._ensure_empty_layer(repo)
        derived = ManifestRecord(repo=repo, digest=digest, media_type=media_type, size=len(out), body=out)
        self.meta.put_derived(rec.digest, target, derived)
        return ManifestResult(digest, media_type, len(out), out)

    def _ensure_empty_layer(self, repo: str) -> None:
        # Schema 1 lists the gzipped empty tar for layer-less history entries; clients fetch it.
        key = keys.blob_key(convert.EMPTY_LAYER_DIGEST)
        if self.meta.get_blob_link(repo, convert.EMPTY_LAYER_DIGEST) is None:
            self.blobs.put(key, convert.GZIPPED_EMPTY_TAR)
            self.meta.link_blob(repo, convert.EMPTY_LAYER_DIGEST, len(convert.GZIPPED_EMPTY_TAR), key)

    def put_manifest(self, repo: str, reference: str, content_type: Optional[str],
                     body: bytes) -> tuple[str, Optional[str]]:
        """Store a manifest (and tag); returns (digest, subject digest)."""
        validate_name(repo)
        if len(body) > self.settings.max_manifest_bytes:
            raise RegistryError("SIZE_INVALID", {"reason": "manifest too large",
                                                 "size": len(body),
                                                 "limit": self.settings.max_manifest_bytes},
                                status=413)
        tag: Optional[str] = None
        want = None
        if looks_like_digest(reference):
            want = parse_digest(reference, code="DIGEST_INVALID")
        else:
            tag = validate_tag(reference)
        parsed = manifest_formats.parse(content_type, body, self.settings.extra_manifest_types)
        self._check_media_types(parsed)
        # A signed schema 1 manifest's digest is that of its payload, without signatures.
        if parsed.digest:
            from ..manifests.jws import payload_of  # loads cryptography: only for schema 1

            hashed = payload_of(body)
        else:
            hashed = body
        digest = compute(hashed, want.algorithm if want else "sha256")
        if want is not None and digest != reference:
            raise RegistryError("DIGEST_INVALID", {"reason": "manifest bytes do not match the digest",
                                                   "expected": reference, "actual": digest})
        # Annotations are kept beside the bytes only for referrers (their one reader),
        # and only while small enough to share a DynamoDB item with the bytes.
        annotations = parsed.annotations if parsed.subject else None
        annotations_size = len(json.dumps(annotations)) if annotations else 0
        if annotations_size > MAX_REFERRER_ANNOTATIONS_BYTES:
            annotations, annotations_size = None, 0
        record = ManifestRecord(
            repo=repo, digest=digest, media_type=parsed.media_type, size=len(body),
            subject=parsed.subject, artifact_type=parsed.artifact_type,
            annotations=annotations,
        )
        if len(body) + annotations_size > self.settings.inline_manifest_bytes:
            record.s3_key = keys.manifest_key(digest)
            self.blobs.put(record.s3_key, body)  # content addressed: harmless if the put fails later
        else:
            record.body = body
        parts = [p for hook in self.hooks for p in hook.parts(repo, tag, digest, parsed)]
        try:
            self._commit(record, tag, parsed, parts)
        except ReferenceMissing as missing:
            # Unknown index children get this code too, as in distribution.
            detail = {"blobs": missing.blobs, "manifests": missing.manifests}
            verifying = self.meta.verifying(repo, missing.blobs) if missing.blobs else []
            if verifying:  # direct uploads whose digest is still being proven
                detail.update(verifying=verifying, reason="blobs still being verified after a direct "
                              "upload: repeat their closing PUT until it answers 201, then push the manifest")
            raise RegistryError("MANIFEST_BLOB_UNKNOWN", detail) from None
        self.notify.manifest_pushed(repo, tag, digest, parsed.media_type, len(body), parsed.subject)
        return digest, parsed.subject

    def _commit(self, record: ManifestRecord, tag: Optional[str], parsed, parts: list[TransactionPart]) -> None:
        """One transaction: manifest, tag, repository and the hooks' parts. A refused part
        (a Helm index entry whose file name another chart holds) is left out, logged, and
        the manifest written without it: it is the client's push, the extras are ours."""
        while True:
            try:
                if tag is not None and self.tag_rules is not None:
                    self.tag_rules.put(record.repo, tag, parsed, lambda tw: self.meta.put_manifest(
                        record, tag, parsed.blobs, parsed.manifests, tw, parts))
                else:
                    self.meta.put_manifest(record, tag, parsed.blobs, parsed.manifests, parts=parts)
                return
            except PartRefused as refused:
                log.warning("%s refused (its condition failed): %s@%s stored without it",
                            refused.part.what, record.repo, record.digest)
                parts = [p for p in parts if p is not refused.part]

    def tag_removed(self, repo: str, tag: str, digest: Optional[str]) -> None:
        """A tag deleted by the tag lifecycle (expiry, retention): tell the hooks."""
        for hook in self.hooks:
            hook.tag_removed(repo, tag, digest)

    def _check_media_types(self, parsed) -> None:
        """Refuse config/layer/artifact media types outside the deployment's allow-list."""
        allowed = self.settings.allowed_media_types
        if not allowed or not isinstance(parsed.doc, dict):
            return
        used = [d.get("mediaType") for d in [parsed.doc.get("config") or {}, *(parsed.doc.get("layers") or [])]
                if isinstance(d, dict)]
        used.append(parsed.doc.get("artifactType"))
        refused = sorted({m for m in used if m and not any(fnmatchcase(m, p) for p in allowed)})
        if refused:
            raise RegistryError("MANIFEST_INVALID", {"reason": "media type not allowed by this registry",
                                                     "refused": refused, "allowed": list(allowed)})

    def delete_manifest(self, repo: str, reference: str) -> None:
        """Delete a tag (by tag) or a manifest and all its tags (by digest)."""
        validate_name(repo)
        by_digest = looks_like_digest(reference)
        if by_digest:
            parse_digest(reference, code="DIGEST_INVALID")
        else:
            validate_tag(reference)
        after = [a for a in (hook.before_delete(repo, reference) for hook in self.hooks) if a is not None]
        if by_digest:
            if self.tag_rules is not None:
                self.tag_rules.check_manifest_delete(repo, reference)
            found = self.meta.delete_manifest(repo, reference)
        else:
            found = (self.tag_rules.delete_tag(repo, reference) if self.tag_rules is not None
                     else self.meta.delete_tag(repo, reference))
        if not found:
            raise RegistryError("MANIFEST_UNKNOWN", {"name": repo, "reference": reference})
        for action in after:
            action()
        self.notify.deleted(repo, reference)

    # -- tags, catalog, referrers ------------------------------------------
    def page_size(self, n: Optional[int]) -> int:
        if n is None:
            return self.settings.page_size_max
        return max(0, min(n, self.settings.page_size_max))

    def list_tags(self, repo: str, n: Optional[int], last: Optional[str]) -> Page:
        """Tags in lexical order after `last`."""
        validate_name(repo)
        size = self.page_size(n)
        if size == 0:
            if not self.meta.repo_exists(repo):
                raise RegistryError("NAME_UNKNOWN", {"name": repo})
            return Page([], False)
        if self.tag_rules is not None:
            page = live_tags(self.tag_rules.store, repo, size, _after(last, MAX_TAG_LENGTH), self.tag_rules.clock())
            tags, more = page.items, page.more
        else:
            tags, more = self.meta.list_tags(repo, size, _after(last, MAX_TAG_LENGTH))
            page = Page(tags, more)
        if not tags and not last and not self.meta.repo_exists(repo):
            raise RegistryError("NAME_UNKNOWN", {"name": repo})
        return page

    def catalog(self, n: Optional[int], last: Optional[str]) -> Page:
        """Repository names in order after `last`."""
        size = self.page_size(n)
        if size == 0:
            return Page([], False)
        names, more = self.meta.list_repos(size, _after(last, MAX_NAME_LENGTH))
        return Page(names, more)

    def referrers(self, repo: str, digest: str, artifact_type: Optional[str],
                  n: Optional[int] = None, last: Optional[str] = None) -> tuple[dict, Optional[str]]:
        """The OCI index of manifests whose subject is `digest` (a page of it), and the
        digest to continue after when more follow (for the Link header)."""
        validate_name(repo)
        parse_digest(digest, code="DIGEST_INVALID")
        size = self.page_size(n) or 1
        descriptors: list[dict] = []
        cursor, more = _after(last, MAX_DIGEST_LENGTH), True
        while more and len(descriptors) < size:
            page, more = self.meta.referrers(repo, digest, size, cursor)
            for rec in page:
                cursor = rec.digest
                if artifact_type and rec.artifact_type != artifact_type:
                    continue
                d = {"mediaType": rec.media_type, "digest": rec.digest, "size": rec.size}
                if rec.artifact_type:
                    d["artifactType"] = rec.artifact_type
                if rec.annotations:
                    d["annotations"] = rec.annotations
                descriptors.append(d)
                if len(descriptors) == size:
                    more = more or rec is not page[-1]
                    break
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": descriptors}
        return index, cursor if more else None

    # -- blobs ----------------------------------------------------------------
    def stat_blob(self, repo: str, digest: str) -> BlobLink:
        """The repository's link to a blob (one read, no S3)."""
        validate_name(repo)
        parse_digest(digest, code="DIGEST_INVALID")
        link = self.meta.get_blob_link(repo, digest)
        if link is None:
            raise RegistryError("BLOB_UNKNOWN", {"name": repo, "digest": digest})
        return link

    def blob_url(self, repo: str, digest: str) -> tuple[BlobLink, str]:
        """The link and a presigned GET URL (presigning makes no API call)."""
        link = self.stat_blob(repo, digest)
        return link, self.blobs.presign_get(link.s3_key, self.settings.presign_ttl)

    def delete_blob(self, repo: str, digest: str) -> None:
        """Unlink a blob from a repository (bytes stay for other repositories and GC)."""
        validate_name(repo)
        parse_digest(digest, code="DIGEST_INVALID")
        if not self.meta.unlink_blob(repo, digest):
            raise RegistryError("BLOB_UNKNOWN", {"name": repo, "digest": digest})

    # -- uploads --------------------------------------------------------------
    def start_upload(self, repo: str, *, digest: Optional[str] = None, body: bytes = b"",
                     mount: Optional[str] = None, mount_from: Optional[str] = None,
                     mount_candidates: Optional[list[str]] = None) -> UploadResult:
        """POST /blobs/uploads/: mount, monolithic upload, or a new session.

        Without `from`, a mount looks in `mount_candidates` (the repositories the
        caller may read) or, when None (no auth), anywhere in the registry.
        """
        validate_name(repo)
        if mount and self._try_mount(repo, mount, mount_from, mount_candidates):
            return UploadResult(digest=mount)
        if digest is not None:
            return UploadResult(digest=self._put_whole(repo, digest, body))
        session = UploadSession(upload_id=str(uuid.uuid4()), repo=repo,
                                expires=int(time.time()) + self.settings.upload_ttl)
        session.hash_state = ResumableHash().state()
        self.meta.create_upload(session)
        return UploadResult(upload_id=session.upload_id, offset=0)

    def _try_mount(self, repo: str, digest: str, mount_from: Optional[str],
                   candidates: Optional[list[str]]) -> bool:
        try:
            parse_digest(digest)
        except RegistryError:
            return False  # a bad mount digest just means a normal upload
        source = None
        if mount_from:
            try:
                validate_name(mount_from)
            except RegistryError:
                return False
            source = self.meta.get_blob_link(mount_from, digest)
        elif not self.settings.automatic_mount:
            return False
        elif candidates is None:
            source = self.meta.get_blob(digest)
        elif candidates:
            source = self.meta.find_blob_link(candidates[:MAX_MOUNT_CANDIDATES], digest)
        if source is None:
            return False
        self.meta.link_blob(repo, digest, source.size, source.s3_key)
        return True

    def _put_whole(self, repo: str, digest: str, body: bytes) -> str:
        want = parse_digest(digest)
        actual = compute(body, want.algorithm)
        if actual != digest:
            raise RegistryError("DIGEST_INVALID", {"expected": digest, "actual": actual})
        key = keys.blob_key(digest)
        self.blobs.put(key, body)
        self.meta.link_blob(repo, digest, len(body), key)
        self.notify.uploaded(repo, len(body))
        return digest

    def _session(self, repo: str, upload_id: str) -> UploadSession:
        return find_session(self.meta, repo, upload_id)

    def upload_status(self, repo: str, upload_id: str) -> UploadResult:
        """GET on an upload: how many bytes the registry has."""
        s = self._session(repo, upload_id)
        return UploadResult(upload_id=upload_id, offset=s.offset)

    def _check_range(self, s: UploadSession, content_range: Optional[str], length: int) -> None:
        if content_range is None:
            return
        try:
            chunk = parse_content_range(content_range, length)
        except RangeInvalid as exc:
            raise self._range_error(s, str(exc)) from None
        if chunk.start != s.offset:
            raise self._range_error(s, f"chunk starts at {chunk.start}, upload is at {s.offset}")

    @staticmethod
    def _range_error(s: UploadSession, reason: str) -> RegistryError:
        return RegistryError("BLOB_UPLOAD_INVALID", {"reason": reason, "offset": s.offset}, status=416,
                             headers={"Range": _uploads_range(s.offset),
                                      "Location": f"/v2/{s.repo}/blobs/uploads/{s.upload_id}",
                                      "Docker-Upload-UUID": s.upload_id})

    def patch_upload(self, repo: str, upload_id: str, data: bytes,
                     content_range: Optional[str] = None) -> UploadResult:
        """Append a chunk: hash it, send full parts to S3, keep the short tail."""
        s = self._session(repo, upload_id)
        if s.direct:
            raise RegistryError("BLOB_UPLOAD_INVALID", {"reason": "this upload sends its bytes "
                                                        "directly to S3 (docs/direct-upload.md)"})
        self._check_range(s, content_range, len(data))
        if data:
            self._append(s, data)
        return UploadResult(upload_id=upload_id, offset=s.offset)

    def _append(self, s: UploadSession, data: bytes) -> None:
        """Advance session `s` by `data`, saving it with a conditional write."""
        expected = s.offset
        h = ResumableHash(s.hash_state)
        h.update(data)
        old_tail = s.tail_key
        buf = self._tail(s) + data
        s.tail_key, s.tail_inline, s.tail_size = None, None, 0
        if len(buf) >= self.settings.min_part_bytes:
            data_key = keys.upload_data_key(s.upload_id)
            if not s.mpu_id:
                s.mpu_id = self.blobs.create_multipart(data_key)
            number = len(s.parts) + 1
            etag = self.blobs.upload_part(data_key, s.mpu_id, number, buf)
            s.parts = [*s.parts, [number, etag]]
        elif len(buf) <= INLINE_TAIL_BYTES:
            # Small tails (config blobs, short chunks) ride in the session item: no S3 calls.
            s.tail_inline, s.tail_size = buf, len(buf)
        else:
            s.tail_key = keys.upload_tail_key(s.upload_id, uuid.uuid4().hex[:12])
            s.tail_size = len(buf)
            self.blobs.put(s.tail_key, buf)
        s.offset += len(data)
        s.hash_state = h.state()
        if not self.meta.save_upload(s, expected):
            raise self._range_error(s, "another request advanced this upload concurrently")
        if old_tail:
            self._cleanup(self.blobs.delete, old_tail)

    def _tail(self, s: UploadSession) -> bytes:
        """Bytes received but not yet sent as a part."""
        if s.tail_inline is not None:
            return s.tail_inline
        return self.blobs.get(s.tail_key) if s.tail_key and s.tail_size else b""

    def finish_upload(self, repo: str, upload_id: str, digest: Optional[str], data: bytes = b"",
                      content_range: Optional[str] = None) -> Union[str, UploadResult]:
        """Closing PUT: append the last bytes, verify the digest, commit and link (the
        digest); a direct upload still being verified answers its session (202)."""
        if not digest:
            raise RegistryError("DIGEST_INVALID", {"reason": "the digest query parameter is required"})
        want = parse_digest(digest)
        s = self._session(repo, upload_id)
        if s.direct:  # bytes went straight to S3: prove them (domain/direct.py)
            from .direct import DirectUploads

            out = DirectUploads(self.meta, self.blobs, self.settings).close(s, digest, data)
            if isinstance(out, str):
                self.notify.uploaded(repo, s.direct_size or 0)
            return out if isinstance(out, str) else UploadResult(upload_id=upload_id, offset=out.offset)
        self._check_range(s, content_range, len(data))
        h = ResumableHash(s.hash_state)
        h.update(data)
        actual = h.digest(want.algorithm)
        size = s.offset + len(data)
        if actual != digest:
            self._discard(s, cleanup_only=True)
            raise RegistryError("DIGEST_INVALID", {"expected": digest, "actual": actual, "size": size})
        key = keys.blob_key(digest)
        try:
            self._store_final(s, data, key, size)
        except Exception:
            self._recover_final(s, key, size)
        self.meta.link_blob(repo, digest, size, key)  # the commit point
        self.notify.uploaded(repo, size)
        self._cleanup(self.meta.delete_upload, upload_id)
        return digest

    def _recover_final(self, s: UploadSession, key: str, size: int) -> None:
        """After a failed final step (re-raised unless recoverable): the session is left as
        it was, so the client retries the PUT. An earlier attempt may have completed the
        parts (then they are gone, but the assembled object or the blob is in place)."""
        if self.blobs.size(key) == size:
            return
        data_key = keys.upload_data_key(s.upload_id)
        if s.mpu_id and self.blobs.size(data_key) == size:
            self.blobs.copy(data_key, key, size)
            self._cleanup(self.blobs.delete, data_key)
            return
        raise  # noqa: PLE0704 - called from an except block: re-raise the original failure

    def _store_final(self, s: UploadSession, data: bytes, key: str, size: int) -> None:
        """Write the blob's bytes to their final key (nothing is saved to the session)."""
        last = self._tail(s) + data
        if s.mpu_id:
            data_key = keys.upload_data_key(s.upload_id)
            parts = s.parts
            if last:  # the last part may be short; a retry overwrites the same part number
                parts = [*parts, [len(parts) + 1, self.blobs.upload_part(data_key, s.mpu_id, len(parts) + 1, last)]]
            self.blobs.complete_multipart(data_key, s.mpu_id, parts)  # refuses parts overwritten meanwhile
            self.blobs.copy(data_key, key, size)
            self._cleanup(self.blobs.delete, data_key)
        else:
            self.blobs.put(key, last)
        if s.tail_key:
            self._cleanup(self.blobs.delete, s.tail_key)

    @staticmethod
    def _cleanup(action, *args) -> None:
        """A step after the commit point (or of an abandoned upload): failing it must not
        fail the request. Leftovers expire anyway (S3 lifecycle on uploads/, DynamoDB TTL)."""
        try:
            action(*args)
        except Exception as exc:  # noqa: BLE001 - logged; the answer does not depend on it
            log.warning("cleanup %s%r failed: %r", getattr(action, "__name__", action), args, exc)

    def _discard(self, s: UploadSession, cleanup_only: bool = False) -> None:
        """Drop an upload's parts (best effort) and its session (must succeed unless `cleanup_only`)."""
        if s.mpu_id:
            self._cleanup(self.blobs.abort_multipart, keys.upload_data_key(s.upload_id), s.mpu_id)
        if s.tail_key:
            self._cleanup(self.blobs.delete, s.tail_key)
        if cleanup_only:
            self._cleanup(self.meta.delete_upload, s.upload_id)
        else:
            self.meta.delete_upload(s.upload_id)

    def cancel_upload(self, repo: str, upload_id: str) -> None:
        """DELETE on an upload: drop its parts and the session."""
        self._discard(self._session(repo, upload_id))


def live_tags(store, repo: str, n: int, last: Optional[str], now: float) -> Page:
    """A page of unexpired tags (and their expiry times): a Query per page of the store,
    usually one; expired tags still waiting for the lifecycle run are skipped."""
    items: list[str] = []
    expires: dict = {}
    cursor, more = last, True
    while more and len(items) <= n:
        entries, more = store.tag_entries(repo, n + 1 - len(items), cursor)
        for e in entries:
            cursor = e.tag
            if not is_expired(e.expires_at, now):
                items.append(e.tag)
                if e.expires_at is not None:
                    expires[e.tag] = e.expires_at
        if not entries:
            break
    page = items[:n]
    return Page(page, len(items) > n, {t: expires[t] for t in page if t in expires} or None)
