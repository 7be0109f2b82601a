"""Tag lifecycle: expiring tags and per-repository retention rules (docs/lifecycle.md).

`TagLifecycle.run` is what the scheduled lifecycle run calls: it deletes the tags
whose expiry has passed (from the expiry index, so its cost follows what expired,
not the registry's size) and applies each repository's retention rules. Retention
is planned from one read of the repository, then applied with conditional deletes
(a tag only while it still names the planned manifest, a manifest only while it
was not pushed again), so a dry run reports exactly what a real run would do.
"""
from __future__ import annotations

import logging
import time
from fnmatch import fnmatchcase
from typing import Any, Callable, Optional

from ..manifests import loads
from ..oci import mediatypes as mt
from ..oci.errors import RegistryError
from ..oci.names import validate_name
from ..storage.ports import ManifestEntry, TagEntry, TagLifecycleStore
from .tag_policy import is_expired, rfc3339, stored_policy

PAGE = 1000
DAY = 86400
# One run handles at most this many due expiries and repositories (a Lambda has 15 min);
# the next run continues.
MAX_DUE_PER_RUN = 20_000
MAX_REPOS_PER_RUN = 5_000
# Retention stops visiting repositories after this long (the scheduled function has 900 s).
RUN_BUDGET_SECONDS = 600.0
_INDEX_TYPES = (mt.OCI_INDEX, mt.DOCKER_LIST)
log = logging.getLogger("registry")


def _all(page_fn: Callable[[int, Optional[str]], tuple[list, bool]], key: Callable[[Any], str]) -> list:
    out: list = []
    last, more = None, True
    while more:
        page, more = page_fn(PAGE, last)
        out += page
        if not page:
            break
        last = key(page[-1])
    return out


def _reason(exc: Exception) -> str:
    if isinstance(exc, RegistryError):
        return str((exc.detail or {}).get("reason") or exc.code) if isinstance(exc.detail, dict) else exc.code
    return f"internal error ({type(exc).__name__}); see the logs"


def _when(epoch: Optional[int]) -> Optional[str]:
    return rfc3339(epoch) if epoch is not None else None


