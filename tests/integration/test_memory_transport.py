"""The in-memory AWS's transports (local/inprocess.py, local/keepalive.py).

The SDK in the process that serves moto reaches it without a socket; everything
else (a presigned URL a real client fetches, another process) reaches it over HTTP
on connections that stay open. Both must give the SDK exactly what HTTP gives it.
"""
from __future__ import annotations

import hashlib
import http.client
import uuid

import boto3
import pytest
import requests
import urllib3.util.connection as urllib3_connection
from botocore.config import Config

from local import inprocess
from local.embedded import EmbeddedAWS


@pytest.fixture(scope="module")
def aws():
    server = EmbeddedAWS().start()
    yield server
    server.stop()


def _clients(url: str):
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    ddb = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")
    return s3, ddb


def _table(ddb) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    return name


def test_sdk_calls_reach_the_app_without_a_socket(aws, monkeypatch):
    s3, ddb = _clients(aws.url)
    table = _table(ddb)

    def no_sockets(*args, **kwargs):
        raise AssertionError("the SDK opened a connection to the in-memory AWS")

    monkeypatch.setattr(urllib3_connection, "create_connection", no_sockets)
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"]["v"] == {"N": "1"}
    # an AWS error arrives as the same modelled exception, status and code as over HTTP
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException) as failed:
        ddb.put_item(TableName=table, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    data = bytes(range(256)) * 1000
    s3.put_object(Bucket=bucket, Key="k", Body=data)
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["ContentLength"] == len(data)
    assert b"".join(got["Body"].iter_chunks(1000)) == data   # a streamed body, read in pieces
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == len(data)
    ranged = s3.get_object(Bucket=bucket, Key="k", Range="bytes=10-19")["Body"].read()
    assert ranged == data[10:20]
    with pytest.raises(s3.exceptions.ClientError) as missing:
        s3.head_object(Bucket=bucket, Key="absent")
    assert missing.value.response["Error"]["Code"] == "404"


def test_a_presigned_url_is_served_over_http_with_kept_alive_connections(aws):
    s3, _ = _clients(aws.url)
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    data = b"layer bytes " * 5000
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "blob"}, ExpiresIn=60)
    assert requests.put(put, data=data, timeout=10).status_code == 200
    get = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "blob"}, ExpiresIn=60)
    host, port = aws.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    path = get[len(aws.url):]
    for _ in range(3):   # one connection, three answers: kept open between requests
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200
        assert hashlib.sha256(resp.read()).hexdigest() == hashlib.sha256(data).hexdigest()
        assert not resp.will_close
    conn.request("HEAD", path)
    head = conn.getresponse()
    assert head.status == 200 and head.read() == b""
    assert int(head.headers["Content-Length"]) == len(data)   # HEAD names GET's size, sends no body
    # a chunked upload body (what a client streaming an unknown length sends)
    conn.request("PUT", s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "chunked"},
                                                  ExpiresIn=60)[len(aws.url):],
                 body=iter([b"abc", b"defg", b""]), encode_chunked=True)
    assert conn.getresponse().read() is not None
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == b"abcdefg"
    conn.close()


def test_other_endpoints_still_go_over_http(aws, monkeypatch):
    opened: list = []
    connect = urllib3_connection.create_connection
    monkeypatch.setattr(urllib3_connection, "create_connection",
                        lambda address, *a, **kw: opened.append(address) or connect(address, *a, **kw))
    other = EmbeddedAWS().start()
    inprocess.unroute(other.url)   # as a server in another process would be
    try:
        _, ddb = _clients(other.url)
        table = _table(ddb)
        ddb.put_item(TableName=table, Item={"pk": {"S": "z"}})
        assert ddb.get_item(TableName=table, Key={"pk": {"S": "z"}})["Item"]["pk"] == {"S": "z"}
        assert opened and all(port == other.port for _, port in opened)
        assert len(opened) < 3   # three calls on one kept-open connection (a retry may add one)
    finally:
        other.stop()
