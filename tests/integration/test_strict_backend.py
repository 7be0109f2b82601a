"""The strict embedded backend checks what S3 checks: presigned URLs (signature, expiry),
SHA-256 checksums, credentials; and it answers on loopback only."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

pytestmark = pytest.mark.backends("strict")


def _blob_url(client, repo: str) -> tuple[str, bytes]:
    """Push a small image; return the presigned S3 URL the registry redirects a layer GET to."""
    _, body = client.push_image(repo, "v1", seed=repo)
    layer = json.loads(body)["layers"][0]["digest"]
    r = client.request("GET", f"/v2/{repo}/blobs/{layer}")
    assert r.status_code == 307, r.text
    data = requests.get(r.headers["Location"])
    assert data.status_code == 200 and hashlib.sha256(data.content).hexdigest() == layer.split(":")[1]
    return r.headers["Location"], data.content


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_presigned_url_with_one_signature_character_changed_is_refused(client, repo):
    url, _ = _blob_url(client, repo)
    sig = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    forged = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    r = requests.get(_with_query(url, **{"X-Amz-Signature": forged}))
    assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content


def test_presigned_url_with_a_longer_expiry_than_signed_is_refused(client, repo):
    url, _ = _blob_url(client, repo)
    r = requests.get(_with_query(url, **{"X-Amz-Expires": "604800"}))
    assert r.status_code == 403


def test_expired_presigned_url_is_refused(registry, client, repo):
    from chalicelib.http.inject import services

    url, content = _blob_url(client, repo)
    parts = urlsplit(url)
    bucket, key = parts.path.lstrip("/").split("/", 1)
    s3 = services().s3_client()  # the registry's own client and credentials
    short = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=1)
    time.sleep(2.5)
    r = requests.get(short)
    assert r.status_code == 403 and b"expired" in r.content.lower()
    fresh = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=60)
    assert requests.get(fresh).content == content


def test_presigned_url_for_one_object_does_not_open_another(client, repo):
    url, _ = _blob_url(client, repo)
    parts = urlsplit(url)
    other = parts._replace(path=parts.path.rsplit("/", 1)[0] + "/" + "0" * 64)
    assert requests.get(urlunsplit(other)).status_code == 403


def test_unsigned_requests_are_refused(registry, client, repo):
    url, _ = _blob_url(client, repo)
    parts = urlsplit(url)
    assert requests.get(urlunsplit(parts._replace(query=""))).status_code == 403
    assert requests.put(urlunsplit(parts._replace(path=parts.path + "x", query="")), data=b"x").status_code == 403


def test_presigned_put_checks_the_sha256_checksum(registry):
    from chalicelib.http.inject import services

    s3 = services().s3_client()
    bucket = services().settings.bucket_name
    body = b"the bytes the client declared"
    checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
    url = s3.generate_presigned_url("put_object", ExpiresIn=60, Params={
        "Bucket": bucket, "Key": "uploads/strict-checksum-test", "ChecksumSHA256": checksum})
    bad = requests.put(url, data=b"other bytes of another length", headers={"x-amz-checksum-sha256": checksum})
    assert bad.status_code == 400 and b"BadDigest" in bad.content
    good = requests.put(url, data=body, headers={"x-amz-checksum-sha256": checksum})
    assert good.status_code == 200, good.text
    assert s3.get_object(Bucket=bucket, Key="uploads/strict-checksum-test")["Body"].read() == body


def test_backends_listen_on_loopback_with_private_credentials(registry):
    data_dir = registry.data_dir
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(data_dir, "credentials.json")).st_mode) == 0o600
    ports = {registry.aws.s3_port, registry.aws.dynamodb_port}
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, port = local.split(":")
                if state == "0A" and int(port, 16) in ports:  # LISTEN
                    listening.add((addr, int(port, 16)))
    assert {p for _, p in listening} == ports
    loopback = {"0100007F", "0000000000000000FFFF00000100007F"}
    assert all(addr in loopback for addr, _ in listening), listening


@pytest.mark.parametrize("key_id", ["test", "000000000000", "configured"])
def test_s3_refuses_header_signed_requests_without_the_secret(registry, key_id):
    """ministack exempts its root keys from signature checks; our shim closes that, so a
    local user who knows no secret can neither list, read nor write objects."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from chalicelib.http.inject import services

    key = registry.aws.credentials.access_key_id if key_id == "configured" else key_id
    s3 = boto3.client("s3", endpoint_url=registry.aws.s3_url, region_name="us-east-1",
                      aws_access_key_id=key, aws_secret_access_key="not-the-secret",
                      config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                    retries={"max_attempts": 1}))
    bucket = services().settings.bucket_name
    for call in (lambda: s3.list_objects_v2(Bucket=bucket),
                 lambda: s3.put_object(Bucket=bucket, Key="blobs/sha256/" + "1" * 64, Body=b"x"),
                 lambda: s3.list_buckets()):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize("key_id", ["test", "AKIAIOSFODNN7EXAMPLE", "000000000000"])
def test_dynamodb_local_shows_another_key_id_an_empty_database(registry, key_id):
    """DynamoDB Local checks no signature, but keeps one database per access key id: without
    the generated id (only in the 0600 credentials file) the registry's table is not there."""
    import boto3

    from chalicelib.http.inject import services

    ours = services().dynamodb_client()
    table = services().settings.table_name
    assert table in ours.list_tables()["TableNames"]
    other = boto3.client("dynamodb", endpoint_url=registry.aws.dynamodb_url, region_name="us-east-1",
                         aws_access_key_id=key_id, aws_secret_access_key="whatever")
    assert table not in other.list_tables()["TableNames"]
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.scan(TableName=table)
