"""The first half of `make deploy` for real, against moto: the AWS CLI creates the
artifacts bucket and `cloudformation package` uploads the Lambda zip and rewrites
the template. (moto cannot run the SAM transform, so `cloudformation deploy`
itself is covered by the dry run and cfn-lint only.)"""
from __future__ import annotations

import json

import boto3
import pytest
from moto.server import ThreadedMotoServer

from infra import deploy, synth
from infra.settings import DeploySettings


@pytest.fixture
def moto_endpoint(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(var, raising=False)
    yield url
    server.stop()


def test_artifacts_bucket_and_package_with_the_aws_cli(moto_endpoint, tmp_path, capsys):
    s = DeploySettings(stage="dev", front="function-url", region="us-east-1")
    template = synth.write(synth.package("dev", tmp_path), s, tmp_path)
    run = deploy.Runner(dry_run=False, aws=deploy.aws_cli(dry_run=False))
    bucket = deploy.artifacts_bucket(run, s)
    assert bucket == "oci-registry-artifacts-123456789012-us-east-1"  # moto's account id
    assert "create-bucket" in capsys.readouterr().out
    assert deploy.artifacts_bucket(run, s) == bucket  # exists now: not created again
    assert "create-bucket" not in capsys.readouterr().out
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())

    packaged = template.with_name("function-url.packaged.json")
    run("cloudformation", "package", "--region", s.region, "--template-file", str(template),
        "--s3-bucket", bucket, "--s3-prefix", s.stack_name, "--use-json",
        "--output-template-file", str(packaged))
    code_uri = json.loads(packaged.read_text())["Resources"]["APIHandler"]["Properties"]["CodeUri"]
    assert code_uri.startswith(f"s3://{bucket}/{s.stack_name}/")
    key = code_uri.split("/", 3)[3]
    size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    assert size == (tmp_path / "dev" / "deployment.zip").stat().st_size


def test_destroy_deletes_the_stack_and_names_what_it_keeps(moto_endpoint, capsys):
    from infra import template

    cfn = boto3.client("cloudformation", endpoint_url=moto_endpoint, region_name="us-east-1")
    body = {"Resources": {"RegistryTable": template.table_resource()},
            "Outputs": {"TableName": {"Value": {"Ref": "RegistryTable"}}, "BucketName": {"Value": "kept-bucket"}}}
    cfn.create_stack(StackName="oci-registry-qa", TemplateBody=json.dumps(body))
    table = {o["OutputKey"]: o["OutputValue"] for o in
             cfn.describe_stacks(StackName="oci-registry-qa")["Stacks"][0]["Outputs"]}["TableName"]
    s = DeploySettings(stage="qa", region="us-east-1")
    assert deploy.destroy(s, dry_run=False) == 0
    out = capsys.readouterr().out
    assert f"table  {table}" in out and "bucket kept-bucket" in out
    assert not [st for st in cfn.list_stacks()["StackSummaries"]
                if st["StackName"] == "oci-registry-qa" and st["StackStatus"] != "DELETE_COMPLETE"]
