"""No emulator deletes TTL-expired items promptly (AWS deletes lazily too): the
registry must treat an item past its `expires` as gone by itself. On both backends."""
from __future__ import annotations

import time
import uuid

import pytest
import requests

from support import sha256

pytestmark = pytest.mark.backends("memory", "strict")


def _set_expires(pk: str, when: int) -> None:
    from chalicelib import bootstrap
    from chalicelib.storage import keys
    from chalicelib.storage.dynamo import Item

    bootstrap.metadata()
    bootstrap.dynamodb_client().update_item(
        TableName=Item.Meta.table_name, Key={"PK": {"S": pk}, "SK": {"S": keys.META_SK}},
        UpdateExpression="SET expires = :e", ExpressionAttributeValues={":e": {"N": str(when)}},
        ConditionExpression="attribute_exists(PK)")


def test_expired_upload_session_is_unknown(client, repo):
    from chalicelib.storage import keys

    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    upload_id = location.split("?")[0].rstrip("/").rsplit("/", 1)[1]
    assert client.request("GET", location).status_code == 204
    _set_expires(keys.upload_pk(upload_id), int(time.time()) - 5)
    for method, kw in (("GET", {}), ("PATCH", {"data": b"late"}),
                       ("PUT", {"params": {"digest": sha256(b"late")}, "data": b"late"})):
        r = client.request(method, location, **kw)
        assert r.status_code == 404, (method, r.status_code, r.text)
        assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_expired_login_throttle_window_no_longer_counts(registry):
    from chalicelib import bootstrap
    from chalicelib.storage import keys
    from chalicelib.storage.dynamo import Item

    user = f"ghost{uuid.uuid4().hex[:8]}"
    bootstrap.metadata()
    bootstrap.dynamodb_client().put_item(TableName=Item.Meta.table_name, Item={
        "PK": {"S": keys.throttle_pk(f"user:{user}")}, "SK": {"S": keys.META_SK},
        "failures": {"N": "1000"}, "expires": {"N": str(int(time.time()) + 600)}})
    token_url = f"{registry.url}/token"
    assert requests.get(token_url, params={"service": "oci-registry"}, auth=(user, "wrong")).status_code == 429
    _set_expires(keys.throttle_pk(f"user:{user}"), int(time.time()) - 5)
    r = requests.get(token_url, params={"service": "oci-registry"}, auth=(user, "wrong"))
    assert r.status_code == 401, r.text  # checked again: a wrong password, not a lock-out
