"""View models of the namespace admin page's lifecycle sections: tag policies (immutability,
default expiry, retention rules), the last days' usage and the quota, with the quota form's
size parsing (pure)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from ..oci.errors import RegistryError
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


@dataclass
class QuotaView:
    quota: str
    soft: str
    stored: str
    percent: str            # of the hard limit, "-" without one
    over_soft: bool
    over_quota: bool
    quota_bytes: str        # the raw numbers, to pre-fill the global admin's form
    soft_bytes: str


def quota_view(doc: dict) -> QuotaView:
    """A `domain.quotas.as_doc` document in words."""
    quota, soft, stored = doc.get("quota"), doc.get("soft"), int(doc.get("stored") or 0)
    percent = f"{100 * stored / quota:.1f}%" if quota else ("-" if quota is None else "100.0%")
    return QuotaView(human_size(quota) if quota is not None else "none", human_size(soft) if soft is not None
                     else "none", f"{human_size(stored)} ({stored} bytes)", percent, bool(doc.get("overSoft")),
                     bool(doc.get("overQuota")), "" if quota is None else str(quota),
                     "" if soft is None else str(soft))


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)([KMGT]I?B|B)?")
MAX_LIMIT = 2 ** 60   # as PUT /admin/quotas accepts


def parse_limit(text: str, name: str) -> Optional[int]:
    """A form's size (`10GiB`, `500MB`, `1234` bytes); empty or `none` clears the limit."""
    t = text.strip().upper().replace(" ", "")
    if t in ("", "NONE", "-"):
        return None
    m = SIZE_RE.fullmatch(t)
    value = int(float(m.group(1)) * _UNITS[m.group(2) or ""]) if m else -1
    if not 0 <= value <= MAX_LIMIT:
        raise RegistryError("UNSUPPORTED", {"field": name, "reason": f"{name} must be a size such as 500MB, "
                                            "10GiB or 1234 (bytes), or empty for none"}, status=400)
    return value
