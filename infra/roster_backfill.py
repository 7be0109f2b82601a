"""One-off backfill of the namespace roster (NS#<ns>/MEMBER#…, ROBOT#…) from grants and
robots written before the roster existed: they work for the API but the admin page, which
reads only the roster, does not list them.

One Scan of the account items (USER#…); each missing roster entry is written in a
transaction that also checks its source item is still what was read (a grant with the same
role, a robot with the same revoked flag), so a grant removed or a robot revoked meanwhile
is never resurrected or shown stale, and an entry already there is never overwritten. A
marker item records the run: `local` runs it once at start, `python -m infra.admin
--backfill-roster` on a deployment. Not in chalicelib/: the function never runs it, so its
role gets no Scan permission (infra/policy.py derives the role from chalicelib's calls).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.storage import keys
from chalicelib.storage.accounts_dynamo import RosterItem, _grant_ns, _robot_ns
from chalicelib.storage.dynamo import AccountItem, _connection, _reasons, conditional

MARKER_PK = "SETUP#roster-backfill"


@dataclass
class BackfillCounts:
    members: int = 0   # roster entries written for grants
    robots: int = 0    # roster entries written for robots
    skipped: int = 0   # already there, or the source changed while the run read it


def _put_if(source: AccountItem, source_cond: object, entry: RosterItem) -> bool:
    """Write `entry` when absent and `source` still matches; False when either check failed."""
    try:
        with TransactWrite(connection=_connection()) as t:
            t.condition_check(AccountItem, source.pk, source.sk, condition=source_cond)
            t.save(entry, condition=RosterItem.pk.does_not_exist())
        return True
    except TransactWriteError as err:
        if "ConditionalCheckFailed" in _reasons(err):
            return False
        raise


def backfill_roster() -> BackfillCounts:
    """Add the roster entries missing for existing grants and robots; safe to run again."""
    out = BackfillCounts()
    for it in AccountItem.scan(AccountItem.pk.startswith("USER#")):
        name = it.pk[len(keys.user_pk("")):]
        if it.sk.startswith(keys.GRANT_PREFIX) and it.role:
            kind, _, target = it.sk[len(keys.GRANT_PREFIX):].partition("#")
            if kind not in ("NS", "REPO"):
                continue
            ns, repo = _grant_ns(kind, target)
            entry = RosterItem(keys.namespace_pk(ns), keys.member_sk(name, repo), account=name, role=it.role,
                               repository=repo)
            if _put_if(it, AccountItem.role == it.role, entry):
                out.members += 1
            else:
                out.skipped += 1
        elif it.sk == keys.META_SK and it.robot_namespace and _robot_ns(name):
            revoked = bool(it.revoked)
            cond = (AccountItem.revoked == True) if revoked else (  # noqa: E712 - a condition, not a test
                AccountItem.revoked.does_not_exist() | (AccountItem.revoked == False))  # noqa: E712
            entry = RosterItem(keys.namespace_pk(it.robot_namespace), keys.robot_sk(name), account=name,
                               revoked=revoked, created=int(it.created) if it.created is not None else None)
            if _put_if(it, AccountItem.pk.exists() & cond, entry):
                out.robots += 1
            else:
                out.skipped += 1
    return out


def backfill_roster_once() -> bool:
    """Run the backfill unless its marker says it ran; True when it ran now."""
    if AccountItem.count(MARKER_PK, AccountItem.sk == keys.META_SK, consistent_read=True) > 0:
        return False
    backfill_roster()
    marker = AccountItem(MARKER_PK, keys.META_SK, created=int(time.time()))
    conditional(lambda: marker.save(condition=AccountItem.pk.does_not_exist()))
    return True
