"""The image commands of the CLI: login/logout (as `docker login`), push, pull, copy, gateway."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from .api import ClientError
from .auth import CredentialError, erase_credentials, store_credentials, verify_login
from .progress import Reporter

S = argparse.SUPPRESS
EPILOG = """image references: HOST[:PORT]/NAME[:TAG|@DIGEST] (loopback hosts use http, others https)
local images:     oci:DIR[:TAG] (OCI image layout), docker-archive:FILE[:NAME:TAG] (`docker save`)
artifacts:        push FILE[:MEDIATYPE]... REF --artifact-type TYPE; pull REF DIR"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", default=S, help="JSON lines on stdout (for CI)")
    p.add_argument("--plain-http", action="store_true", default=None,
                   help="use http:// even for non-loopback hosts")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def add_parsers(cmds: argparse._SubParsersAction) -> None:
    login = cmds.add_parser("login", help="log in like `docker login` (URL given) or check credentials")
    login.add_argument("url", nargs="?", help="registry, e.g. registry.example.com or http://127.0.0.1:5000; "
                       "the credentials are then stored as docker login stores them")
    login.add_argument("--username", default=None, help="user or robot name (default --user)")
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    logout = cmds.add_parser("logout", help="forget the stored credentials of a registry")
    logout.add_argument("url")

    push = cmds.add_parser("push", help="push an image or files to a registry", epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    push.add_argument("source", nargs="+", help="oci:DIR[:TAG], docker-archive:FILE, or files")
    push.add_argument("target", help="HOST/NAME[:TAG]")
    push.add_argument("--artifact-type", help="artifactType of a files push (like oras push)")
    push.add_argument("--annotation", "-a", action="append", default=[], metavar="KEY=VALUE",
                      help="manifest annotation of a files push (repeatable)")
    _transfer(push)
    pull = cmds.add_parser("pull", help="pull an image or artifact", epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    pull.add_argument("source", help="HOST/NAME[:TAG|@DIGEST]")
    pull.add_argument("dest", help="oci:DIR[:TAG], docker-archive:FILE, or a directory (artifact files)")
    pull.add_argument("--platform", default="linux/amd64", help="image of an index to pull (not for oci:)")
    _transfer(pull)
    copy = cmds.add_parser("copy", help="copy an image between repositories or registries")
    copy.add_argument("source")
    copy.add_argument("target")
    _transfer(copy)

    gw = cmds.add_parser("gateway", help="local push gateway: stock clients push any size through it")
    gw.add_argument("--registry", default=S, help="the registry to forward to (URL)")
    gw.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_PORT") or 5001))
    gw.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    gw.add_argument("--workers", type=int, default=8, help="parallel part uploads per blob (default 8)")
    gw.add_argument("--spool-dir", default=None, help="where upload bodies wait (default: the temp dir)")
    gw.add_argument("--json", action="store_true", default=S, help="a JSON line per upload on stdout")


def _transfer(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--workers", "-j", type=int, default=8, help="parallel part uploads per blob (default 8)")
    p.add_argument("--no-direct", action="store_true", help="never use the direct-to-S3 extension")
    p.add_argument("--chunk-size", type=int, default=4, metavar="MIB",
                   help="PATCH chunk size where no direct upload is offered (default 4 MiB)")
    p.add_argument("--limit-rate", type=float, default=None, metavar="MIB/S",
                   help="cap the upload rate of the whole command (MiB per second)")


def _host(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/").split("/")[0]


def stored_credentials(url: str) -> Optional[tuple[str, str]]:
    from .auth import find_credentials

    try:
        return find_credentials(_host(url))
    except CredentialError:
        return None


def _read_password(args: argparse.Namespace, fallback: Optional[str]) -> str:
    if args.password_stdin:
        pw = sys.stdin.read().rstrip("\r\n")
        if not pw:
            raise ClientError("--password-stdin: nothing on stdin")
        return pw
    if fallback is not None:
        return fallback
    import getpass

    if not sys.stdin.isatty():
        raise ClientError("give --password-stdin (or REGISTRY_PASSWORD)")
    return getpass.getpass("Password: ")


def login(args: argparse.Namespace, password: Optional[str]) -> None:
    user = args.username or args.user
    if not user:
        if not sys.stdin.isatty() or args.password_stdin:
            raise ClientError("give --username")
        user = input("Username: ")
    pw = _read_password(args, password)
    base = args.url if "://" in args.url else None
    host = _host(args.url)
    verify_login(base or host, (user, pw))
    try:
        where = store_credentials(host, user, pw)
    except (CredentialError, OSError) as err:
        raise ClientError(f"cannot store the credentials: {err}") from None
    _say(args, {"registry": host, "username": user, "stored": where}, f"Login Succeeded (stored in {where})")


def logout(args: argparse.Namespace) -> None:
    host = _host(args.url)
    try:
        found = erase_credentials(host)
    except (CredentialError, OSError) as err:
        raise ClientError(str(err)) from None
    _say(args, {"registry": host, "removed": found}, f"Removed login credentials for {host}" if found
         else f"Not logged in to {host}")


def _say(args: argparse.Namespace, doc: dict, text: str) -> None:
    import json

    print(json.dumps(doc) if getattr(args, "json", False) else text)


def _options(args: argparse.Namespace):
    from .transfer import Options

    rep = Reporter(json_lines=getattr(args, "json", False), quiet=args.quiet)
    return Options(workers=args.workers, plain_http=args.plain_http, direct=not args.no_direct, reporter=rep,
                   platform=getattr(args, "platform", "linux/amd64"), chunk=max(1, args.chunk_size) << 20,
                   limit_rate=args.limit_rate * (1 << 20) if args.limit_rate else None)


def run(args: argparse.Namespace) -> None:
    from . import transfer

    cmd = args.command
    if cmd == "push":
        sources, annotations = args.source, {}
        for a in args.annotation:
            key, sep, value = a.partition("=")
            if not sep or not key:
                raise ClientError(f"--annotation {a!r}: want KEY=VALUE")
            annotations[key] = value
        transfer.push(sources, args.target, _options(args), artifact_type=args.artifact_type,
                      annotations=annotations or None)
    elif cmd == "pull":
        transfer.pull(args.source, args.dest, _options(args))
    elif cmd == "copy":
        transfer.copy(args.source, args.target, _options(args))
    elif cmd == "gateway":
        from .gateway import serve

        if not args.registry:
            raise ClientError("gateway: give --registry URL (the registry to forward to)")
        serve(args.registry, args.host, args.port, workers=args.workers, spool_dir=args.spool_dir,
              json_lines=getattr(args, "json", False))
    elif cmd == "logout":
        logout(args)
