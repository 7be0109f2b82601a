"""The synthesised SAM templates, one per front door (and with a custom domain).

`chalice package` runs once per session (it builds the real Lambda zip) and
cfn-lint checks every template once; the checks below read the JSON.
"""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.storage.dynamo import Item
from infra import policy, synth
from infra.settings import FRONTS, DeploySettings, SettingError

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = dict(domain="registry.example.com", hosted_zone_id="Z0123456789ABC")
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0f3c5d2e-1111-2222-3333-444455556666"


@pytest.fixture(scope="module")
def synthesised(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("infra-out")
    sam = synth.package("dev", out)
    paths = {}
    for front in FRONTS:
        paths[front] = synth.write(sam, DeploySettings(front=front), out / "plain")
        paths[f"{front}+domain"] = synth.write(sam, DeploySettings(front=front, **DOMAIN), out / "domain")
    paths["function-url+cert"] = synth.write(sam, DeploySettings(domain="r.example.org", certificate_arn=CERT),
                                             out / "cert")
    return paths


@pytest.fixture(scope="module")
def templates(synthesised) -> dict[str, dict[str, Any]]:
    return {k: json.loads(p.read_text()) for k, p in synthesised.items()}


def _of_type(t: dict, kind: str) -> dict[str, dict]:
    return {k: r for k, r in t["Resources"].items() if r["Type"] == kind}


def _names(value: Any) -> set[str]:
    """Logical ids an intrinsic refers to (Ref, GetAtt, ${X} and ${X.Attr} in Sub)."""
    import re

    if isinstance(value, dict):
        if "Ref" in value:
            return {value["Ref"]}
        if "Fn::GetAtt" in value:
            return {value["Fn::GetAtt"][0]}
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            return {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text) if not m.startswith("AWS::")}
    return set()


