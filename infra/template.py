"""Builds the SAM template of one stage and front door from `chalice package`'s output.

Chalice packages the function (zip, runtime, memory, timeout, variables) and,
for the REST front door, the API; this module adds what the registry needs
around it: the table, the bucket, the signing key, the log group, the role with
exactly the code's permissions, and the front door chosen by the settings.
Pure: no AWS calls, no files (infra/synth.py writes the result).
"""
from __future__ import annotations

import copy
import math
from typing import Any

from . import fronts, policy
from .settings import ARCHITECTURE, DeploySettings, stage_value

FUNCTION = "APIHandler"          # Chalice's logical id for the app's function
HANDLER = "app.handler"          # the contract: REST 1.0 and payload 2.0 events alike
SCHEDULED_TIMEOUT = 900          # seconds: Lambda's maximum, for scheduled lifecycle runs
# Deployer-side KMS key administration (the key policy must let the account manage the key).
KEY_ADMIN_ACTIONS = sorted([
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:DeleteAlias", "kms:DescribeKey",
    "kms:DisableKey", "kms:EnableKey", "kms:GetKeyPolicy", "kms:GetPublicKey", "kms:ListGrants",
    "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:RetireGrant", "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion", "kms:Sign", "kms:TagResource", "kms:UntagResource",
    "kms:UpdateAlias", "kms:UpdateKeyDescription", "kms:Verify",
])


def table_resource() -> dict[str, Any]:
    """The table exactly as the pynamodb models declare it (keys, both GSIs), plus TTL and PITR."""
    from chalicelib.storage.dynamo import Item

    schema = Item._get_schema()
    attrs = [{"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
             for a in schema["attribute_definitions"]]
    gsis = []
    for g in sorted(schema["global_secondary_indexes"], key=lambda g: g["index_name"]):
        projection: dict[str, Any] = {"ProjectionType": g["projection"]["ProjectionType"]}
        if g["projection"].get("NonKeyAttributes"):
            projection["NonKeyAttributes"] = list(g["projection"]["NonKeyAttributes"])
        gsis.append({"IndexName": g["index_name"],
                     "KeySchema": [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]}
                                   for k in g["key_schema"]],
                     "Projection": projection})
    return {
        "Type": "AWS::DynamoDB::Table",
        # Registry data outlives the stack: `make destroy` leaves the table (and bucket).
        "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": sorted(attrs, key=lambda a: a["AttributeName"]),
            "KeySchema": [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]}
                          for k in schema["key_schema"]],
            "GlobalSecondaryIndexes": gsis,
            "TimeToLiveSpecification": {"AttributeName": "expires", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            # Encrypted at rest with DynamoDB's own key (the default): no KMS calls or charges.
        },
    }


