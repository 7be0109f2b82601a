"""The function's IAM policy: exactly the actions the deployed code calls.

The AWS operations are found in the deployed code itself (app.py and
chalicelib/), so a new boto3 or pynamodb call cannot ship without its
permission, and a permission nothing calls cannot stay. An operation missing
from the tables below stops `make synth` until someone decides what it needs.
Resources are this stack's table (and its named indexes), its bucket's key
prefixes (taken from chalicelib/storage/keys.py), its KMS key and its log group.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parents[1]

# boto3 client method -> IAM actions (S3 authorises multipart steps as PutObject,
# a copy as GetObject on the source and PutObject on the target).
BOTO3_ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "s3": {
        "put_object": ("s3:PutObject",),
        "get_object": ("s3:GetObject",),
        "head_object": ("s3:GetObject",),
        "delete_object": ("s3:DeleteObject",),
        "copy_object": ("s3:GetObject", "s3:PutObject"),
        # managed copy above 5 GiB: HeadObject, multipart with UploadPartCopy, abort on failure
        "copy": ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"),
        "create_multipart_upload": ("s3:PutObject",),
        "upload_part": ("s3:PutObject",),
        "upload_part_copy": ("s3:GetObject", "s3:PutObject"),
        "complete_multipart_upload": ("s3:PutObject",),
        "abort_multipart_upload": ("s3:AbortMultipartUpload",),
        "list_parts": ("s3:ListMultipartUploadParts",),
        "get_object_attributes": ("s3:GetObject", "s3:GetObjectAttributes"),
        # the orphan sweep (domain/gc_sweep.py): a bucket action, granted for blobs/ only
        "list_objects_v2": ("s3:ListBucket",),
    },
    "kms": {
        "sign": ("kms:Sign",),
        "get_public_key": ("kms:GetPublicKey",),
    },
    "events": {
        "put_events": ("events:PutEvents",),
    },
}
# A presigned URL acts with the function's credentials: the client's request
# needs the permission of the operation it was signed for.
PRESIGNED_ACTIONS = {"get_object": "s3:GetObject", "put_object": "s3:PutObject",
                     "upload_part": "s3:PutObject", "head_object": "s3:GetObject"}

# pynamodb model / transaction method -> DynamoDB action (transactions are
# authorised per contained action; TransactWriteItems is not an IAM action).
PYNAMODB_ACTIONS = {
    "get": "dynamodb:GetItem",
    "query": "dynamodb:Query",
    "count": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "batch_get": "dynamodb:BatchGetItem",
    "batch_write": "dynamodb:BatchWriteItem",
    "save": "dynamodb:PutItem",
    "update": "dynamodb:UpdateItem",
    "delete": "dynamodb:DeleteItem",
    "condition_check": "dynamodb:ConditionCheckItem",
}
# Called only by dynamo.create_table, which only the local server and tests use:
# the deployed table comes from the template.
LOCAL_ONLY = {"exists", "create_table", "update_time_to_live"}

# boto3 clients are held in names ending in s3/kms/events (`self._s3`, `s3`, `self._kms`,
# `events`): a convention of the adapters that this scan relies on.
_CLIENT_CALL = re.compile(r"(?:\bself\._|\b_?)(s3|kms|events)\.(\w+)\(")
_PRESIGN = re.compile(r"generate_presigned_url\(\s*(?:ClientMethod\s*=\s*)?[\"'](\w+)[\"']")
_MODEL_CALL = re.compile(r"\b[A-Z]\w*Item\.(\w+)\(")
_TRANSACTION_CALL = re.compile(r"\b(?:t|batch)\.(save|update|delete|condition_check)\(")
_INSTANCE_WRITE = re.compile(r"\)\.(save|update|delete)\(|\bitem\.(save|update|delete)\(")
_RAW_CLIENT = re.compile(r"\bclient\.(\w+)\(")
_USES_MODELS = re.compile(r"\bpynamodb\b|\b[A-Z]\w*Item\b")


class UnknownOperation(Exception):
    """The code calls an AWS operation this module has no permission mapping for."""


def deployed_sources(root: Path = ROOT) -> list[Path]:
    """What goes into the Lambda package (and so runs with the function's role)."""
    return [root / "app.py"] + sorted((root / "chalicelib").rglob("*.py"))


def _code(text: str) -> str:
    """Source without comments and docstring lines, so prose never counts as a call."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or stripped.startswith(('"""', "'''")):
            continue
        out.append(line.split("  #", 1)[0])
    return "\n".join(out)


def scan(files: Iterable[Path]) -> dict[str, set[str]]:
    """{service: {operation}} called by `files` (services: s3, kms, dynamodb, presign)."""
    found: dict[str, set[str]] = {"s3": set(), "kms": set(), "events": set(), "dynamodb": set(),
                                  "presign": set()}
    for path in files:
        text = _code(path.read_text())
        for service, op in _CLIENT_CALL.findall(text):
            found[service].add(op)
        found["presign"].update(_PRESIGN.findall(text))
        if not _USES_MODELS.search(text):  # model calls need a model (or pynamodb) in the file
            continue
        found["dynamodb"].update(op for op in _MODEL_CALL.findall(text) if not op.startswith("_"))
        found["dynamodb"].update(_TRANSACTION_CALL.findall(text))
        for a, b in _INSTANCE_WRITE.findall(text):
            found["dynamodb"].add(a or b)
        found["dynamodb"].update(op for op in _RAW_CLIENT.findall(text) if op in LOCAL_ONLY)
    found["dynamodb"] -= LOCAL_ONLY
    return found


def required_actions(found: dict[str, set[str]]) -> dict[str, set[str]]:
    """{"s3"|"kms"|"events"|"dynamodb": {IAM action}} for the scanned operations."""
    out: dict[str, set[str]] = {"s3": set(), "kms": set(), "events": set(), "dynamodb": set()}
    for service in ("s3", "kms", "events"):
        for op in found[service]:
            if op == "generate_presigned_url":
                continue
            if op not in BOTO3_ACTIONS[service]:
                raise UnknownOperation(f"{service}.{op}: add its IAM actions to infra/policy.py")
            out[service].update(BOTO3_ACTIONS[service][op])
    for op in found["presign"]:
        if op not in PRESIGNED_ACTIONS:
            raise UnknownOperation(f"presigned {op}: add its IAM action to infra/policy.py")
        out["s3"].add(PRESIGNED_ACTIONS[op])
    for op in found["dynamodb"]:
        if op not in PYNAMODB_ACTIONS:
            raise UnknownOperation(f"pynamodb {op}(): add its IAM action to infra/policy.py")
        out["dynamodb"].add(PYNAMODB_ACTIONS[op])
    return out


def s3_prefixes() -> list[str]:
    """The bucket's key prefixes, from the one module that builds keys."""
    from chalicelib.storage import keys

    digest = "sha256:" + "0" * 64
    prefixes = {keys.blob_key(digest).split("/", 1)[0], keys.manifest_key(digest).split("/", 1)[0],
                keys.UPLOADS_PREFIX.rstrip("/")}
    return sorted(prefixes)


def statements(actions: dict[str, set[str]], index_names: list[str]) -> list[dict[str, Any]]:
    """IAM statements naming only this stack's resources (logical ids below)."""
    table = {"Fn::GetAtt": ["RegistryTable", "Arn"]}
    out: list[dict[str, Any]] = []
    if actions["dynamodb"]:
        out.append({"Sid": "Table", "Effect": "Allow", "Action": sorted(actions["dynamodb"]),
                    "Resource": [table]})
        index_actions = sorted(a for a in actions["dynamodb"] if a in ("dynamodb:Query", "dynamodb:Scan"))
        if index_actions:
            out.append({"Sid": "TableIndexes", "Effect": "Allow", "Action": index_actions,
                        "Resource": [{"Fn::Sub": f"${{RegistryTable.Arn}}/index/{name}"}
                                     for name in index_names]})
    objects = sorted(a for a in actions["s3"] if a != "s3:ListBucket")
    if objects:
        out.append({"Sid": "BlobObjects", "Effect": "Allow", "Action": objects,
                    "Resource": [{"Fn::Sub": f"${{BlobBucket.Arn}}/{p}/*"} for p in s3_prefixes()]})
    if "s3:ListBucket" in actions["s3"]:   # listing the blob keys only (the orphan sweep)
        out.append({"Sid": "BlobListing", "Effect": "Allow", "Action": ["s3:ListBucket"],
                    "Resource": [{"Fn::GetAtt": ["BlobBucket", "Arn"]}],
                    "Condition": {"StringLike": {"s3:prefix": ["blobs/*"]}}})
    if actions["kms"]:
        out.append({"Sid": "TokenSigning", "Effect": "Allow", "Action": sorted(actions["kms"]),
                    "Resource": [{"Fn::GetAtt": ["TokenKey", "Arn"]}]})
    if actions.get("events"):
        out.append({"Sid": "Events", "Effect": "Allow", "Action": sorted(actions["events"]),
                    "Resource": [{"Fn::GetAtt": ["EventBus", "Arn"]}]})
    # The log group is the stack's own (LoggingConfig); Lambda writes streams into it.
    out.append({"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [{"Fn::GetAtt": ["FunctionLogs", "Arn"]}]})
    return out


def function_statements(index_names: list[str], root: Path = ROOT) -> list[dict[str, Any]]:
    """The function role's statements for the code under `root`."""
    return statements(required_actions(scan(deployed_sources(root))), index_names)
