"""Per-repository tag policies: immutable tags, tag expiry, retention rules (docs/lifecycle.md).

The policy document (stored on the repository item, validated by the admin API's
schema and again here):
    {"immutableTags": ["v*", "release-*"],        fnmatch patterns; "*" makes every tag immutable
     "defaultExpiry": "2w",                       tags pushed without an expiry of their own
     "retention": [{"rule": "keep-last", "tags": "*", "count": 10},
                   {"rule": "expire-tags", "tags": "pr-*", "days": 7},
                   {"rule": "expire-untagged", "days": 14}]}
Tag writes are decided under one policy revision and the write's transaction checks
that revision, so a policy change never races a push (the enforcement is atomic).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import Any, Callable, Optional

from ..oci import mediatypes as mt
from ..oci.errors import RegistryError
from ..storage.bounded import BoundedCache
from ..storage.ports import BlobStore, PolicyChanged, TagImmutable, TagLifecycleStore, TagWrite

# Quay's label (on the image config, or as a manifest annotation) and ours (an annotation).
QUAY_LABEL = "quay.expires-after"
EXPIRY_ANNOTATION = "oci-registry.expires-after"
_DURATION = re.compile(r"([1-9][0-9]{0,8})([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_EXPIRY_SECONDS = 10 * 365 * 86400
# Image configs read for the label are at most this big (one S3 GetObject, read whole).
MAX_LABEL_CONFIG_BYTES = 1024 * 1024
_WRITE_ATTEMPTS = 3
_CACHE_REPOS = 1024
_CACHE_CONFIGS = 1024
_UNREAD = object()  # a config not read yet (None: read, no label)


def parse_duration(value: Any) -> Optional[int]:
    """Seconds of a Quay-style duration (`90s`, `30m`, `2h`, `1d`, `2w`), None if not one."""
    if not isinstance(value, str):
        return None
    m = _DURATION.fullmatch(value.strip())
    if not m:
        return None
    seconds = int(m.group(1)) * _UNIT[m.group(2)]
    return seconds if seconds <= MAX_EXPIRY_SECONDS else None


def rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# RFC 3339 date-time only (fromisoformat alone also takes week dates, basic formats and no
# zone); years 1970-9999, so the epoch is never negative and renders back as written.
_RFC3339 = re.compile(r"(19[7-9]\d|[2-9]\d{3})-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:[Zz]|[+-]\d\d:\d\d)", re.ASCII)


def parse_time(value: str) -> Optional[int]:
    """Epoch seconds of an RFC 3339 time with a zone (`2026-12-01T12:00:00Z`), None if not one."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return None
    head, _, rest = value.upper().partition(".")
    if rest:  # fractions: whole seconds are kept; the zone follows the digits
        head += rest.lstrip("0123456789")
    try:
        when = datetime.fromisoformat(head.replace("Z", "+00:00"))
        epoch = int(when.timestamp())
    except (ValueError, OverflowError):
        return None
    return epoch if epoch >= 0 else None  # 1970-01-01T00:00:00+01:00 is 1969 in UTC


def is_expired(expires_at: Optional[int], now: float) -> bool:
    return expires_at is not None and expires_at <= now


@dataclass
class Policy:
    """A repository's tag policy (empty: no rules)."""

    immutable: list = field(default_factory=list)
    default_expiry: Optional[int] = None
    retention: list = field(default_factory=list)
    doc: dict = field(default_factory=dict)

    def immutable_rule(self, tag: str) -> Optional[str]:
        """The first immutability pattern `tag` matches."""
        return next((p for p in self.immutable if fnmatchcase(tag, p)), None)


