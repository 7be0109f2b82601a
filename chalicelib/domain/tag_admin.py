"""Administration of tag policies, tag expiry and retention runs (admin API and CLI).

A repository's policy, its tags' expiry and its retention runs belong to the
namespace's administrators (and global admins); a run over every repository to
global admins only.
"""
from __future__ import annotations

from typing import Any, Optional

from ..auth.policy import Principal, can_administer, namespace_of
from ..oci.errors import RegistryError
from ..oci.names import validate_name, validate_tag
from .retention import TagLifecycle, public_report
from .tag_policy import MAX_EXPIRY_SECONDS, TagRules, parse_duration, parse_time, policy_from_doc, rfc3339


def _require(actor: Principal, repo: Optional[str]) -> None:
    if actor.anonymous:
        raise RegistryError("UNAUTHORIZED", {"reason": "authentication required"})
    if repo is None and not actor.admin:
        raise RegistryError("DENIED", {"reason": "a run over every repository needs a global administrator"})
    if repo is not None and not can_administer(actor, namespace_of(repo)):
        raise RegistryError("DENIED", {"reason": "administrator rights on the namespace required",
                                       "namespace": namespace_of(repo)})


class TagAdmin:
    """Use cases behind /admin/policies, /admin/tags/expiry and /admin/retention."""

    def __init__(self, rules: TagRules, lifecycle: TagLifecycle) -> None:
        self.rules = rules
        self.lifecycle = lifecycle

    def get_policy(self, actor: Principal, repo: str) -> dict:
        validate_name(repo)
        _require(actor, repo)
        doc, rev = self.rules.store.get_policy(repo)
        return {"repository": repo, "policy": doc or {}, "revision": rev or 0}

    def namespace_policies(self, actor: Principal, ns: str, limit: int) -> tuple[list[dict], bool]:
        """The policies of `ns`'s repositories that have one (read from the policy index, one
        GetItem each), at most `limit`; and whether more exist."""
        _require(actor, f"{ns}/-")
        prefix = f"{ns}/"
        repos, more = self.rules.store.policy_repos(limit + 1, prefix)
        mine = [r for r in repos if r.startswith(prefix)]
        out = [{"repository": r, "policy": self.rules.store.get_policy(r)[0] or {}} for r in mine[:limit]]
        return out, len(mine) > limit

    def set_policy(self, actor: Principal, repo: str, doc: Optional[dict]) -> dict:
        """Replace the policy (empty or None clears it); tag writes see it at once."""
        validate_name(repo)
        _require(actor, repo)
        policy_from_doc(doc)  # refuses what the schema cannot (durations, fields per rule)
        rev = self.rules.store.put_policy(repo, doc or None)
        self.rules.forget(repo)
        return {"repository": repo, "policy": doc or {}, "revision": rev}

    def set_expiry(self, actor: Principal, repo: str, tag: str, after: Optional[str] = None,
                   at: Optional[str] = None, clear: bool = False) -> dict:
        """Set a tag's expiry (a duration from now, or a time) or clear it."""
        validate_name(repo)
        validate_tag(tag)
        _require(actor, repo)
        expires_at: Optional[int] = None
        now = int(self.rules.clock())
        if not clear:
            if after is not None:
                seconds = parse_duration(after)
                if seconds is None:
                    raise RegistryError("UNSUPPORTED", {"field": "expiresAfter", "reason": "a duration like 2h, 1d "
                                                        f"or 2w (at most {MAX_EXPIRY_SECONDS // 86400} days)"},
                                        status=400)
                expires_at = now + seconds
            elif at is not None:
                expires_at = parse_time(at)
                if expires_at is None or expires_at > now + MAX_EXPIRY_SECONDS:  # past (from 1970): now
                    raise RegistryError("UNSUPPORTED", {"field": "expiresAt", "reason": "an RFC 3339 time with a "
                                                        "zone from 1970 on, e.g. 2026-12-31T00:00:00Z, within "
                                                        "10 years"},
                                        status=400)
            else:
                raise RegistryError("UNSUPPORTED", {"field": "body", "reason": "give expiresAfter, expiresAt "
                                                    "or clear"}, status=400)
        entry = self.rules.store.set_tag_expiry(repo, tag, expires_at)
        if entry is None:
            raise RegistryError("MANIFEST_UNKNOWN", {"name": repo, "reference": tag})
        return {"repository": repo, "tag": tag, "digest": entry.digest,
                "expiresAt": rfc3339(expires_at) if expires_at is not None else None}

    def retention(self, actor: Principal, repo: Optional[str], dry_run: bool) -> dict:
        """One repository's retention (plan, or plan and apply), or the whole lifecycle run."""
        _require(actor, repo)
        if repo is None:
            report = self.lifecycle.run(dry_run)
            report["retention"] = [public_report(r) for r in report["retention"]]
            return report
        return public_report(self.lifecycle.retention(repo, dry_run))


def build(rules: TagRules, read_blob: Any, on_tag_removed: Any = None) -> TagAdmin:
    return TagAdmin(rules, TagLifecycle(rules.store, read_blob, rules.clock, on_tag_removed))
