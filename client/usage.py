"""`usage` and `webhook` commands of the CLI (admin API: docs/metering.md, docs/events.md)."""
from __future__ import annotations

import argparse
import json
import sys

from .api import AdminClient

EVENT_TYPES = ("manifest.pushed", "manifest.deleted", "tag.deleted", "gc.collected", "quota.warning")
COLUMNS = ("day", "namespace", "requests", "pulls", "pushes", "bytes_served", "bytes_uploaded", "stored_bytes",
           "stored_byte_seconds", "stored_gb_months")


def add_parsers(cmds: argparse._SubParsersAction) -> None:
    u = cmds.add_parser("usage", help="usage per day: a namespace's days, or every namespace on one day")
    which = u.add_mutually_exclusive_group(required=True)
    which.add_argument("--namespace", help="the namespace (its admins and global admins)")
    which.add_argument("--day", help="yyyy-mm-dd: every namespace that day (global admins: billing export)")
    u.add_argument("--from", dest="first", help="first day, yyyy-mm-dd (default: the 1st of --to's month)")
    u.add_argument("--to", dest="last", help="last day, yyyy-mm-dd (default: today, UTC)")
    u.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="table (default), or the registry's JSON or CSV export as is")
    w = cmds.add_parser("webhook", help="a namespace's webhooks").add_subparsers(dest="action", metavar="ACTION")
    w.required = True
    wa = w.add_parser("add", help="add a webhook; prints its signing secret (shown once)")
    wa.add_argument("namespace")
    wa.add_argument("url")
    wa.add_argument("--event", action="append", choices=EVENT_TYPES, default=[],
                    help="only this event type (repeatable; default: every type)")
    w.add_parser("list", help="list a namespace's webhooks").add_argument("namespace")
    wr = w.add_parser("remove", help="remove a webhook")
    wr.add_argument("namespace")
    wr.add_argument("id")


def run(api: AdminClient, args: argparse.Namespace) -> None:
    if args.command == "usage":
        fmt = "csv" if args.format == "csv" else "json"
        raw = api.usage(args.namespace, args.first, args.last, args.day, fmt)
        if args.format == "table" and not args.json:
            rows = json.loads(raw)["rows"]
            widths = [max([len(c)] + [len(str(r[c])) for r in rows]) for c in COLUMNS]
            for line in [COLUMNS] + [tuple(str(r[c]) for c in COLUMNS) for r in rows]:
                print("  ".join(v.rjust(w) if i > 1 else v.ljust(w) for i, (v, w) in enumerate(zip(line, widths))))
        else:
            sys.stdout.write(raw.decode("utf-8") + ("" if fmt == "csv" else "\n"))
        return
    if args.action == "add":
        doc = api.add_webhook(args.namespace, args.url, args.event)
        print(json.dumps(doc) if args.json else f"id: {doc['id']}\nsecret: {doc['secret']}")
        if not args.json:
            print("(store the secret now: it verifies the X-Registry-Signature of each delivery and "
                  "cannot be shown again)", file=sys.stderr)
    elif args.action == "list":
        hooks = api.list_webhooks(args.namespace)
        print(json.dumps(hooks) if args.json else "\n".join(
            f"{h['id']}  {h['url']}  {','.join(h['events']) or '*'}" for h in hooks))
    else:
        api.remove_webhook(args.namespace, args.id)
        print(json.dumps({"id": args.id, "removed": True}) if args.json else f"removed webhook {args.id}")
