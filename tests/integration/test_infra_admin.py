"""`make admin` (infra/admin.py) against moto: the stack's table, the domain's Accounts."""
from __future__ import annotations

import io
import json

import boto3
import pytest
from moto import mock_aws

from infra import admin, template


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Terminal(io.StringIO):
    def close(self) -> None:  # keep the text readable after `with`
        pass


@pytest.fixture
def deployed(monkeypatch):
    """A stack named like `make deploy` names it, whose table comes from the real template."""
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("STAGE", "qa")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("REGISTRY_TABLE", "unused")
    from support import table_binding

    with table_binding(), mock_aws():
        body = {"Resources": {"RegistryTable": template.table_resource()},
                "Outputs": {"TableName": {"Value": {"Ref": "RegistryTable"}}}}
        cfn = boto3.client("cloudformation", region_name="us-east-1")
        cfn.create_stack(StackName="oci-registry-qa", TemplateBody=json.dumps(body))
        yield admin.stack_outputs(cfn, "oci-registry-qa")["TableName"]


def _accounts(table: str):
    """The registry's Accounts on the deployed table (a container of this test's own)."""
    import dataclasses

    from chalicelib import container
    from chalicelib.config import Settings

    return container.build(dataclasses.replace(Settings.from_env(), table_name=table)).accounts()


def _login(table: str, user: str, password: str):
    return _accounts(table).login(user, password, "192.0.2.1")


def test_creates_the_first_admin_from_stdin_and_refuses_a_second(deployed, capsys):
    assert admin.main(["--user", "alice"], stdin=io.StringIO("correct horse battery\n")) == 0
    out = capsys.readouterr()
    assert "created administrator alice" in out.out and deployed in out.out
    assert "correct horse" not in out.out + out.err
    p = _login(deployed, "alice", "correct horse battery")
    assert p.admin and p.name == "alice"
    # One administrator only: another name, or the same one again, is refused.
    assert admin.main(["--user", "bob"], stdin=io.StringIO("another password\n")) == 1
    assert "administrator exists" in capsys.readouterr().err
    assert admin.main(["--user", "alice"], stdin=io.StringIO("another password\n")) == 1
    assert _accounts(deployed).store.get_account("bob") is None


def test_generated_password_goes_to_the_terminal_only(deployed, capsys):
    terminal = _Terminal()
    assert admin.main(["--user", "carol"], stdin=_Tty(), open_tty=lambda: terminal) == 0
    shown = terminal.getvalue()
    password = shown.rsplit(": ", 1)[1].strip()
    assert len(password) >= 20
    out = capsys.readouterr()
    assert password not in out.out + out.err
    assert _login(deployed, "carol", password).admin


@pytest.mark.parametrize("user, stdin, message", [
    ("Alice", "long enough password\n", "NAME_INVALID"),
    ("alice\n", "long enough password\n", "NAME_INVALID"),
    ("dave", "short\n", "at least 8"),
])
def test_bad_input_is_refused_and_nothing_is_written(deployed, capsys, user, stdin, message):
    assert admin.main(["--user", user], stdin=io.StringIO(stdin)) == 1
    assert message in capsys.readouterr().err
    # Still no administrator: a valid first one goes through afterwards.
    assert admin.main(["--user", "erin"], stdin=io.StringIO("long enough password\n")) == 0


def test_empty_stdin_and_missing_stack(deployed, monkeypatch):
    with pytest.raises(SystemExit, match="no password on stdin"):
        admin.main(["--user", "frank"], stdin=io.StringIO(""))
    monkeypatch.setenv("STAGE", "nosuchstage")
    assert admin.main(["--user", "frank"], stdin=io.StringIO("long enough password\n")) == 1


def test_names_with_a_trailing_newline_are_refused_everywhere(deployed):
    """`$` matches before a final newline: every name check must be a full match."""
    from chalicelib.oci.errors import RegistryError
    from chalicelib.oci.names import is_tag, validate_name

    assert admin.main(["--user", "root1"], stdin=io.StringIO("long enough password\n")) == 0
    acc = _accounts(deployed)
    root = acc.principal("root1")
    for call in (lambda: acc.create_user(root, "bob\n", "long enough password"),
                 lambda: acc.create_namespace(root, "team\n"),
                 lambda: acc.create_robot(root, "root1", "ci\n"),
                 lambda: validate_name("root1/app\n")):
        with pytest.raises(RegistryError):
            call()
    assert acc.store.get_account("bob\n") is None
    assert is_tag("latest") and not is_tag("latest\n")


def test_backfill_roster_lists_a_grant_made_before_the_roster(deployed, capsys):
    from chalicelib.storage import dynamo, keys

    assert admin.main(["--user", "erin"], stdin=io.StringIO("correct horse battery\n")) == 0
    store = _accounts(deployed).store
    store.create_account("frank", "h")
    dynamo.AccountItem(keys.user_pk("frank"), keys.grant_sk("NS", "erin"), role="write").save()  # no roster entry
    assert store.namespace_members("erin").members == []
    assert admin.main(["--backfill-roster"]) == 0
    assert "1 members, 0 robots written" in capsys.readouterr().out
    assert [(m.account, m.role) for m in store.namespace_members("erin").members] == [("frank", "write")]
