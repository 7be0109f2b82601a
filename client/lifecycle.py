"""Tag policies, tag expiry and retention from the command line (docs/lifecycle.md):

  policy show REPO
  policy set REPO [--file F|-] [--immutable PATTERN ...] [--default-expiry 2w]
                  [--keep-last PATTERN=N ...] [--expire-tags PATTERN=DAYS ...] [--expire-untagged DAYS]
  policy clear REPO
  tag expire REPO TAG (--after 2h | --at 2026-12-31T00:00:00Z | --clear)
  retention [REPO] [--dry-run]        no REPO: the whole lifecycle run (global admins)
  gc [--dry-run] [--grace SECONDS] [--sweep-orphans]   garbage collection (global admins)
  quota show NS | quota set NS [--quota SIZE] [--soft SIZE]   namespace quotas (sizes: 500MB, 10GiB, bytes)
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Optional

from .api import AdminClient, ClientError


def get_policy(api: AdminClient, repository: str) -> dict:
    _, _, raw = api.request("GET", "/admin/policies", query=[("repository", repository)])
    return json.loads(raw)


def set_policy(api: AdminClient, repository: str, policy: Optional[dict]) -> dict:
    return api._json("PUT", "/admin/policies", {"repository": repository, "policy": policy})


def set_tag_expiry(api: AdminClient, repository: str, tag: str, after: Optional[str] = None,
                   at: Optional[str] = None, clear: bool = False) -> dict:
    body: dict = {"repository": repository, "tag": tag}
    if clear:
        body["clear"] = True
    elif after is not None:
        body["expiresAfter"] = after
    else:
        body["expiresAt"] = at
    return api._json("PUT", "/admin/tags/expiry", body)


def retention(api: AdminClient, repository: Optional[str], dry_run: bool) -> dict:
    body: dict = {"dryRun": dry_run}
    if repository:
        body["repository"] = repository
    return api._json("POST", "/admin/retention", body)


def gc(api: AdminClient, dry_run: bool, grace: Optional[int], sweep: bool = False) -> dict:
    body: dict = {"dryRun": dry_run}
    if sweep:
        body["sweepOrphans"] = True
    if grace is not None:
        body["grace"] = grace
    return api._json("POST", "/admin/gc", body)


def _gc_text(doc: dict) -> str:
    verb = "would collect" if doc.get("dryRun") else "collected"
    calls = doc.get("awsCalls") or {}
    return (f"{verb} {doc['links']} blob links, {doc['blobs']} blobs ({doc['bytesFreed']} bytes), "
            f"{doc['manifests']} manifests"
            + (f", {doc['orphans']} orphaned objects ({doc['orphanBytes']} bytes)" if "orphans" in doc else "")
            + f"; {calls.get('dynamodb', 0)} DynamoDB and {calls.get('s3', 0)} S3 calls"
            + ("" if doc.get("complete", True) else "; incomplete: run again"))


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(text: str) -> Optional[int]:
    """`10GiB`, `500MB`, `1234` (bytes); `none` removes the limit."""
    t = text.strip().upper().replace(" ", "")
    if t in ("NONE", "-"):
        return None
    num = t.rstrip("KMGTIB")
    unit = t[len(num):]
    if unit not in _UNITS or not num:
        raise ClientError(f"not a size: {text!r} (e.g. 500MB, 10GiB, 1234, none)")
    return int(float(num) * _UNITS[unit])


def _quota_text(doc: dict) -> str:
    def fmt(v: Optional[int]) -> str:
        return "none" if v is None else f"{v:,} bytes"
    lines = [f"namespace {doc['namespace']}: stores {doc['stored']:,} bytes; quota {fmt(doc['quota'])}, "
             f"soft limit {fmt(doc['soft'])}"]
    if doc.get("overQuota"):
        lines.append("over its quota: pushes are refused")
    elif doc.get("overSoft"):
        lines.append("over its soft limit: pushes are accepted with a warning")
    return "\n".join(lines)


def add_parsers(cmds: Any) -> None:
    pol = cmds.add_parser("policy", help="a repository's tag policy").add_subparsers(dest="action",
                                                                                  metavar="ACTION")
    pol.required = True
    pol.add_parser("show", help="print the policy").add_argument("repository")
    pol.add_parser("clear", help="remove every rule").add_argument("repository")
    ps = pol.add_parser("set", help="replace the policy (from --file, or built from the options)")
    ps.add_argument("repository")
    ps.add_argument("--file", help="the policy document as JSON ('-': stdin)")
    ps.add_argument("--immutable", action="append", default=[], metavar="PATTERN",
                    help="tags matching PATTERN (e.g. 'v*', '*' for all) cannot be overwritten or deleted")
    ps.add_argument("--default-expiry", metavar="DURATION", help="tags pushed without an expiry expire after "
                    "this (e.g. 2w)")
    ps.add_argument("--keep-last", action="append", default=[], metavar="PATTERN=N",
                    help="keep the N most recently pushed tags matching PATTERN")
    ps.add_argument("--expire-tags", action="append", default=[], metavar="PATTERN=DAYS",
                    help="delete tags matching PATTERN pushed more than DAYS ago")
    ps.add_argument("--expire-untagged", type=float, metavar="DAYS",
                    help="delete untagged manifests pushed more than DAYS ago")
    tag = cmds.add_parser("tag", help="tags").add_subparsers(dest="action", metavar="ACTION")
    tag.required = True
    te = tag.add_parser("expire", help="set or clear a tag's expiry")
    te.add_argument("repository")
    te.add_argument("tag")
    when = te.add_mutually_exclusive_group(required=True)
    when.add_argument("--after", metavar="DURATION", help="from now, e.g. 2h, 1d, 2w")
    when.add_argument("--at", metavar="TIME", help="RFC 3339, e.g. 2026-12-31T00:00:00Z")
    when.add_argument("--clear", action="store_true", help="the tag no longer expires")
    ret = cmds.add_parser("retention", help="apply retention rules now (or --dry-run: report only)")
    ret.add_argument("repository", nargs="?", help="one repository (default: every one, global admins)")
    ret.add_argument("--dry-run", action="store_true", help="report what would be deleted, delete nothing")
    g = cmds.add_parser("gc", help="collect garbage: blobs nothing references (global admins)")
    g.add_argument("--dry-run", action="store_true", help="report what would be collected, delete nothing")
    g.add_argument("--grace", type=int, metavar="SECONDS", help="keep what became unreferenced less than "
                   "this long ago (default: the registry's REGISTRY_GC_GRACE, 86400; 0: collect at once)")
    g.add_argument("--sweep-orphans", action="store_true", help="also delete objects under blobs/ that no blob "
                   "record names, older than max(grace, upload TTL) (lists the bucket's blobs/: costs grow "
                   "with the registry)")
    q = cmds.add_parser("quota", help="a namespace's storage quota").add_subparsers(dest="action", metavar="ACTION")
    q.required = True
    q.add_parser("show", help="limits and bytes stored").add_argument("namespace")
    qs = q.add_parser("set", help="set the limits (global admins); 'none' removes one")
    qs.add_argument("namespace")
    qs.add_argument("--quota", metavar="SIZE", help="refuse pushes beyond this (e.g. 10GiB)")
    qs.add_argument("--soft", metavar="SIZE", help="warn beyond this")
    # also accepted after the command (`gc --registry URL`)
    g.add_argument("--registry", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _pair(value: str, kind: Callable[[str], Any], option: str) -> tuple[str, Any]:
    pattern, sep, num = value.rpartition("=")
    try:
        if not sep or not pattern:
            raise ValueError
        return pattern, kind(num)
    except ValueError:
        raise ClientError(f"{option} wants PATTERN=NUMBER, not {value!r}") from None


def _policy_doc(args: argparse.Namespace) -> dict:
    if args.file:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            try:
                with open(args.file, encoding="utf-8") as f:
                    text = f.read()
            except OSError as exc:
                raise ClientError(f"{args.file}: {exc.strerror}") from None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ClientError(f"{args.file}: not JSON: {exc}") from None
    doc: dict = {}
    if args.immutable:
        doc["immutableTags"] = args.immutable
    if args.default_expiry:
        doc["defaultExpiry"] = args.default_expiry
    rules = [{"rule": "keep-last", "tags": p, "count": n}
             for p, n in (_pair(v, int, "--keep-last") for v in args.keep_last)]
    rules += [{"rule": "expire-tags", "tags": p, "days": d}
              for p, d in (_pair(v, float, "--expire-tags") for v in args.expire_tags)]
    if args.expire_untagged is not None:
        rules.append({"rule": "expire-untagged", "days": args.expire_untagged})
    if rules:
        doc["retention"] = rules
    return doc


def _report_text(doc: dict) -> str:
    reports = doc["retention"] if "retention" in doc and isinstance(doc["retention"], list) else [doc]
    verb = "would delete" if doc.get("dryRun") else "deleted"
    lines = [f"{verb} expired tag {e['repository']}:{e['tag']} (expired {e['expiresAt']})"
             for e in doc.get("expiredTags", [])]
    for r in reports:
        lines += [f"{verb} tag {r['repository']}:{t['tag']} ({t['reason']})" for t in r.get("tags", [])]
        lines += [f"{verb} manifest {r['repository']}@{m['digest']} ({m['reason']})" for m in r.get("manifests", [])]
        lines += [f"skipped {s.get('tag') or s.get('digest')}: {s['reason']}" for s in r.get("skipped", [])]
    return "\n".join(lines) or "nothing to delete"


def run(api: AdminClient, args: argparse.Namespace, out: Callable[[Any, str], None]) -> bool:
    """Carry out a lifecycle command; False when `args` is not one."""
    cmd, action = args.command, getattr(args, "action", None)
    if cmd == "policy":
        if action == "show":
            doc = get_policy(api, args.repository)
        else:
            doc = set_policy(api, args.repository, None if action == "clear" else _policy_doc(args))
        out(doc, json.dumps(doc["policy"], indent=2) + f"\n(revision {doc['revision']})")
    elif cmd == "tag" and action == "expire":
        doc = set_tag_expiry(api, args.repository, args.tag, after=args.after, at=args.at, clear=args.clear)
        out(doc, f"{doc['repository']}:{doc['tag']} " + (f"expires at {doc['expiresAt']}" if doc["expiresAt"]
                                                         else "no longer expires"))
    elif cmd == "retention":
        doc = retention(api, args.repository, args.dry_run)
        out(doc, _report_text(doc))
    elif cmd == "gc":
        doc = gc(api, args.dry_run, args.grace, args.sweep_orphans)
        out(doc, _gc_text(doc))
    elif cmd == "quota" and action == "show":
        _, _, raw = api.request("GET", f"/admin/quotas/{args.namespace}")
        doc = json.loads(raw)
        out(doc, _quota_text(doc))
    elif cmd == "quota" and action == "set":
        current = json.loads(api.request("GET", f"/admin/quotas/{args.namespace}")[2])
        body = {"quota": parse_size(args.quota) if args.quota is not None else current["quota"],
                "soft": parse_size(args.soft) if args.soft is not None else current["soft"]}
        doc = api._json("PUT", f"/admin/quotas/{args.namespace}", body)
        out(doc, _quota_text(doc))
    else:
        return False
    return True
