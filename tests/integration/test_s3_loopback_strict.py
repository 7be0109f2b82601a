"""On the strict embedded S3 the registry's client sends unsigned payloads and no automatic
CRC32 (REGISTRY_S3_LOOPBACK, chalicelib/config.py): the S3 still checks everything it
checked before, namely header signatures, presigned URLs and every checksum sent explicitly."""
from __future__ import annotations

import base64
import hashlib
import uuid

import pytest
import requests
from botocore.exceptions import ClientError

pytestmark = pytest.mark.backends("strict")


@pytest.fixture
def s3(registry):
    from chalicelib.http.inject import services

    return services().s3_client(), services().settings.bucket_name


def _b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_the_registry_client_sends_unsigned_payloads_without_crc(s3):
    client, bucket = s3
    seen: list[dict] = []
    client.meta.events.register("before-send.s3.PutObject", lambda request, **_: seen.append(dict(request.headers)))
    try:
        client.put_object(Bucket=bucket, Key=f"uploads/loopback-{uuid.uuid4()}", Body=b"some bytes")
    finally:
        client.meta.events.unregister("before-send.s3.PutObject")
    headers = {k.lower(): v for k, v in seen[0].items()}
    assert headers["x-amz-content-sha256"] in (b"UNSIGNED-PAYLOAD", "UNSIGNED-PAYLOAD")
    assert not [k for k in headers if k.startswith("x-amz-checksum")]
    assert "Signature=" in str(headers["authorization"])


def test_explicit_checksums_are_still_checked_on_put_and_part(s3):
    client, bucket = s3
    key = f"uploads/loopback-{uuid.uuid4()}"
    body = b"the declared bytes" * 1000
    with pytest.raises(ClientError) as err:
        client.put_object(Bucket=bucket, Key=key, Body=body + b"!", ChecksumSHA256=_b64sha(body))
    assert err.value.response["Error"]["Code"] == "BadDigest"
    client.put_object(Bucket=bucket, Key=key, Body=body, ChecksumSHA256=_b64sha(body))
    mpu = client.create_multipart_upload(Bucket=bucket, Key=key + "-mpu", ChecksumAlgorithm="SHA256")["UploadId"]
    try:
        with pytest.raises(ClientError) as err:
            client.upload_part(Bucket=bucket, Key=key + "-mpu", UploadId=mpu, PartNumber=1, Body=body[1:],
                               ChecksumSHA256=_b64sha(body))
        assert err.value.response["Error"]["Code"] == "BadDigest"
    finally:
        client.abort_multipart_upload(Bucket=bucket, Key=key + "-mpu", UploadId=mpu)


def test_a_request_changed_after_signing_is_refused(s3):
    """Unsigned payload, signed headers: sending to another key than signed fails."""
    client, bucket = s3
    key = f"uploads/loopback-{uuid.uuid4()}"

    def retarget(request, **_):
        request.url = request.url.replace(key, key + "-other")

    client.meta.events.register("before-send.s3.PutObject", retarget)
    try:
        with pytest.raises(ClientError) as err:
            client.put_object(Bucket=bucket, Key=key, Body=b"x")
    finally:
        client.meta.events.unregister("before-send.s3.PutObject", retarget)
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_presigned_urls_of_the_loopback_client_are_checked(s3):
    client, bucket = s3
    key = f"uploads/loopback-{uuid.uuid4()}"
    body = b"presigned bytes"
    url = client.generate_presigned_url("put_object", ExpiresIn=60, Params={
        "Bucket": bucket, "Key": key, "ChecksumSHA256": _b64sha(body)})
    bad = requests.put(url, data=b"other bytes", headers={"x-amz-checksum-sha256": _b64sha(body)})
    assert bad.status_code == 400 and b"BadDigest" in bad.content
    forged = url.replace("X-Amz-Signature=", "X-Amz-Signature=0", 1)
    assert requests.put(forged, data=body, headers={"x-amz-checksum-sha256": _b64sha(body)}).status_code == 403
    assert requests.put(url, data=body, headers={"x-amz-checksum-sha256": _b64sha(body)}).status_code == 200
    get = client.generate_presigned_url("get_object", ExpiresIn=60, Params={"Bucket": bucket, "Key": key})
    assert requests.get(get).content == body


def test_a_push_through_the_loopback_client_reads_back_byte_identical(client, repo):
    big = bytes(range(256)) * (6 * 4096 + 7)  # over one part (5 MiB), an uneven length
    digest = "sha256:" + hashlib.sha256(big).hexdigest()
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    r = client.request("PATCH", r.headers["Location"], data=big, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202, r.text
    r = client.request("PUT", r.headers["Location"], params={"digest": digest})
    assert r.status_code == 201, r.text
    got = client.request("GET", f"/v2/{repo}/blobs/{digest}")
    if got.status_code == 307:
        got = requests.get(got.headers["Location"])
    assert got.status_code == 200 and got.content == big
