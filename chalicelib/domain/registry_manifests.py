"""Manifest use cases: get (with content negotiation and derived formats), put, delete."""
from __future__ import annotations

import json
import logging
import time
from fnmatch import fnmatchcase
from typing import Any, Optional

from .. import manifests as manifest_formats
from ..manifests import Parsed, convert, negotiate
from ..manifests.convert import ConversionImpossible
from ..manifests.platform import select_platform
from ..oci import mediatypes as mt
from ..oci.digest import compute, looks_like_digest, parse_digest
from ..oci.errors import RegistryError
from ..oci.names import is_tag, validate_name, validate_tag
from ..storage import keys
from ..storage.ports import ManifestRecord, PartRefused, ReferenceMissing, StoredManifest, TransactionPart
from .registry_base import ManifestResult, RegistryBase
from .tag_policy import is_expired

log = logging.getLogger("registry")
# Image configs read for a schema 1 conversion are at most this big (they are read whole).
MAX_CONFIG_BYTES = 8 * 1024 * 1024
# Larger annotations are not repeated in the referrers index (documented limit).
MAX_REFERRER_ANNOTATIONS_BYTES = 64 * 1024
# Distinct blobs and manifests one manifest may name. Each is checked (and counted) by one
# write, so this bounds a push's work and its time under the front door's 29 s; images
# have tens of layers (overlayfs stacks at most 128), indexes tens of platforms.
MAX_REFERENCES = 1000
# Missing references named in a MANIFEST_BLOB_UNKNOWN detail (the counts say how many in all).
MAX_MISSING_NAMED = 20


def _stored_doc(body: bytes) -> dict:
    """A stored manifest's JSON object (validated when pushed; checked again, cheaply)."""
    try:
        doc = manifest_formats.loads(body)
    except ValueError as exc:
        raise ConversionImpossible(f"the stored manifest is not usable JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConversionImpossible("the stored manifest is not a JSON object")
    return doc


class ManifestsMixin(RegistryBase):
    """GET/HEAD/PUT/DELETE of manifests."""

    def get_manifest(self, repo: str, reference: str, want_body: bool = True,
                     accept: Optional[list[str]] = None) -> ManifestResult:
        """Fetch a manifest: one DynamoDB read (plus S3 for large bodies).

        By digest, or when the client's Accept allows the stored type, the
        stored bytes come back. By tag, an Accept set without the stored type
        gets the best representation it allows (see `_negotiate`).
        """
        validate_name(repo)
        by_digest = looks_like_digest(reference)
        rec: Optional[StoredManifest]
        if by_digest:
            parse_digest(reference, code="DIGEST_INVALID")
            rec = self.meta.get_manifest(repo, reference)
        elif not is_tag(reference):
            # A malformed tag names nothing: 404, as clients and the conformance suite expect.
            raise RegistryError("MANIFEST_UNKNOWN", {"name": repo, "reference": reference,
                                                     "reason": "not a valid tag"})
        else:
            tagged = self.meta.get_tag(repo, reference)
            now = self.tag_rules.clock() if self.tag_rules else time.time()
            # expired: gone at once, whenever the lifecycle run deletes it
            rec = None if tagged is None or is_expired(tagged.expires_at, now) else tagged
        if rec is None:
            raise RegistryError("MANIFEST_UNKNOWN", {"name": repo, "reference": reference})
        wanted = negotiate.parse_accept(accept or [])
        if by_digest or negotiate.quality(rec.media_type, wanted) > 0 or not wanted:
            return self._stored(rec, want_body)
        return self._negotiate(repo, reference, rec, wanted, want_body)

    def _stored(self, rec: StoredManifest, want_body: bool) -> ManifestResult:
        body = rec.body
        if body is None and want_body and rec.s3_key:
            body = self.blobs.get(rec.s3_key)
        return ManifestResult(rec.digest, rec.media_type, rec.size, body)

    def _negotiate(self, repo: str, tag: str, rec: StoredManifest, wanted: list, want_body: bool,
                   allow_child: bool = True) -> ManifestResult:
        """Conversion on read: try the acceptable representations, best first."""
        reasons = []
        # Every record has its bytes inline or in S3; none would read as unusable JSON.
        body = self._stored(rec, True).body or b""
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

    def _derived(self, repo: str, tag: str, rec: StoredManifest, body: bytes, target: str) -> ManifestResult:
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
            written = time.time()
            self.blobs.put(key, convert.GZIPPED_EMPTY_TAR)
            self.meta.link_blob(repo, convert.EMPTY_LAYER_DIGEST, len(convert.GZIPPED_EMPTY_TAR), key, written)

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
        references = len(set(parsed.blobs)) + len(set(parsed.manifests))
        if references > MAX_REFERENCES:
            raise RegistryError("MANIFEST_INVALID", {
                "reason": f"a manifest may name at most {MAX_REFERENCES} distinct blobs and manifests",
                "references": references, "limit": MAX_REFERENCES})
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
            blobs, manifests = missing.blobs[:MAX_MISSING_NAMED], missing.manifests[:MAX_MISSING_NAMED]
            detail: dict[str, Any] = {"blobs": blobs, "manifests": manifests}
            if len(blobs) < len(missing.blobs) or len(manifests) < len(missing.manifests):
                detail.update(missingBlobs=len(missing.blobs), missingManifests=len(missing.manifests))
            verifying = self.meta.verifying(repo, blobs) if blobs else []
            if verifying:  # direct uploads whose digest is still being proven
                detail.update(verifying=verifying, reason="blobs still being verified after a direct "
                              "upload: repeat their closing PUT until it answers 201, then push the manifest")
            raise RegistryError("MANIFEST_BLOB_UNKNOWN", detail) from None
        self.notify.manifest_pushed(repo, tag, digest, parsed.media_type, len(body), parsed.subject)
        return digest, parsed.subject

    def _commit(self, record: ManifestRecord, tag: Optional[str], parsed: Parsed,
                parts: list[TransactionPart]) -> None:
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

    def _check_media_types(self, parsed: Parsed) -> None:
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
