"""View models of the namespace admin page's read-only lifecycle sections: tag policies
(immutability, default expiry, retention rules) and the last days' usage (pure)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .views import human_size

USAGE_DAYS = 7
# Repositories with a policy shown on the admin page (each costs one GetItem).
MAX_POLICIES = 20


@dataclass
class PolicyRow:
    repo: str
    immutable: list[str] = field(default_factory=list)
    default_expiry: str = "-"
    rules: list[str] = field(default_factory=list)


def _rule_text(rule: Any) -> str:
    if not isinstance(rule, dict):
        return "?"
    tags, days, count = rule.get("tags", "*"), rule.get("days"), rule.get("count")
    kind = rule.get("rule")
    if kind == "keep-last":
        return f"keep the last {count} tags matching {tags}"
    if kind == "expire-tags":
        return f"expire tags matching {tags} after {days:g} days" if isinstance(days, (int, float)) else "?"
    if kind == "expire-untagged":
        return f"delete untagged manifests after {days:g} days" if isinstance(days, (int, float)) else "?"
    return str(kind)


def policy_row(repo: str, doc: Any) -> PolicyRow:
    """One repository's policy document (as GET /admin/policies returns it) in words."""
    doc = doc if isinstance(doc, dict) else {}
    imm = doc.get("immutableTags") if isinstance(doc.get("immutableTags"), list) else []
    rules = doc.get("retention") if isinstance(doc.get("retention"), list) else []
    return PolicyRow(repo, [str(p) for p in imm], str(doc.get("defaultExpiry") or "-"),
                     [_rule_text(r) for r in rules])


@dataclass
class UsageView:
    days: list[tuple[str, int, int, int, str, str]]   # day, requests, pulls, pushes, served, uploaded
    totals: tuple[int, int, int, str, str]


def usage_view(rows: list) -> UsageView:
    """`storage.metering_ports.UsageRow`s, newest day first, with totals."""
    out = []
    tot = [0, 0, 0, 0, 0]
    for r in sorted(rows, key=lambda r: r.day, reverse=True):
        c = r.counts
        vals = [int(c.get(k, 0)) for k in ("requests", "pulls", "pushes", "bytes_served", "bytes_uploaded")]
        tot = [a + b for a, b in zip(tot, vals)]
        out.append((r.day, vals[0], vals[1], vals[2], human_size(vals[3]), human_size(vals[4])))
    return UsageView(out, (tot[0], tot[1], tot[2], human_size(tot[3]), human_size(tot[4])))