def test_cfn_lint_clean_for_every_front_door_and_domain(synthesised):
    lint = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), *map(str, synthesised.values())],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_table_keys_indexes_ttl_pitr_on_demand(templates):
    for t in templates.values():
        (table,) = _of_type(t, "AWS::DynamoDB::Table").values()
        p = table["Properties"]
        assert p["KeySchema"] == [{"AttributeName": "PK", "KeyType": "HASH"},
                                  {"AttributeName": "SK", "KeyType": "RANGE"}]
        schema = Item._get_schema()
        model = {g["index_name"]: g for g in schema["global_secondary_indexes"]}
        assert sorted(g["IndexName"] for g in p["GlobalSecondaryIndexes"]) == ["catalog", "garbage", "referrers"]
        for gsi in p["GlobalSecondaryIndexes"]:
            m = model[gsi["IndexName"]]
            assert gsi["KeySchema"] == m["key_schema"]
            assert gsi["Projection"]["ProjectionType"] == m["projection"]["ProjectionType"]
            assert sorted(gsi["Projection"]["NonKeyAttributes"]) == sorted(m["projection"]["NonKeyAttributes"])
        assert p["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
        assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert p["BillingMode"] == "PAY_PER_REQUEST"
        assert table["DeletionPolicy"] == "Retain"


def test_bucket_private_encrypted_tls_only_with_upload_lifecycle(templates):
    for t in templates.values():
        bucket = t["Resources"]["BlobBucket"]["Properties"]
        assert bucket["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True}
        assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        rule, anywhere = bucket["LifecycleConfiguration"]["Rules"]
        assert rule["Prefix"] == "uploads/" and rule["Status"] == "Enabled"
        assert rule["ExpirationInDays"] == 2 and rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 2
        # abandoned multipart copies into blobs/ (large direct uploads) are aborted too, never expired
        assert "Prefix" not in anywhere and "ExpirationInDays" not in anywhere
        assert anywhere["Status"] == "Enabled" and anywhere["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 2
        (stmt,) = t["Resources"]["BlobBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        assert stmt["Effect"] == "Deny" and stmt["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert {n for r in stmt["Resource"] for n in _names(r)} == {"BlobBucket"}
        assert len(stmt["Resource"]) == 2  # the bucket and every object in it


def _policies(t: dict) -> list[tuple[str, dict]]:
    out = []
    for rid, r in t["Resources"].items():
        p = r.get("Properties", {})
        for pol in p.get("Policies", []):
            out.append((rid, pol["PolicyDocument"]))
        for key in ("PolicyDocument", "KeyPolicy"):
            if key in p:
                out.append((rid, p[key]))
    return out


def test_no_wildcard_actions_or_resources_only_this_stacks_resources(templates):
    for name, t in templates.items():
        docs = _policies(t)
        assert {rid for rid, _ in docs} >= {"FunctionRole", "BlobBucketPolicy", "TokenKey"}, name
        for rid, doc in docs:
            for stmt in doc["Statement"]:
                actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
                resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
                if stmt["Effect"] == "Deny":  # a deny may be broad; it must be conditional
                    assert stmt.get("Condition"), (name, rid, stmt)
                    continue
                assert all("*" not in a for a in actions), (name, rid, stmt)
                if rid == "TokenKey":  # in a key policy "*" is the key itself
                    assert resources == ["*"] and "iam::${AWS::AccountId}:root" in \
                        stmt["Principal"]["AWS"]["Fn::Sub"]
                    continue
                for res in resources:
                    assert isinstance(res, dict), (name, rid, res)  # no literal ARN, no "*"
                    assert _names(res) and _names(res) <= set(t["Resources"]), (name, rid, res)


def test_function_role_allows_exactly_what_the_code_calls(templates):
    needed = policy.required_actions(policy.scan(policy.deployed_sources()))
    for t in templates.values():
        stmts = t["Resources"]["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        by_sid = {s["Sid"]: s for s in stmts}
        assert set(by_sid["Table"]["Action"]) == needed["dynamodb"]
        assert set(by_sid["BlobObjects"]["Action"]) == needed["s3"] - {"s3:ListBucket"}
        # the orphan sweep lists blobs/ only (a bucket-level action, limited by prefix)
        assert by_sid["BlobListing"]["Action"] == ["s3:ListBucket"] and "s3:ListBucket" in needed["s3"]
        assert by_sid["BlobListing"]["Resource"] == [{"Fn::GetAtt": ["BlobBucket", "Arn"]}]
        assert by_sid["BlobListing"]["Condition"] == {"StringLike": {"s3:prefix": ["blobs/*"]}}
        assert set(by_sid["TokenSigning"]["Action"]) == needed["kms"] == {"kms:Sign", "kms:GetPublicKey"}
        assert [r["Fn::Sub"] for r in by_sid["BlobObjects"]["Resource"]] == [
            "${BlobBucket.Arn}/blobs/*", "${BlobBucket.Arn}/manifests/*", "${BlobBucket.Arn}/uploads/*"]
        assert sorted(r["Fn::Sub"] for r in by_sid["TableIndexes"]["Resource"]) == [
            "${RegistryTable.Arn}/index/catalog", "${RegistryTable.Arn}/index/garbage",
                "${RegistryTable.Arn}/index/referrers"]
        assert by_sid["TableIndexes"]["Action"] == ["dynamodb:Query"]
        assert by_sid["Logs"]["Resource"] == [{"Fn::GetAtt": ["FunctionLogs", "Arn"]}]
        # events (docs/events.md): PutEvents on the stack's own bus, named to the function
        assert set(by_sid["Events"]["Action"]) == needed["events"] == {"events:PutEvents"}
        assert by_sid["Events"]["Resource"] == [{"Fn::GetAtt": ["EventBus", "Arn"]}]
        assert t["Resources"]["EventBus"]["Type"] == "AWS::Events::EventBus"
        env = t["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
        assert env["REGISTRY_EVENT_BUS"] == {"Ref": "EventBus"}


def test_the_scan_follows_the_code(tmp_path):
    """A new call in the deployed code changes the policy; an unmapped one stops synth."""
    (tmp_path / "chalicelib").mkdir()
    (tmp_path / "app.py").write_text("")
    src = tmp_path / "chalicelib" / "store.py"
    src.write_text("class S:\n    def f(self):\n        return self._s3.head_object(Bucket=b, Key=k)\n"
                   "# self._kms.encrypt( in a comment does not count\n")
    assert policy.required_actions(policy.scan(policy.deployed_sources(tmp_path)))["s3"] == {"s3:GetObject"}
    src.write_text("def f(s3):\n    return s3.list_parts(Bucket=b), s3.generate_presigned_url('upload_part')\n")
    assert policy.required_actions(policy.scan(policy.deployed_sources(tmp_path)))["s3"] == \
        {"s3:ListMultipartUploadParts", "s3:PutObject"}
    src.write_text("import pynamodb\nclass S:\n    def f(self):\n        X.batch_write()\n"
                   "        return BlobItem.scan()\n")
    assert policy.required_actions(policy.scan(policy.deployed_sources(tmp_path)))["dynamodb"] == \
        {"dynamodb:Scan"}
    # a module using the models without importing pynamodb itself still counts
    src.write_text("from .dynamo import AccountItem\nclass S:\n    def f(self, item):\n"
                   "        item.delete()\n        return AccountItem.query(pk)\n")
    assert policy.required_actions(policy.scan(policy.deployed_sources(tmp_path)))["dynamodb"] == \
        {"dynamodb:Query", "dynamodb:DeleteItem"}
    src.write_text("class S:\n    def f(self):\n        return self._s3.list_object_versions(Bucket=b)\n")
    with pytest.raises(policy.UnknownOperation, match="list_object_versions"):
        policy.required_actions(policy.scan(policy.deployed_sources(tmp_path)))
    src.write_text("import pynamodb\nclass S:\n    def f(self):\n        return BlobItem.transact_get()\n")
    with pytest.raises(policy.UnknownOperation, match="transact_get"):
        policy.required_actions(policy.scan(policy.deployed_sources(tmp_path)))


def test_function_handler_architecture_role_logs_and_wiring(templates):
    for t in templates.values():
        fn = t["Resources"]["APIHandler"]["Properties"]
        assert fn["Handler"] == "app.handler"
        assert fn["Architectures"] == ["arm64"]
        assert fn["Role"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}
        assert fn["LoggingConfig"] == {"LogGroup": {"Ref": "FunctionLogs"}}
        assert t["Resources"]["FunctionLogs"]["Properties"]["RetentionInDays"] == 30
        env = fn["Environment"]["Variables"]
        assert env["REGISTRY_TABLE"] == {"Ref": "RegistryTable"}
        assert env["REGISTRY_BUCKET"] == {"Ref": "BlobBucket"}
        assert env["REGISTRY_KMS_KEY_ID"] == {"Ref": "TokenKey"}
        key = t["Resources"]["TokenKey"]["Properties"]
        assert key["KeySpec"] == "ECC_NIST_P256" and key["KeyUsage"] == "SIGN_VERIFY"
        assert not [r for r in t["Resources"].values() if r["Type"] == "AWS::IAM::Role"
                    and r is not t["Resources"]["FunctionRole"]]
        assert {"RegistryURL", "RegistryHost", "TableName", "BucketName"} <= set(t["Outputs"])


def test_scheduled_tag_lifecycle_run_is_wired_like_the_api_function(templates):
    for t in templates.values():
        run = t["Resources"]["TagLifecycleRun"]["Properties"]
        api = t["Resources"]["APIHandler"]["Properties"]
        assert run["Handler"] == "app.tag_lifecycle_run"
        assert run["Events"]["TagLifecycleRunEvent"] == {"Type": "Schedule",
                                                         "Properties": {"Schedule": "rate(1 hour)"}}
        assert run["Timeout"] == 900
        for key in ("Role", "Architectures", "LoggingConfig"):
            assert run[key] == api[key], key
        assert {k: run["Environment"]["Variables"][k] for k in ("REGISTRY_TABLE", "REGISTRY_BUCKET")} == \
            {"REGISTRY_TABLE": {"Ref": "RegistryTable"}, "REGISTRY_BUCKET": {"Ref": "BlobBucket"}}


def test_function_url_front_door(templates):
    t = templates["function-url"]
    assert not _of_type(t, "AWS::Serverless::Api") and not _of_type(t, "AWS::ApiGatewayV2::Api")
    (url,) = _of_type(t, "AWS::Lambda::Url").values()
    assert url["Properties"]["AuthType"] == "NONE" and url["Properties"]["InvokeMode"] == "BUFFERED"
    perms = {p["Properties"]["Action"]: p["Properties"] for p in _of_type(t, "AWS::Lambda::Permission").values()}
    assert perms["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "NONE"
    assert perms["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True
    assert t["Outputs"]["RegistryURL"]["Value"] == {"Fn::GetAtt": ["FunctionUrl", "FunctionUrl"]}


def test_http_api_front_door_default_stage_payload_2(templates):
    t = templates["http-api"]
    assert not _of_type(t, "AWS::Serverless::Api") and not _of_type(t, "AWS::Lambda::Url")
    (api,) = _of_type(t, "AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["ProtocolType"] == "HTTP"
    (integ,) = _of_type(t, "AWS::ApiGatewayV2::Integration").values()
    assert integ["Properties"]["PayloadFormatVersion"] == "2.0"
    assert integ["Properties"]["IntegrationType"] == "AWS_PROXY"
    (route,) = _of_type(t, "AWS::ApiGatewayV2::Route").values()
    (stage,) = _of_type(t, "AWS::ApiGatewayV2::Stage").values()
    assert route["Properties"]["RouteKey"] == "$default" and stage["Properties"]["StageName"] == "$default"
    assert t["Outputs"]["RegistryURL"]["Value"] == {"Fn::Sub": "${HttpApi.ApiEndpoint}/"}


def test_rest_front_door_is_chalices_api(templates):
    t = templates["rest"]
    api = t["Resources"]["RestAPI"]["Properties"]
    assert api["DefinitionBody"]["x-amazon-apigateway-binary-media-types"] == ["*/*"]
    assert api["EndpointConfiguration"] == "REGIONAL"
    assert "/api/" in t["Outputs"]["RegistryURL"]["Value"]["Fn::Sub"]  # stage in the path: needs a domain
    dom = templates["rest+domain"]["Resources"]["RestAPI"]["Properties"]
    assert dom["Domain"]["DomainName"] == "registry.example.com" and dom["Domain"]["BasePath"] == ["/"]
    assert dom["DisableExecuteApiEndpoint"] is True


def test_custom_domain_per_front_door(templates):
    for front in FRONTS:
        t = templates[f"{front}+domain"]
        env = t["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
        assert env["REGISTRY_PUBLIC_URL"] == "https://registry.example.com"
        assert t["Outputs"]["RegistryURL"]["Value"] == "https://registry.example.com/"
        assert t["Outputs"]["RegistryHost"]["Value"] == "registry.example.com"
        (cert,) = _of_type(t, "AWS::CertificateManager::Certificate").values()
        assert cert["Properties"]["ValidationMethod"] == "DNS"
    cf = templates["function-url+domain"]["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    assert cf["Aliases"] == ["registry.example.com"]
    assert set(cf["DefaultCacheBehavior"]["AllowedMethods"]) >= {"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"}
    assert cf["Origins"][0]["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    records = _of_type(templates["function-url+domain"], "AWS::Route53::RecordSet")
    assert {r["Properties"]["Type"] for r in records.values()} == {"A", "AAAA"}
    given = templates["function-url+cert"]
    assert not _of_type(given, "AWS::CertificateManager::Certificate")
    assert given["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["ViewerCertificate"][
        "AcmCertificateArn"] == CERT
    http = templates["http-api+domain"]["Resources"]
    assert http["HttpApiMapping"]["Properties"]["Stage"] == "$default"


@pytest.mark.parametrize("env, message", [
    ({"STAGE": "dev\n"}, "STAGE"),
    ({"STAGE": "Prod"}, "STAGE"),
    ({"FRONT": "alb"}, "FRONT"),
    ({"DOMAIN": "registry.example.com"}, "CERTIFICATE_ARN"),
    ({"DOMAIN": "bad_name.example.com", "HOSTED_ZONE_ID": "Z1"}, "DOMAIN"),
    ({"LOG_RETENTION_DAYS": "ten"}, "LOG_RETENTION_DAYS"),
    ({"CERTIFICATE_ARN": CERT}, "need DOMAIN"),
    ({"DOMAIN": "r.example.com", "CERTIFICATE_ARN": CERT.replace("us-east-1", "eu-west-1")}, "us-east-1"),
    ({"DOMAIN": "r.example.com", "HOSTED_ZONE_ID": "Z1", "AWS_REGION": "eu-west-1"}, "us-east-1"),
    ({"LOG_RETENTION_DAYS": "10"}, "LOG_RETENTION_DAYS"),
])
def test_bad_settings_are_refused(env, message):
    with pytest.raises(SettingError, match=message):
        DeploySettings.from_env(env)


def test_trailing_newlines_never_pass_validation():
    for bad in (dict(domain="r.example.com\n", hosted_zone_id="Z1"), dict(stage="dev\n"),
                dict(domain="r.example.com", certificate_arn=CERT + "\n"),
                dict(domain="r.example.com", hosted_zone_id="Z1\n")):
        with pytest.raises(SettingError):
            DeploySettings(**bad).validate()


def test_regional_certificate_is_fine_for_api_gateway_domains():
    s = DeploySettings.from_env({"FRONT": "http-api", "DOMAIN": "r.example.com", "AWS_REGION": "eu-west-1",
                                 "CERTIFICATE_ARN": CERT.replace("us-east-1", "eu-west-1")})
    assert s.front == "http-api" and s.stack_name == "oci-registry-dev"


def test_package_is_built_for_arm64(synthesised, tmp_path):
    zip_path = synthesised["function-url"].parents[2] / "dev" / "chalice" / "deployment.zip"
    synth.check_architecture(zip_path, "arm64")
    with zipfile.ZipFile(zip_path) as z:
        assert "app.py" in z.namelist() and any(n.startswith("chalicelib/") for n in z.namelist())
        assert not any(n.startswith(("tests/", "local/", "infra/", "bench/")) for n in z.namelist())
    fake = tmp_path / "x86.zip"
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr("mod/_ext.abi3.so", b"\x7fELF" + b"\0" * 14 + (62).to_bytes(2, "little"))
    with pytest.raises(SystemExit, match="not built for arm64"):
        synth.check_architecture(fake, "arm64")


def test_binary_media_type_and_catch_all_route():
    import app

    assert app.app.api.binary_types == ["*/*"]
    assert {"/v2", "/v2/_catalog", "/v2/{proxy+}", "/token"} <= set(app.app.routes)
    assert not [r for r in app.app.routes if r.startswith("/v2/") and "{" in r and r != "/v2/{proxy+}"]


def test_deploy_and_destroy_dry_runs_print_the_aws_cli_commands(synthesised, capsys, monkeypatch):
    from infra import deploy

    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/aws")
    s = DeploySettings(stage="dev", front="function-url", region="eu-west-1")
    assert deploy.deploy(s, dry_run=True, path=synthesised["function-url"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("+ ")]
    assert lines[0].startswith("+ /usr/bin/aws sts get-caller-identity")
    assert any("s3api create-bucket" in line and "LocationConstraint=eu-west-1" in line for line in lines)
    package = next(line for line in lines if "cloudformation package" in line)
    assert str(synthesised["function-url"]) in package and "--region eu-west-1" in package
    dep = next(line for line in lines if "cloudformation deploy" in line)
    for part in ("--stack-name oci-registry-dev", "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND",
                 "--no-fail-on-empty-changeset", "function-url.packaged.json"):
        assert part in dep
    assert deploy.destroy(s, dry_run=True) == 0
    out = capsys.readouterr().out
    assert "+ /usr/bin/aws cloudformation delete-stack --region eu-west-1 --stack-name oci-registry-dev" in out
    assert "wait stack-delete-complete" in out and "DeletionPolicy Retain" in out
