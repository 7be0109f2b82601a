"""The deployed table definition matches the pynamodb models it serves."""
from __future__ import annotations

import json
from pathlib import Path

from chalicelib.storage.dynamo import Item

ROOT = Path(__file__).resolve().parents[2]


def test_table_in_template_matches_models():
    template = json.loads((ROOT / "infra" / "resources.json").read_text())
    table = template["Resources"]["RegistryTable"]["Properties"]
    schema = Item._get_schema()
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == \
        {k["AttributeName"]: k["KeyType"] for k in schema["key_schema"]}
    model_indexes = {i["index_name"]: i for i in schema["global_secondary_indexes"]}
    for gsi in table["GlobalSecondaryIndexes"]:
        model = model_indexes[gsi["IndexName"]]
        assert gsi["KeySchema"] == [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]}
                                    for k in model["key_schema"]]
        assert gsi["Projection"]["ProjectionType"] == model["projection"]["ProjectionType"]
        assert sorted(gsi["Projection"].get("NonKeyAttributes", [])) == \
            sorted(model["projection"].get("NonKeyAttributes", []))
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}


def test_binary_media_type_and_catch_all_route():
    import app

    assert app.app.api.binary_types == ["*/*"]
    assert {"/v2", "/v2/_catalog", "/v2/{proxy+}", "/token"} <= set(app.app.routes)
    assert not [r for r in app.app.routes if r.startswith("/v2/") and "{" in r and r != "/v2/{proxy+}"]


def test_token_signing_key_is_in_kms_and_wired():
    template = json.loads((ROOT / "infra" / "resources.json").read_text())
    key = template["Resources"]["TokenKey"]["Properties"]
    assert key["KeySpec"] == "ECC_NIST_P256" and key["KeyUsage"] == "SIGN_VERIFY"
    env = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert env["REGISTRY_KMS_KEY_ID"] == {"Ref": "TokenKey"}
    for stage in ("dev", "prod"):
        policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
        actions = {a for s in policy["Statement"] for a in s["Action"]}
        assert {"kms:Sign", "kms:GetPublicKey", "dynamodb:ConditionCheckItem", "s3:PutObject"} <= actions