class TagLifecycle:
    """Expiry and retention over the TagLifecycleStore port."""

    def __init__(self, store: TagLifecycleStore, read_blob: Callable[[str], bytes],
                 clock: Callable[[], float] = time.time,
                 on_tag_removed: Optional[Callable[[str, str, Optional[str]], None]] = None) -> None:
        self.store = store
        self._read_blob = read_blob
        self.clock = clock
        # told (repo, tag, digest) after each tag this lifecycle deletes (the Helm view drops its entry)
        self._on_tag_removed = on_tag_removed

    def _removed(self, repo: str, tag: str, digest: Optional[str]) -> None:
        if self._on_tag_removed is not None:
            self._on_tag_removed(repo, tag, digest)

    # -- the scheduled run ------------------------------------------------------
    def run(self, dry_run: bool = False, budget_seconds: float = RUN_BUDGET_SECONDS) -> dict:
        """Expire due tags, then apply retention in every repository that has rules, while
        the time budget lasts (`complete` says whether every repository was visited)."""
        deadline = time.monotonic() + budget_seconds
        expired = self.expire_due(dry_run)
        reports, failed, last, more, visited = [], [], None, True, 0
        while more and visited < MAX_REPOS_PER_RUN:
            repos, more = self.store.policy_repos(PAGE, last)
            for repo in repos:
                if time.monotonic() > deadline:
                    more = True
                    break
                visited += 1
                try:
                    report = self.retention(repo, dry_run)
                except Exception as exc:  # noqa: BLE001 - one bad repository never stops the others
                    log.exception("retention failed in %s; the run goes on", repo)
                    failed.append({"repository": repo, "reason": _reason(exc)})
                    continue
                if report["tags"] or report["manifests"]:
                    reports.append(report)
            last = repos[-1] if repos else None
            if not repos or time.monotonic() > deadline:
                break
        return {"dryRun": dry_run, "expiredTags": expired, "retention": reports, "repositoriesVisited": visited,
                "failed": failed, "complete": not more}

    def expire_due(self, dry_run: bool = False) -> list[dict]:
        """Delete the tags whose expiry has passed. A dry run lists the due index entries
        (some may be stale: the tag was pushed again or its expiry changed)."""
        now = int(self.clock())
        out: list[dict] = []
        while len(out) < MAX_DUE_PER_RUN:
            due = self.store.due_expiries(now, PAGE)
            if dry_run:
                return [{"repository": d.repo, "tag": d.tag, "expiresAt": rfc3339(d.expires_at)} for d in due]
            for d in due:  # conditional: only while the tag still expires at that time
                if self.store.remove_tag(d.repo, d.tag, None, d.expires_at):
                    self._removed(d.repo, d.tag, d.digest)
                    out.append({"repository": d.repo, "tag": d.tag, "expiresAt": rfc3339(d.expires_at)})
            if len(due) < PAGE:
                break
        return out

    # -- retention ------------------------------------------------------------------
    def retention(self, repo: str, dry_run: bool) -> dict:
        """Plan the repository's retention rules and, unless `dry_run`, apply them."""
        validate_name(repo)
        doc, rev = self.store.get_policy(repo)
        report = self.plan(repo, doc)
        report.update(dryRun=dry_run, policyRevision=rev, skipped=[])
        if dry_run:
            return report
        for t in report["tags"]:
            if self.store.remove_tag(repo, t["tag"], t["digest"]):
                self._removed(repo, t["tag"], t["digest"])
            else:
                report["skipped"].append({"tag": t["tag"], "reason": "pushed again or deleted meanwhile"})
        for m in report["manifests"]:
            if not self.store.remove_manifest(repo, m["digest"], m["_pushed"]):
                report["skipped"].append({"digest": m["digest"], "reason": "pushed again or deleted meanwhile"})
        return report

    def plan(self, repo: str, doc: Optional[dict]) -> dict:
        """What the rules remove now: tags first, then manifests left untagged."""
        policy = stored_policy(repo, doc)
        now = self.clock()
        tags: list[TagEntry] = [t for t in _all(lambda n, last: self.store.tag_entries(repo, n, last),
                                                lambda t: t.tag) if not is_expired(t.expires_at, now)]
        removed: list[dict] = []
        claimed: dict[int, list[TagEntry]] = {}
        for t in tags:  # each tag is governed by the first tag rule whose pattern it matches (as in ECR)
            for i, rule in enumerate(policy.retention):
                if rule["rule"] in ("keep-last", "expire-tags") and fnmatchcase(t.tag, rule["tags"]):
                    claimed.setdefault(i, []).append(t)
                    break
        for i, group in sorted(claimed.items()):
            rule = policy.retention[i]
            if rule["rule"] == "keep-last":
                newest = sorted(group, key=lambda t: (t.pushed or 0, t.tag), reverse=True)
                gone = newest[rule["count"]:]
                reason = f"keep-last {rule['count']} of {rule['tags']}"
            else:
                gone = [t for t in group if t.pushed is not None and t.pushed <= now - rule["days"] * DAY]
                reason = f"expire-tags {rule['tags']} after {rule['days']} days"
            removed += [{"tag": t.tag, "digest": t.digest, "pushed": _when(t.pushed), "rule": i, "reason": reason}
                        for t in sorted(gone, key=lambda t: t.tag)]
        gone_tags = {r["tag"] for r in removed}
        tagged = {t.digest for t in tags if t.tag not in gone_tags}
        return {"repository": repo, "tags": removed, "manifests": self._untagged(repo, policy, tagged, now)}

    def _untagged(self, repo: str, policy: Any, tagged: set, now: float) -> list[dict]:
        rules = [(i, r) for i, r in enumerate(policy.retention) if r["rule"] == "expire-untagged"]
        if not rules:
            return []
        i, rule = rules[0]
        manifests: list[ManifestEntry] = _all(lambda n, last: self.store.manifest_entries(repo, n, last),
                                              lambda m: m.digest)
        cutoff = now - rule["days"] * DAY
        # Conversions made on read and manifests from before push times were kept have no
        # push time: never candidates.
        candidates = {m.digest for m in manifests
                      if m.pushed is not None and m.pushed <= cutoff and m.digest not in tagged}
        children = {m.digest: self._children(m) for m in manifests}
        by_digest = {m.digest: m for m in manifests}
        changed = True
        while changed:  # what survives keeps its index children and its referrers
            changed = False
            kept = [m for m in manifests if m.digest not in candidates]
            protect = {c for m in kept for c in children[m.digest]}
            protect |= {d for d in candidates if by_digest[d].subject and by_digest[d].subject not in candidates
                        and by_digest[d].subject in by_digest}
            if candidates & protect:
                candidates -= protect
                changed = True
        return [{"digest": d, "pushed": _when(by_digest[d].pushed), "_pushed": by_digest[d].pushed, "rule": i,
                 "reason": f"expire-untagged after {rule['days']} days"} for d in sorted(candidates)]

    def _children(self, m: ManifestEntry) -> list[str]:
        if m.media_type not in _INDEX_TYPES:
            return []
        try:
            doc = loads(m.body if m.body is not None else self._read_blob(m.s3_key or ""))
            return [d["digest"] for d in doc.get("manifests") or [] if isinstance(d, dict) and "digest" in d]
        except Exception as exc:  # noqa: BLE001 - an unreadable index keeps everything: refuse to guess
            raise RegistryError("UNKNOWN", {"reason": f"index {m.digest} unreadable during retention: {exc}"}) \
                from None


def public_report(report: dict) -> dict:
    """The report as the API shows it (internal fields dropped)."""
    out = dict(report)
    if "manifests" in out:
        out["manifests"] = [{k: v for k, v in m.items() if not k.startswith("_")} for m in out["manifests"]]
    return out
