"""AWS API calls per registry operation, held at the design minimum.

Counted from botocore `before-call` events on the registry's own clients while
real HTTP requests go through the local server.
"""
from __future__ import annotations

import json
import uuid

import pytest

from support import count_aws_calls

OCI = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(autouse=True)
def token(client, repo):
    """Hold a token first: the counts are of registry operations, not of logins."""
    client.login(repo)


@pytest.fixture(autouse=True)
def quiet_background(registry):
    """Metering flushes and event deliveries run off the request path, on threads of the
    same process and clients: let them finish before a count starts, so that a count
    holds only the request's own calls (flush costs: test_metering.py)."""
    from chalicelib.http.inject import services

    yield
    services().events().wait_idle(10, retries=True)
    services().meter().flush()


def _settle() -> None:
    from chalicelib.http.inject import services

    services().events().wait_idle(10, retries=True)
    services().meter().flush()


@pytest.fixture
def image(client, repo):
    digest, body = client.push_image(repo, "v1", layers=2)
    _settle()
    return repo, digest, body


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("by", ["tag", "digest"])
def test_manifest_read_is_one_dynamodb_read(client, image, method, by):
    repo, digest, body = image
    ref = "v1" if by == "tag" else digest
    with count_aws_calls() as aws:
        r = client.request(method, f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI})
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == digest
    if method == "GET":
        assert r.content == body
    assert dict(aws.calls) == {"dynamodb.GetItem": 1}


def test_blob_head_is_one_read(client, image):
    repo, digest, body = image
    import json
    cfg = json.loads(body)["config"]["digest"]
    with count_aws_calls() as aws:
        r = client.request("HEAD", f"/v2/{repo}/blobs/{cfg}")
    assert r.status_code == 200
    assert dict(aws.calls) == {"dynamodb.GetItem": 1}


def test_blob_get_is_one_read_and_no_s3_call(client, image):
    repo, digest, body = image
    import json
    cfg = json.loads(body)["config"]
    with count_aws_calls() as aws:
        r = client.request("GET", f"/v2/{repo}/blobs/{cfg['digest']}")
    assert r.status_code == 307
    assert dict(aws.calls) == {"dynamodb.GetItem": 1}
    # the presigned URL really serves the bytes
    data = client.http.get(r.headers["Location"]).content
    assert len(data) == cfg["size"]


def test_tags_list_page_is_one_query(client, image):
    repo, _, _ = image
    with count_aws_calls() as aws:
        r = client.request("GET", f"/v2/{repo}/tags/list?n=10")
    assert r.status_code == 200 and r.json()["tags"] == ["v1"]
    assert dict(aws.calls) == {"dynamodb.Query": 1}


def test_monolithic_blob_push_calls(client, repo):
    with count_aws_calls() as aws:
        client.push_blob(repo, b"some bytes")
    # POST: create session; PUT: read session, write object, one transaction links and drops the session
    assert dict(aws.calls) == {"dynamodb.PutItem": 1, "dynamodb.GetItem": 1, "s3.PutObject": 1,
                               "dynamodb.TransactWriteItems": 1}


def test_single_post_blob_push_calls(client, repo):
    data = b"single post"
    from support import sha256
    with count_aws_calls() as aws:
        r = client.request("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)},
                           data=data, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201
    assert dict(aws.calls) == {"s3.PutObject": 1, "dynamodb.TransactWriteItems": 1}


def test_manifest_put_is_one_transaction(client, image):
    """One transaction, plus one read of the image config the first time this process sees
    it: its `quay.expires-after` label may set the tag's expiry (REGISTRY_EXPIRY_LABELS=0
    turns that off; configs are content addressed, so the label is cached by digest). The
    tag policy comes from the process's cache, checked by the transaction itself."""
    import json

    repo, digest, body = image
    with count_aws_calls() as aws:   # a new tag of a manifest this process stored
        r = client.push_manifest(repo, "v2", body)
    assert r.status_code == 201
    assert dict(aws.calls) == {"dynamodb.TransactWriteItems": 1}
    fresh = body.replace(b'"schemaVersion"', b'"annotations": {"x": "1"}, "schemaVersion"')
    with count_aws_calls() as aws:   # a new manifest with a config already read
        r = client.push_manifest(repo, "v3", fresh)
    assert r.status_code == 201
    assert dict(aws.calls) == {"dynamodb.TransactWriteItems": 1}
    # The same manifest again (by digest): this process knows it counted its references
    # already, so the transaction for a counted manifest runs first (docs/lifecycle.md#costs).
    with count_aws_calls() as aws:
        r = client.push_manifest(repo, digest, body)
    assert r.status_code == 201
    assert dict(aws.calls) == {"dynamodb.TransactWriteItems": 1}
    doc = json.loads(body)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"n": "1"}}}).encode()
    doc["config"] = {**doc["config"], "digest": client.push_blob(repo, config), "size": len(config)}
    with count_aws_calls() as aws:   # a config never read: its label is
        r = client.push_manifest(repo, "v4", json.dumps(doc).encode())
    assert r.status_code == 201
    assert dict(aws.calls) == {"dynamodb.TransactWriteItems": 1, "s3.GetObject": 1}