def policy_from_doc(doc: Optional[dict]) -> Policy:
    """A Policy from a stored or submitted document (shape checked by the API's schema)."""
    doc = doc or {}
    expiry = doc.get("defaultExpiry")
    seconds = parse_duration(expiry) if expiry is not None else None
    if expiry is not None and seconds is None:
        raise RegistryError("UNSUPPORTED", {"field": "defaultExpiry", "reason": "a duration like 2h, 1d or 2w "
                                            f"(at most {MAX_EXPIRY_SECONDS // 86400} days)"}, status=400)
    for i, rule in enumerate(doc.get("retention") or []):
        needs = {"keep-last": ("tags", "count"), "expire-tags": ("tags", "days"), "expire-untagged": ("days",)}
        missing = [k for k in needs.get(rule.get("rule"), ()) if k not in rule]
        extra = [k for k in rule if k != "rule" and k not in needs.get(rule.get("rule"), ())]
        if missing or extra:
            raise RegistryError("UNSUPPORTED", {"field": f"retention.{i}", "reason": f"{rule.get('rule')} takes "
                                                f"{', '.join(needs.get(rule.get('rule'), ()))}"}, status=400)
    return Policy(list(doc.get("immutableTags") or []), seconds, list(doc.get("retention") or []), dict(doc))


def stored_policy(repo: str, doc: Any) -> Policy:
    """The stored policy as rules, or a clear 409: a document stored by an older version
    or by hand must not crash a run, or answer a push with a 500, by a TypeError."""
    try:
        if doc is not None and not isinstance(doc, dict):
            raise TypeError("not an object")
        policy = policy_from_doc(doc)
        if not all(isinstance(p, str) for p in policy.immutable):
            raise TypeError("immutableTags holds a non-string")
        for rule in policy.retention:
            if "tags" in rule and not isinstance(rule["tags"], str) or "count" in rule and (
                    type(rule["count"]) is not int or rule["count"] < 1) or "days" in rule and (
                    not isinstance(rule["days"], (int, float)) or isinstance(rule["days"], bool)
                    or not 0 <= rule["days"] <= 36500):
                raise TypeError(f"bad rule {str(rule)[:120]}")
        return policy
    except (RegistryError, TypeError, AttributeError, KeyError) as exc:
        raise RegistryError("UNSUPPORTED", {"reason": f"the stored tag policy of {repo} is unusable "
                                            f"({exc.code if isinstance(exc, RegistryError) else exc}); "
                                            "set it again", "repository": repo}, status=409) from None


def _config_labels(config: Any) -> dict:
    labels = (config.get("config") or {}).get("Labels") if isinstance(config, dict) else None
    return labels if isinstance(labels, dict) else {}


