"""`python -m client` (or `regcli`): push, pull and copy images and artifacts with any OCI
registry, run the local push gateway, and manage this registry's users, namespaces, robots,
grants and visibility.

    regcli login registry.example.com --username alice --password-stdin < password.txt
    regcli push oci:./layout:v1 registry.example.com/alice/app:v1
    regcli push docker-archive:app.tar registry.example.com/alice/app:v1
    regcli push report.pdf registry.example.com/alice/docs:v1 --artifact-type application/vnd.acme.report
    regcli pull registry.example.com/alice/app:v1 oci:./out:v1
    regcli copy registry.example.com/alice/app:v1 other.example.com/alice/app:v1
    regcli gateway --registry https://registry.example.com --port 5001
    regcli --registry http://127.0.0.1:5000 --user admin --password ... <admin command>

The password can also come from REGISTRY_PASSWORD (better than the command
line, which other local users can see), the registry from REGISTRY_URL and the
user from REGISTRY_USER. Without a password, it is prompted for on a terminal.

Image commands (see `<command> --help`; credentials come from `login`, as docker's do):
  login URL [--username U] [--password-stdin]   check and store credentials like `docker login`
  logout URL
  push SOURCE... TARGET / pull SOURCE DEST / copy SOURCE TARGET   (--json lines for CI)
  gateway --registry URL [--port 5001]    stock clients push layers of any size through it

Admin commands:
  login                                   (no URL) check --user's credentials (fetches a token)
  token [--scope S ...] [--offline]       print a token (e.g. repository:acme/app:pull,push)
  user create NAME [--admin] [--password P]
  user password NAME [--password P]
  namespace create NAME [--owner USER]
  robot create NS NAME                    prints the robot's username and secret (shown once)
  robot rotate NS+NAME                    prints a new secret; the old one stops working
  robot revoke NS+NAME                    the robot can no longer log in
  grant ACCOUNT ROLE (--namespace NS | --repository REPO)    ROLE: read, write or admin
  revoke ACCOUNT (--namespace NS | --repository REPO)
  public REPO / private REPO              anonymous pulls allowed / refused
  policy show|set|clear REPO              tag policy: immutable tags, default expiry, retention
  tag expire REPO TAG (--after 2h | --at TIME | --clear)
  retention [REPO] [--dry-run]            apply retention rules now, or report what they would delete
  gc [--dry-run] [--grace SECONDS] [--sweep-orphans]   collect garbage: unreferenced blobs (global admins)
  quota show NS | quota set NS [--quota SIZE] [--soft SIZE]   namespace storage quota
  usage (--namespace NS [--from D] [--to D] | --day D) [--format table|json|csv]
                                          usage per day (docs/metering.md)
  webhook add NS URL [--event TYPE ...] / webhook list NS / webhook remove NS ID
                                          signed event deliveries (docs/events.md)

Exit status: 0 done, 1 refused by the registry (or unreachable), 2 usage error.
Add --json for machine-readable output.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Any, Optional, Sequence

from .api import ROLES, AdminClient, ClientError


def _parser() -> argparse.ArgumentParser:
    prog = "regcli" if os.path.basename(sys.argv[0] or "") == "regcli" else "python -m client"
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("Exit status")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Exit status" + __doc__.split("Exit status")[1])
    p.add_argument("--registry", default=os.environ.get("REGISTRY_URL"),
                   help="registry base URL, e.g. http://127.0.0.1:5000 (env REGISTRY_URL)")
    p.add_argument("--user", "-u", default=os.environ.get("REGISTRY_USER"),
                   help="your user (or robot) name (env REGISTRY_USER)")
    p.add_argument("--password", "-p", default=None, help="your password (env REGISTRY_PASSWORD)")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    cmds = p.add_subparsers(dest="command", metavar="COMMAND")
    cmds.required = True

    from .commands import add_parsers

    add_parsers(cmds)
    tok = cmds.add_parser("token", help="print a bearer token")
    tok.add_argument("--scope", action="append", default=[],
                     help="e.g. repository:acme/app:pull,push or registry:catalog:* (repeatable)")
    tok.add_argument("--offline", action="store_true", help="also ask for a refresh token")

    user = cmds.add_parser("user", help="users").add_subparsers(dest="action", metavar="ACTION")
    user.required = True
    uc = user.add_parser("create", help="create a user (and its namespace)")
    uc.add_argument("name")
    uc.add_argument("--admin", action="store_true", help="a global administrator")
    uc.add_argument("--password", dest="new_password", help="the new user's password (else prompted)")
    up = user.add_parser("password", help="set a user's password")
    up.add_argument("name")
    up.add_argument("--password", dest="new_password", help="the new password (else prompted)")

    ns = cmds.add_parser("namespace", help="namespaces").add_subparsers(dest="action", metavar="ACTION")
    ns.required = True
    nc = ns.add_parser("create", help="create an organisation namespace")
    nc.add_argument("name")
    nc.add_argument("--owner", help="user who gets the admin role on it (default: you)")

    robot = cmds.add_parser("robot", help="robot accounts").add_subparsers(dest="action", metavar="ACTION")
    robot.required = True
    rc = robot.add_parser("create", help="create robot NS+NAME")
    rc.add_argument("namespace")
    rc.add_argument("name")
    robot.add_parser("rotate", help="new secret for NS+NAME").add_argument("robot")
    robot.add_parser("revoke", help="disable NS+NAME").add_argument("robot")

    g = cmds.add_parser("grant", help="give an account a role")
    g.add_argument("account")
    g.add_argument("role", choices=ROLES)
    _target(g)
    r = cmds.add_parser("revoke", help="take an account's role away")
    r.add_argument("account")
    _target(r)

    cmds.add_parser("public", help="allow anonymous pulls of a repository").add_argument("repository")
    cmds.add_parser("private", help="require credentials to pull a repository").add_argument("repository")
    from .lifecycle import add_parsers as add_lifecycle_parsers

    add_lifecycle_parsers(cmds)
    from .usage import add_parsers as add_usage_parsers

    add_usage_parsers(cmds)
    return p


def _target(p: argparse.ArgumentParser) -> None:
    t = p.add_mutually_exclusive_group(required=True)
    t.add_argument("--namespace", help="on every repository of this namespace")
    t.add_argument("--repository", help="on this repository only")


def _new_password(given: Optional[str], who: str) -> str:
    if given:
        return given
    if not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            raise ClientError(f"no password for {who} (use --password or pipe it on stdin)")
        return line
    first = getpass.getpass(f"password for {who}: ")
    if first != getpass.getpass("again: "):
        raise ClientError("the passwords differ")
    return first


def _password(args: argparse.Namespace) -> Optional[str]:
    if args.password is not None:
        return args.password
    if os.environ.get("REGISTRY_PASSWORD") is not None:
        return os.environ["REGISTRY_PASSWORD"]
    if args.user and sys.stdin.isatty():
        return getpass.getpass(f"password for {args.user}: ")
    return None


def _out(args: argparse.Namespace, doc: Any, text: str) -> None:
    print(json.dumps(doc) if args.json else text)


def run(args: argparse.Namespace) -> None:
    """Carry out one parsed command (raises ClientError)."""
    from . import commands

    if args.command == "login" and args.url:
        return commands.login(args, _password(args) if not args.password_stdin else None)
    if args.command in ("push", "pull", "copy", "gateway", "logout"):
        return commands.run(args)
    if not args.registry:
        raise ClientError("no registry: give --registry URL or set REGISTRY_URL")
    if args.command == "login" and (args.username or args.password_stdin):
        args.user = args.username or args.user
        if args.password_stdin:
            args.password = sys.stdin.read().rstrip("\r\n")
    password = None
    if not args.user and args.password is None and os.environ.get("REGISTRY_PASSWORD") is None:
        stored = commands.stored_credentials(args.registry)  # from `login URL`, as docker keeps them
        if stored:
            args.user, password = stored
    needs_user = args.command != "token"
    if needs_user and not args.user:
        raise ClientError("give --user (or REGISTRY_USER), or `login URL` first")
    api = AdminClient(args.registry, args.user, password if password is not None else _password(args),
                      timeout=args.timeout)
    cmd, action = args.command, getattr(args, "action", None)
    from . import lifecycle

    if lifecycle.run(api, args, lambda doc, text: _out(args, doc, text)):
        return
    if cmd == "login":
        api.login()
        _out(args, {"username": args.user, "registry": api.base}, f"Login succeeded: {args.user} at {api.base}")
    elif cmd == "token":
        doc = api.token(args.scope, offline=args.offline)
        _out(args, doc, doc["token"])
    elif cmd == "user" and action == "create":
        api.create_user(args.name, _new_password(args.new_password, args.name), admin=args.admin)
        _out(args, {"username": args.name, "admin": args.admin},
             f"created {'administrator' if args.admin else 'user'} {args.name} (namespace {args.name})")
    elif cmd == "user" and action == "password":
        api.set_password(args.name, _new_password(args.new_password, args.name))
        _out(args, {"username": args.name}, f"password of {args.name} changed")
    elif cmd == "namespace":
        api.create_namespace(args.name, args.owner)
        owner = args.owner or args.user
        _out(args, {"name": args.name, "owner": owner}, f"created namespace {args.name} (owner {owner})")
    elif cmd == "robot" and action == "create":
        doc = api.create_robot(args.namespace, args.name)
        _out(args, doc, f"username: {doc['username']}\nsecret: {doc['secret']}")
        if not args.json:
            print("(store the secret now: it cannot be shown again; grant the robot a role next)",
                  file=sys.stderr)
    elif cmd == "robot" and action == "rotate":
        doc = api.rotate_robot(args.robot)
        _out(args, doc, f"username: {doc['username']}\nsecret: {doc['secret']}")
    elif cmd == "robot" and action == "revoke":
        api.revoke_robot(args.robot)
        _out(args, {"username": args.robot, "revoked": True}, f"revoked {args.robot}")
    elif cmd == "grant":
        api.grant(args.account, args.role, namespace=args.namespace, repository=args.repository)
        where = f"namespace {args.namespace}" if args.namespace else f"repository {args.repository}"
        _out(args, {"account": args.account, "role": args.role, "namespace": args.namespace,
                    "repository": args.repository}, f"{args.account}: {args.role} on {where}")
    elif cmd == "revoke":
        api.revoke(args.account, namespace=args.namespace, repository=args.repository)
        where = f"namespace {args.namespace}" if args.namespace else f"repository {args.repository}"
        _out(args, {"account": args.account, "namespace": args.namespace, "repository": args.repository},
             f"{args.account}: no role on {where}")
    elif cmd in ("usage", "webhook"):
        from . import usage

        usage.run(api, args)
    elif cmd in ("public", "private"):
        api.set_public(args.repository, cmd == "public")
        _out(args, {"repository": args.repository, "public": cmd == "public"},
             f"{args.repository} is now {cmd}")
    else:  # pragma: no cover - argparse rejects unknown commands
        raise ClientError(f"unknown command {cmd}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        run(args)
    except ClientError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
