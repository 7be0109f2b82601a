"""`make deploy` / `make destroy` with the user's AWS credentials (DRY_RUN=1: print only).

deploy: synthesise (offline), make sure an artifacts bucket exists for the
Lambda zip, then the AWS CLI's own `cloudformation package` and
`cloudformation deploy` (change sets, waits, no-op when nothing changed), and
print the stack's outputs. destroy: delete the stack and wait; the table and
the blob bucket are retained (DeletionPolicy) and their names printed.
The AWS CLI is the one on PATH, else a pinned copy installed into .tools/awscli.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

from . import synth
from .settings import ROOT, DeploySettings, SettingError

AWSCLI_VENV = ROOT / ".tools" / "awscli"


class Runner:
    """Runs AWS CLI commands, or only prints them in a dry run."""

    def __init__(self, dry_run: bool, aws: str) -> None:
        self.dry_run = dry_run
        self.aws = aws

    def __call__(self, *args: str, capture: bool = False, check: bool = True,
                 placeholder: str = "") -> Optional[str]:
        cmd = [self.aws, *args]
        print("+ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
        if self.dry_run:
            return placeholder
        done = subprocess.run(cmd, text=True, check=check, stdout=subprocess.PIPE if capture else None)
        if done.returncode != 0:
            return None
        return done.stdout.strip() if capture else ""


def aws_cli(dry_run: bool) -> str:
    """The `aws` executable: PATH, else a pinned copy in its own venv (it pins botocore)."""
    found = shutil.which("aws")
    if found or dry_run:
        return found or "aws"
    exe = AWSCLI_VENV / "bin" / "aws"
    if not exe.exists():
        print("[deploy] installing the AWS CLI into .tools/awscli", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(AWSCLI_VENV)], check=True)
        subprocess.run([str(AWSCLI_VENV / "bin" / "pip"), "install", "-q", "-r",
                        str(ROOT / "requirements-awscli.txt")], check=True)
    return str(exe)


def artifacts_bucket(run: Runner, s: DeploySettings) -> str:
    """A private bucket for the Lambda zip, one per account and region."""
    account = run("sts", "get-caller-identity", "--query", "Account", "--output", "text",
                  capture=True, placeholder="<account-id>")
    bucket = f"oci-registry-artifacts-{account}-{s.region}"
    if run("s3api", "head-bucket", "--bucket", bucket, check=False) is None or run.dry_run:
        create = ["s3api", "create-bucket", "--bucket", bucket, "--region", s.region]
        if s.region != "us-east-1":
            create += ["--create-bucket-configuration", f"LocationConstraint={s.region}"]
        if run.dry_run:
            print("  (only when the bucket does not exist yet:)")
        run(*create)
        run("s3api", "put-public-access-block", "--bucket", bucket, "--public-access-block-configuration",
            "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true")
    return bucket


def deploy(s: DeploySettings, dry_run: bool, path: Optional[Path] = None) -> int:
    """Deploy the template at `path` (default: synthesise it now)."""
    if path is None:
        path = synth.write(synth.package(s.stage), s)
        if synth.lint([path]):
            return 1
    run = Runner(dry_run, aws_cli(dry_run))
    bucket = artifacts_bucket(run, s)
    packaged = path.with_name(f"{s.front}.packaged.json")
    run("cloudformation", "package", "--region", s.region, "--template-file", str(path),
        "--s3-bucket", bucket, "--s3-prefix", s.stack_name, "--use-json",
        "--output-template-file", str(packaged))
    run("cloudformation", "deploy", "--region", s.region, "--template-file", str(packaged),
        "--stack-name", s.stack_name, "--s3-bucket", bucket, "--s3-prefix", s.stack_name,
        "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND", "--no-fail-on-empty-changeset",
        "--tags", "app=oci-registry", f"stage={s.stage}")
    outputs = run("cloudformation", "describe-stacks", "--region", s.region, "--stack-name", s.stack_name,
                  "--query", "Stacks[0].Outputs", "--output", "json", capture=True, placeholder="[]")
    values = {o["OutputKey"]: o["OutputValue"] for o in json.loads(outputs or "[]")}
    host = values.get("RegistryHost", "<RegistryHost output>")
    for key in ("RegistryURL", "RegistryHost", "FrontDoor", "TableName", "BucketName"):
        if key in values:
            print(f"{key:13} {values[key]}")
    print(f"\nnext: make admin STAGE={s.stage} USER=<name>   then   docker login {host}"
          + ("" if s.front != "rest" or s.domain else
             "\nnote: the REST API's own endpoint has the stage in its path; registry clients need DOMAIN"))
    return 0


def destroy(s: DeploySettings, dry_run: bool) -> int:
    run = Runner(dry_run, aws_cli(dry_run))
    outputs = run("cloudformation", "describe-stacks", "--region", s.region, "--stack-name", s.stack_name,
                  "--query", "Stacks[0].Outputs", "--output", "json", capture=True, check=False,
                  placeholder="[]")
    if outputs is None:
        print(f"destroy: no stack {s.stack_name} in {s.region}", file=sys.stderr)
        return 1
    values = {o["OutputKey"]: o["OutputValue"] for o in json.loads(outputs or "[]")}
    run("cloudformation", "delete-stack", "--region", s.region, "--stack-name", s.stack_name)
    run("cloudformation", "wait", "stack-delete-complete", "--region", s.region, "--stack-name", s.stack_name)
    table = values.get("TableName", "<TableName>")
    bucket = values.get("BucketName", "<BucketName>")
    print(f"\nstack {s.stack_name} deleted. Kept (DeletionPolicy Retain), with the registry's data:\n"
          f"  table  {table}\n  bucket {bucket}\n"
          f"to delete them too:\n  aws dynamodb delete-table --region {s.region} --table-name {table}\n"
          f"  aws s3 rb --region {s.region} s3://{bucket} --force")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ("deploy", "destroy"):
        print("usage: python -m infra.deploy deploy|destroy", file=sys.stderr)
        return 2
    try:
        s = DeploySettings.from_env()
    except SettingError as err:
        print(f"{args[0]}: {err}", file=sys.stderr)
        return 2
    dry_run = os.environ.get("DRY_RUN", "") not in ("", "0")
    if dry_run:
        print(f"[dry run] {args[0]} stack {s.stack_name} ({s.front}) in {s.region}: commands are printed, "
              "not run", flush=True)
    return (deploy if args[0] == "deploy" else destroy)(s, dry_run)


if __name__ == "__main__":
    sys.exit(main())