def bucket_resources(upload_ttl_s: int) -> dict[str, Any]:
    """Private, encrypted, TLS-only; upload leftovers expire a day after their sessions."""
    days = math.ceil(upload_ttl_s / 86400) + 1
    bucket_arn = {"Fn::GetAtt": ["BlobBucket", "Arn"]}
    return {
        "BlobBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": {
                "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                   "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
                "LifecycleConfiguration": {"Rules": [{
                    "Id": "expire-upload-leftovers", "Status": "Enabled", "Prefix": "uploads/",
                    "ExpirationInDays": days,
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
                }, {
                    # Large direct uploads are promoted by a multipart copy into blobs/…;
                    # one abandoned midway must not bill its parts forever.
                    "Id": "abort-abandoned-multipart", "Status": "Enabled",
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
                }]},
            },
        },
        "BlobBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "BlobBucket"},
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    # Presigned URLs are https; anything else is refused outright.
                    "Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                    "Resource": [bucket_arn, {"Fn::Sub": "${BlobBucket.Arn}/*"}],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }]},
            },
        },
    }


def key_resource() -> dict[str, Any]:
    """The ES256 token-signing key; the private half never leaves KMS."""
    return {
        "Type": "AWS::KMS::Key",
        "Properties": {
            "Description": {"Fn::Sub": "${AWS::StackName}: signs the registry's bearer tokens (ES256)"},
            "KeySpec": "ECC_NIST_P256",
            "KeyUsage": "SIGN_VERIFY",
            "KeyPolicy": {"Version": "2012-10-17", "Statement": [{
                # In a key policy "Resource": "*" means this key; the account's IAM
                # policies (the function's role among them) decide who else may use it.
                "Sid": "AccountAdministersKey", "Effect": "Allow",
                "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
                "Action": KEY_ADMIN_ACTIONS, "Resource": "*",
            }]},
        },
    }


def role_resource(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "registry", "PolicyDocument": {
                "Version": "2012-10-17", "Statement": statements}}],
        },
    }


def build(sam: dict[str, Any], s: DeploySettings) -> dict[str, Any]:
    """The deployable template for `s` from Chalice's `sam.json`."""
    s.validate()
    t = copy.deepcopy(sam)
    res = t["Resources"]
    fn = res[FUNCTION]
    for chalice_only in ("ApiHandlerRole", "DefaultRole"):
        res.pop(chalice_only, None)
    t["Outputs"] = {}
    t["Description"] = f"Serverless OCI registry, stage {s.stage}, front door {s.front}"
    table = table_resource()
    res["RegistryTable"] = table
    upload_ttl = int(str(stage_value("environment_variables", s.stage, {}).get("REGISTRY_UPLOAD_TTL", 86400)))
    res.update(bucket_resources(upload_ttl))
    res["TokenKey"] = key_resource()
    # Registry events (docs/events.md): the function PutEvents here; rules and targets
    # (SQS, Step Functions, API destinations...) are the deployer's to add.
    res["EventBus"] = {"Type": "AWS::Events::EventBus",
                       "Properties": {"Name": {"Fn::Sub": "${AWS::StackName}-events"}}}
    res["FunctionLogs"] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": {"Fn::Sub": "/aws/lambda/${AWS::StackName}"},
                       "RetentionInDays": s.log_retention_days},
    }
    index_names = [g["IndexName"] for g in table["Properties"]["GlobalSecondaryIndexes"]]
    res["FunctionRole"] = role_resource(policy.function_statements(index_names))

    fn["Properties"]["Handler"] = HANDLER
    # Every function (the API's and the scheduled ones, e.g. the tag lifecycle run) gets
    # the same role, logs, architecture and settings; scheduled runs get Lambda's longest
    # timeout (they work through batches, not requests).
    for name, r in res.items():
        if r.get("Type") != "AWS::Serverless::Function":
            continue
        props = r["Properties"]
        props["Architectures"] = [ARCHITECTURE]
        props["Role"] = {"Fn::GetAtt": ["FunctionRole", "Arn"]}
        props["LoggingConfig"] = {"LogGroup": {"Ref": "FunctionLogs"}}
        if name != FUNCTION:
            props["Timeout"] = SCHEDULED_TIMEOUT
        env = props.setdefault("Environment", {}).setdefault("Variables", {})
        env.update({"REGISTRY_TABLE": {"Ref": "RegistryTable"}, "REGISTRY_BUCKET": {"Ref": "BlobBucket"},
                    "REGISTRY_KMS_KEY_ID": {"Ref": "TokenKey"},
                    "REGISTRY_EVENT_BUS": {"Ref": "EventBus"}})
        if s.domain:
            # Token realm and Location headers name the custom domain, not the AWS one.
            env["REGISTRY_PUBLIC_URL"] = f"https://{s.domain}"

    url = fronts.add(t, s)
    t["Outputs"] = {
        "RegistryURL": {"Description": "Base URL of the registry (https, /v2/ at its root)", "Value": url},
        "RegistryHost": {"Description": "What to give docker/helm/oras (host name, no scheme)",
                         "Value": s.domain or {"Fn::Select": [2, {"Fn::Split": ["/", url]}]}},
        "FrontDoor": {"Value": s.front},
        "Stage": {"Value": s.stage},
        "TableName": {"Value": {"Ref": "RegistryTable"}},
        "BucketName": {"Value": {"Ref": "BlobBucket"}},
        "TokenKeyId": {"Value": {"Ref": "TokenKey"}},
        "EventBusName": {"Value": {"Ref": "EventBus"}},
        "EventBusArn": {"Value": {"Fn::GetAtt": ["EventBus", "Arn"]}},
        "FunctionName": {"Value": {"Ref": FUNCTION}},
        "LogGroup": {"Value": {"Ref": "FunctionLogs"}},
        **t["Outputs"],
    }
    return t
