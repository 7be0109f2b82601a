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
    from chalicelib.http.inject import services
    from chalicelib.storage import keys
    from chalicelib.storage.dynamo import Item

    services().metadata()
    services().dynamodb_client().update_item(
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
    """Each login window is its own item (THROTTLE#<key>#<window start>): a past window's
    item, still there because TTL deletes lazily, is never read again."""
    from chalicelib.http.inject import services
    from chalicelib.domain.accounts import FAILURE_WINDOW
    from chalicelib.storage import keys
    from chalicelib.storage.dynamo import Item

    left = FAILURE_WINDOW - time.time() % FAILURE_WINDOW
    if left < 15:
        time.sleep(left + 0.5)  # both requests below in the same window
    start = int(time.time()) // FAILURE_WINDOW * FAILURE_WINDOW
    user = f"ghost{uuid.uuid4().hex[:8]}"
    services().metadata()

    def full_window(window_start: int) -> None:
        services().dynamodb_client().put_item(TableName=Item.Meta.table_name, Item={
            "PK": {"S": keys.throttle_pk(f"user:{user}", window_start)}, "SK": {"S": keys.META_SK},
            "failures": {"N": "1000"}, "expires": {"N": str(window_start + FAILURE_WINDOW)}})

    token_url = f"{registry.url}/token"
    full_window(start - FAILURE_WINDOW)  # past, not yet deleted
    r = requests.get(token_url, params={"service": "oci-registry"}, auth=(user, "wrong"))
    assert r.status_code == 401, r.text  # checked: a wrong password, not a lock-out
    full_window(start)
    assert requests.get(token_url, params={"service": "oci-registry"}, auth=(user, "wrong")).status_code == 429
