"""`make admin STAGE=dev USER=alice`: the first administrator of a deployment.

Runs with the deployer's AWS credentials: reads the table name from the
stack's outputs and creates the account through the registry's own Accounts
use case (one transaction with a marker item, so a second run, or a run after
an administrator exists, is refused). The password comes from stdin when it is
not a terminal; otherwise one is generated and written to the terminal only,
never to stdout or a log.

`python -m infra.admin --backfill-roster`: once, on a deployment whose grants and robots
predate the namespace roster (infra/roster_backfill.py), so the web UI lists them.
"""
from __future__ import annotations

import argparse
import secrets
import sys
from typing import Any, Callable, Optional, TextIO

from .settings import DeploySettings, SettingError


def stack_outputs(cfn: Any, stack: str) -> dict[str, str]:
    """The outputs of `stack` ({} when it has none)."""
    desc = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])}


def read_password(stdin: TextIO) -> tuple[str, bool]:
    """(password, generated): from a piped stdin, else a new one shown on the terminal."""
    if not stdin.isatty():
        line = stdin.readline().rstrip("\r\n")
        if not line:
            raise SystemExit("admin: no password on stdin (pipe one in, or run from a terminal to "
                             "have one generated)")
        return line, False
    return secrets.token_urlsafe(18), True


def _container(table: str, region: str) -> Any:
    """The registry's composition root on the deployed table (settings otherwise from the
    environment; nothing is written to it)."""
    import dataclasses

    from chalicelib import container
    from chalicelib.config import Settings

    return container.build(dataclasses.replace(Settings.from_env(), table_name=table, region=region))


def create_admin(user: str, password: str, table: str, region: str) -> None:
    """Create the first administrator in `table` with the registry's domain code."""
    _container(table, region).accounts().create_first_admin(user, password)


def backfill(table: str, region: str) -> str:
    """Write the roster entries missing for existing grants and robots in `table`."""
    from .roster_backfill import backfill_roster

    _container(table, region).metadata()  # binds the models to the table
    n = backfill_roster()
    return f"roster backfilled in {table}: {n.members} members, {n.robots} robots written, {n.skipped} skipped"


def main(argv: Optional[list[str]] = None, stdin: TextIO = sys.stdin,
         open_tty: Callable[[], TextIO] = lambda: open("/dev/tty", "w")) -> int:
    p = argparse.ArgumentParser(prog="python -m infra.admin")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--user", help="the administrator's user name")
    how.add_argument("--backfill-roster", action="store_true",
                     help="list grants and robots made before the namespace roster on the admin page")
    a = p.parse_args(argv)
    try:
        s = DeploySettings.from_env()
    except SettingError as err:
        print(f"admin: {err}", file=sys.stderr)
        return 2
    import boto3

    from botocore.exceptions import ClientError

    cfn = boto3.session.Session(region_name=s.region).client("cloudformation")
    try:
        table = stack_outputs(cfn, s.stack_name).get("TableName")
    except ClientError as err:
        print(f"admin: stack {s.stack_name} in {s.region}: {err.response['Error'].get('Message', err)}",
              file=sys.stderr)
        return 1
    if not table:
        print(f"admin: stack {s.stack_name} has no TableName output (deployed with `make deploy`?)",
              file=sys.stderr)
        return 1
    if a.backfill_roster:
        print(backfill(table, s.region))
        return 0
    password, generated = read_password(stdin)
    from chalicelib.oci.errors import RegistryError

    try:
        create_admin(a.user, password, table, s.region)
    except RegistryError as err:
        print(f"admin: {err.code}: {err.detail.get('reason', '') if isinstance(err.detail, dict) else ''}",
              file=sys.stderr)
        return 1
    print(f"created administrator {a.user} (namespace {a.user}) in {table}")
    if generated:
        with open_tty() as tty:  # the terminal only: never stdout, so never a CI log
            tty.write(f"password for {a.user} (shown once): {password}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
