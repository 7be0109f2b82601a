"""Key layout and error rendering."""
from __future__ import annotations

import json

import pytest

from chalicelib.oci.errors import ERROR_CODES, RegistryError
from chalicelib.storage import keys
from chalicelib.http.failures import aws_failure

D = "sha256:" + "ab" * 32


def test_s3_keys_are_content_addressed():
    assert keys.blob_key(D) == "blobs/sha256/" + "ab" * 32
    assert keys.manifest_key(D) == "manifests/sha256/" + "ab" * 32
    assert keys.upload_data_key("u1") == "uploads/u1/data"
    assert keys.upload_tail_key("u1", "n").startswith(keys.UPLOADS_PREFIX)


def test_dynamodb_keys():
    assert keys.repo_pk("a/b") == "REPO#a/b"
    assert keys.tag_sk("v1") == "TAG#v1"
    assert keys.manifest_sk(D) == "MANIFEST#" + D
    assert keys.blob_link_sk(D) == "BLOB#" + D
    assert keys.blob_pk(D) == "BLOB#" + D
    assert keys.referrers_pk("a/b", D) == "REF#a/b#" + D
    # tags sort after every other item kind in a repository partition
    others = [keys.REPO_META_SK, keys.manifest_sk(D), keys.blob_link_sk(D)]
    assert all(o < keys.tag_sk("") for o in others)


def test_error_body_shape():
    err = RegistryError("BLOB_UNKNOWN", {"digest": D})
    assert err.status == 404
    body = err.body()
    assert body == {"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry",
                                "detail": {"digest": D}}]}
    json.dumps(body)


def test_every_code_has_status_and_message():
    for code, (status, message) in ERROR_CODES.items():
        assert code.isupper() and 400 <= status < 600 and message


def test_unknown_code_rejected():
    with pytest.raises(ValueError):
        RegistryError("NOT_A_CODE")


def _client_error(code, status=400):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


def test_aws_failures_are_classified():
    """Throttling is 429; every other failure of the storage SDKs is a retryable 503."""
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
    from pynamodb.exceptions import GetError, PutError

    assert aws_failure(_client_error("ProvisionedThroughputExceededException")) == 429
    assert aws_failure(_client_error("SlowDown", 503)) == 429
    assert aws_failure(_client_error("ServiceUnavailable", 503)) == 503
    assert aws_failure(_client_error("InternalFailure", 500)) == 503
    assert aws_failure(_client_error("500", 500)) == 503        # an emulator's crash page
    assert aws_failure(_client_error("ValidationException")) == 503
    assert aws_failure(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")) == 503
    assert aws_failure(ConnectionClosedError(endpoint_url="http://127.0.0.1:1")) == 503
    assert aws_failure(ReadTimeoutError(endpoint_url="http://127.0.0.1:1")) == 503
    assert aws_failure(GetError("get failed", cause=EndpointConnectionError(endpoint_url="x"))) == 503
    assert aws_failure(PutError("put failed", cause=_client_error("ThrottlingException"))) == 429
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = _client_error("ThrottlingException")
    assert aws_failure(wrapped) == 429
    assert aws_failure(RuntimeError("a bug of ours")) is None
    assert aws_failure(ValueError("bad input")) is None


def test_unreachable_storage_is_503():
    """Connection refused/reset and timeouts (botocore HTTPClientError and its subclasses,
    also inside pynamodb's wrappers) are retryable outages, not 500s."""
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

    assert aws_failure(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")) == 503
    assert aws_failure(ReadTimeoutError(endpoint_url="http://127.0.0.1:1")) == 503
    wrapped = RuntimeError("pynamodb GetError")
    wrapped.cause = ConnectionClosedError(endpoint_url="http://127.0.0.1:1")
    assert aws_failure(wrapped) == 503
    assert aws_failure(ConnectionError("not botocore")) is None