def test_manifest_delete_by_digest_calls(client, image):
    """The tag policy's and the Helm hook's reads, its refcounts (one read), its tags (one
    Query), one transaction that deletes it with its tags and gives back its blob links'
    references, and a Query for cached conversions."""
    repo, digest, body = image
    with count_aws_calls() as aws:
        r = client.request("DELETE", f"/v2/{repo}/manifests/{digest}")
    assert r.status_code == 202
    assert dict(aws.calls) == {"dynamodb.GetItem": 3, "dynamodb.Query": 2, "dynamodb.TransactWriteItems": 1}


def test_token_request_calls(client, registry, repo):
    """A login with scope: reserve an attempt (one transaction over the account's and the
    address's counters), the account with its grants, give the attempt back; then the
    visibility of the asked repositories (not read for a global admin, who may do anything)."""
    import requests
    with count_aws_calls() as aws:
        r = requests.get(f"{registry.url}/token", params={"service": "oci-registry",
                         "scope": f"repository:{repo}:pull,push"}, auth=registry.admin)
    assert r.status_code == 200
    assert dict(aws.calls) == {"dynamodb.TransactWriteItems": 2, "dynamodb.Query": 1}
    user, pw = f"calls{uuid.uuid4().hex[:8]}", "calls-password"
    requests.post(f"{registry.url}/admin/users", json={"username": user, "password": pw},
                  auth=registry.admin).raise_for_status()
    with count_aws_calls() as aws:
        r = requests.get(f"{registry.url}/token", params={"service": "oci-registry",
                         "scope": f"repository:{repo}:pull"}, auth=(user, pw))
    assert r.status_code == 200
    assert dict(aws.calls) == {"dynamodb.TransactWriteItems": 2, "dynamodb.Query": 1,
                               "dynamodb.BatchGetItem": 1}


def test_tag_delete_is_one_transaction_and_a_tag_page_one_query(client, image):
    """A tag delete carries its policy check in one transaction; a tags page that reports
    expiry times is still one Query."""
    repo, digest, body = image
    assert client.push_manifest(repo, "v2", body).status_code == 201
    with count_aws_calls() as aws:
        r = client.request("GET", f"/v2/{repo}/tags/list")
    assert r.status_code == 200 and r.json()["tags"] == ["v1", "v2"]
    assert dict(aws.calls) == {"dynamodb.Query": 1}
    with count_aws_calls() as aws:
        r = client.request("DELETE", f"/v2/{repo}/manifests/v2")
    assert r.status_code == 202
    # the GetItem is the Helm view's (it reads the tag to find a chart's index entry)
    assert dict(aws.calls) == {"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1}
def test_metering_adds_no_call_to_a_pull(client, image):
    """The pull is counted (in the process's buffer) without any AWS call of its own."""
    import json
    from datetime import datetime, timezone

    from chalicelib.http.inject import services

    repo, digest, body = image
    layer = json.loads(body)["layers"][0]
    with count_aws_calls() as aws:
        assert client.request("GET", f"/v2/{repo}/manifests/v1", headers={"Accept": OCI}).status_code == 200
        assert client.request("GET", f"/v2/{repo}/blobs/{layer['digest']}").status_code == 307
    assert dict(aws.calls) == {"dynamodb.GetItem": 2}
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    counted = services().meter().pending()[(day, repo.split("/")[0])]
    assert counted == {"requests": 2, "pulls": 1, "bytes_served": layer["size"]}


def test_helm_chart_push_is_one_transaction_with_its_index_entry(client, repo):
    """A chart's manifest and its index.yaml entry commit in one TransactWriteItems (before
    issue 15 the entry was a second one); before it, one GetItem (the config's blob link:
    its stored size) and one S3 GetObject (Chart.yaml), as before."""
    from helm_support import HELM_CHART, HELM_CONFIG, chart_tgz, meta_of

    name = repo.split("/")[1]

    def chart(version: str) -> bytes:
        tgz, config = chart_tgz(name, version), json.dumps(meta_of(name, version)).encode()
        return json.dumps({
            "schemaVersion": 2, "mediaType": OCI,
            "config": {"mediaType": HELM_CONFIG, "digest": client.push_blob(repo, config), "size": len(config)},
            "layers": [{"mediaType": HELM_CHART, "digest": client.push_blob(repo, tgz), "size": len(tgz)}]}).encode()

    assert client.push_manifest(repo, "1.0.0", chart("1.0.0"), OCI).status_code == 201  # caches the tag policy
    body = chart("1.0.1")
    _settle()
    with count_aws_calls() as aws:
        r = client.push_manifest(repo, "1.0.1", body, OCI)
    assert r.status_code == 201, r.text
    assert dict(aws.calls) == {"dynamodb.GetItem": 1, "s3.GetObject": 1, "dynamodb.TransactWriteItems": 1}


def test_blob_delete_reads_the_link_then_one_transaction(client, repo):
    """The link transaction also adds the blob's size to the repository's `stored` counter
    (no extra call: the repository item was already in it). Unlinking must subtract the
    link's size, which a transaction cannot return: one GetItem of the link comes first
    (the transaction then deletes the link only if it still has that size)."""
    digest = client.push_blob(repo, b"to be deleted")
    _settle()
    with count_aws_calls() as aws:
        r = client.request("DELETE", f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 202
    assert dict(aws.calls) == {"dynamodb.GetItem": 2, "dynamodb.TransactWriteItems": 1}  # + the namespace count (quotas)