class TagRules:
    """Decides and guards tag writes and deletes under the repository's policy.

    The policy is cached per process (a Lambda instance): the write's condition on the
    policy revision catches a stale cache, which is then refreshed and the write retried,
    so a push to a repository pays no extra read in the steady state."""

    def __init__(self, store: TagLifecycleStore, blobs: BlobStore, settings: Any,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.blobs = blobs
        self._settings = settings
        self.clock = clock
        self._cache = BoundedCache(_CACHE_REPOS)  # repo -> (Policy, revision)
        # (config digest, size) -> its expiry label (content addressed, so never stale): a
        # manifest pushed again or under another tag reads its config once per process
        self._labels = BoundedCache(_CACHE_CONFIGS)

    def policy(self, repo: str, fresh: bool = False) -> tuple[Policy, Optional[int]]:
        hit = None if fresh else self._cache.get(repo)
        if hit is None:
            doc, rev = self.store.get_policy(repo)
            hit = (stored_policy(repo, doc), rev)
            self._cache.put(repo, hit)
        return hit

    def forget(self, repo: str) -> None:
        self._cache.pop(repo)

    # -- writes ---------------------------------------------------------------
    def put(self, repo: str, tag: str, parsed: Any, write: Callable[[TagWrite], None]) -> None:
        """Run `write` (the manifest transaction) with the tag decided under the current policy."""
        expiry = self._own_expiry(parsed)
        for attempt in range(_WRITE_ATTEMPTS):
            policy, rev = self.policy(repo, fresh=attempt > 0)
            rule = policy.immutable_rule(tag)
            after = expiry if expiry is not None else policy.default_expiry
            expires_at = int(self.clock()) + after if after is not None else None
            try:
                return write(TagWrite(policy_rev=rev, immutable=rule is not None, expires_at=expires_at))
            except PolicyChanged:
                continue
            except TagImmutable:
                raise RegistryError("DENIED", {
                    "reason": f"tag {tag!r} is immutable (repository rule {rule!r}): it already names "
                              "another manifest; push a new tag instead",
                    "repository": repo, "tag": tag, "rule": rule},
                    message=f"tag {tag} is immutable (rule {rule}): overwrite refused") from None
        raise RegistryError("TOOMANYREQUESTS", {"reason": "the repository's tag policy kept changing"},
                            status=429, headers={"Retry-After": "1"})

    def _own_expiry(self, parsed: Any) -> Optional[int]:
        """Seconds from the manifest's annotation (ours, then Quay's), else the config's label."""
        annotations = parsed.annotations or {}
        if EXPIRY_ANNOTATION in annotations:
            seconds = parse_duration(annotations[EXPIRY_ANNOTATION])
            if seconds is None:
                raise RegistryError("MANIFEST_INVALID", {
                    "reason": f"annotation {EXPIRY_ANNOTATION} must be a duration like 2h, 1d or 2w",
                    "value": str(annotations[EXPIRY_ANNOTATION])[:64]})
            return seconds
        if QUAY_LABEL in annotations:  # like Quay, an unusable value is ignored
            return parse_duration(annotations[QUAY_LABEL])
        return self._label_expiry(parsed)

    def _label_expiry(self, parsed: Any) -> Optional[int]:
        if not getattr(self._settings, "expiry_labels", True) or not isinstance(parsed.doc, dict):
            return None
        cfg = parsed.doc.get("config")
        if not isinstance(cfg, dict) or cfg.get("mediaType") not in (mt.OCI_CONFIG, mt.DOCKER_CONFIG):
            return None
        size, digest = cfg.get("size"), cfg.get("digest")
        if not isinstance(size, int) or not 0 < size <= MAX_LABEL_CONFIG_BYTES or not isinstance(digest, str):
            return None
        from ..manifests import loads
        from ..storage import keys

        known = self._labels.get((digest, size), _UNREAD)
        if known is not _UNREAD:
            return known
        try:
            # At most the descriptor's size (itself bounded) is read, whatever the object's size.
            config = loads(b"".join(self.blobs.read_range(keys.blob_key(digest), 0, size)))
        except Exception:  # noqa: BLE001 - a missing or unreadable config: the push decides, not us
            return None
        seconds = parse_duration(_config_labels(config).get(QUAY_LABEL))
        self._labels.put((digest, size), seconds)
        return seconds

    # -- deletes --------------------------------------------------------------
    def delete_tag(self, repo: str, tag: str) -> bool:
        """Delete a tag unless immutable; False when there is no such tag."""
        for attempt in range(_WRITE_ATTEMPTS):
            policy, rev = self.policy(repo, fresh=attempt > 0)
            self._refuse_delete(repo, policy, [tag])
            try:
                return self.store.delete_tag_if(repo, tag, rev)
            except PolicyChanged:
                continue
        raise RegistryError("TOOMANYREQUESTS", {"reason": "the repository's tag policy kept changing"},
                            status=429, headers={"Retry-After": "1"})

    def check_manifest_delete(self, repo: str, digest: str) -> None:
        """Refuse deleting a manifest that an immutable tag names."""
        policy, _ = self.policy(repo, fresh=True)
        if not policy.immutable:
            return
        tags, last, more = [], None, True
        while more:
            page, more = self.store.tag_entries(repo, 1000, last)
            tags += [t.tag for t in page if t.digest == digest and not is_expired(t.expires_at, self.clock())]
            last = page[-1].tag if page else None
        self._refuse_delete(repo, policy, tags)

    @staticmethod
    def _refuse_delete(repo: str, policy: Policy, tags: list[str]) -> None:
        for tag in tags:
            rule = policy.immutable_rule(tag)
            if rule is not None:
                raise RegistryError("DENIED", {
                    "reason": f"tag {tag!r} is immutable (repository rule {rule!r}) and cannot be deleted; "
                              "a namespace administrator may change the rule or set the tag to expire",
                    "repository": repo, "tag": tag, "rule": rule},
                    message=f"tag {tag} is immutable (rule {rule}): delete refused")
