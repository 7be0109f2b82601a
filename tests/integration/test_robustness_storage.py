"""Backend failures (issue 14): a retryable 503/429 with Retry-After, never a 500,
never a lost write reported as success, nothing half-written.

The storage fails on purpose: a registry pointed at a closed port, a service
answering 500 (as the embedded emulator did under load), and the real
adapters wrapped so that one call fails at a chosen step.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import pytest

from support import retrying, sha256

OCI = "application/vnd.oci.image.manifest.v1+json"
OCTET = {"Content-Type": "application/octet-stream"}


def closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_retryable(r, what: str = "") -> None:
    assert r.status_code in (429, 503), (what, r.status_code, r.text[:300])
    assert r.headers.get("Retry-After"), what
    if r.request.method != "HEAD":
        err = r.json()["errors"][0]
        assert err["code"] in ("UNKNOWN", "TOOMANYREQUESTS") and "Traceback" not in r.text


@contextmanager
def storage_at(registry, client, url: str):
    """For the block, `client` talks to a variant of the registry whose DynamoDB and S3
    clients point at `url` (the session server is left as it is)."""
    import boto3
    from botocore.config import Config

    from support import table_binding

    saved = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = url  # the variant's pynamodb connection, made on first use
    s3 = boto3.client("s3", endpoint_url=url, region_name=registry.services.settings.region,
                      config=Config(retries={"mode": "standard", "max_attempts": 3}))
    base = client.base
    try:
        with table_binding(), registry.variant(clients={"s3": s3}) as variant:
            client.base = variant
            yield
    finally:
        client.base = base
        if saved is None:
            os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        else:
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = saved


def test_storage_unreachable_is_503_and_writes_nothing(registry, client, repo):
    digest, body = client.push_image(repo, "kept")
    client.login(repo)  # a token verifies without storage; get it while storage is up
    new = body.replace(b'"x"', b'"y"')
    with storage_at(registry, client, f"http://127.0.0.1:{closed_port()}"):
        calls = [("GET", f"/v2/{repo}/manifests/kept", {}, b""),
                 ("HEAD", f"/v2/{repo}/manifests/{digest}", {}, b""),
                 ("PUT", f"/v2/{repo}/manifests/new", {"Content-Type": OCI}, new),
                 ("DELETE", f"/v2/{repo}/manifests/kept", {}, b""),
                 ("GET", f"/v2/{repo}/tags/list", {}, b""),
                 ("POST", f"/v2/{repo}/blobs/uploads/", {}, b""),
                 ("POST", f"/v2/{repo}/blobs/uploads/?digest={sha256(b'abc')}", OCTET, b"abc"),
                 ("GET", f"/v2/{repo}/referrers/{digest}", {}, b"")]
        for method, path, headers, data in calls:
            assert_retryable(client.request(method, path, headers=headers, data=data), f"{method} {path}")
    assert client.request("GET", f"/v2/{repo}/manifests/kept").content == body
    assert client.request("GET", f"/v2/{repo}/manifests/new").status_code == 404
    assert client.request("HEAD", f"/v2/{repo}/blobs/{sha256(b'abc')}").status_code == 404


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_):
        yield self.data


@contextmanager
def service_answers(status: int, operation: str, body: bytes, every: int = 1):
    """The DynamoDB service answers `operation` with `status` and `body` (every `every`th call)."""
    from botocore.awsrequest import AWSResponse

    from chalicelib.http.inject import services

    client = services().dynamodb_client()
    count = {"n": 0}
    lock = threading.Lock()

    def answer(request, **_):
        with lock:
            count["n"] += 1
            if count["n"] % every:
                return None
        return AWSResponse(request.url, status, {"Content-Type": "text/html"}, _Raw(body))

    event = f"before-send.dynamodb.{operation}"
    client.meta.events.register(event, answer)
    try:
        yield count
    finally:
        client.meta.events.unregister(event, answer)


def test_emulator_crash_page_is_503(client, repo):
    _, body = client.push_image(repo, None, seed="crash")
    crash = b"<html><title>500 Internal Server Error</title>dictionary changed size during iteration</html>"
    with service_answers(500, "TransactWriteItems", crash):
        r = client.push_manifest(repo, "crashy", body)
    assert_retryable(r)
    assert client.request("GET", f"/v2/{repo}/manifests/crashy").status_code == 404
    assert client.push_manifest(repo, "crashy", body).status_code == 201  # the retry succeeds


def test_concurrent_pushes_with_failing_service_report_only_real_writes(client, repo):
    images = [client.push_image(repo, None, seed=f"c{i}") for i in range(12)]
    barrier = threading.Barrier(len(images))
    results = {}

    def push(i, body):
        barrier.wait()
        results[i] = client.push_manifest(repo, "race", body).status_code

    with service_answers(500, "TransactWriteItems", b"<html>boom</html>", every=2):
        threads = [threading.Thread(target=push, args=(i, b)) for i, (_, b) in enumerate(images)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    assert set(results.values()) <= {201, 503}, results
    winners = [images[i] for i, s in results.items() if s == 201]
    for digest, body in winners:  # every success was really written
        assert client.request("GET", f"/v2/{repo}/manifests/{digest}").content == body
    tag = client.request("GET", f"/v2/{repo}/manifests/race")
    if winners:
        assert tag.status_code == 200 and tag.content in [b for _, b in winners]


class Failing:
    """Wraps a real adapter; `fail(name, exc, times)` makes that method raise `times` times.
    With `after=True` the real call runs first (the write happened, its answer is lost)."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self._plan: dict = {}

    def fail(self, name: str, exc: Exception, times: int = 1, after: bool = False) -> "Failing":
        self._plan[name] = [exc, times, after]
        return self

    def __getattr__(self, name: str):
        real = getattr(self._inner, name)
        plan = self._plan.get(name)
        if not plan or not callable(real):
            return real

        def call(*args, **kwargs):
            if plan[1] <= 0:
                return real(*args, **kwargs)
            plan[1] -= 1
            if plan[2]:
                real(*args, **kwargs)
            raise plan[0]
        return call


@pytest.fixture
def wrap():
    """Swap the registry's metadata or blob adapter for a Failing wrapper, restored after."""
    from chalicelib.http.inject import services

    reg = services().registry()
    saved = reg.meta, reg.blobs

    def install(which: str) -> Failing:
        wrapper = Failing(getattr(reg, which))
        setattr(reg, which, wrapper)
        return wrapper

    yield install
    reg.meta, reg.blobs = saved


def outage(what: str = "dynamodb"):
    from botocore.exceptions import EndpointConnectionError

    return EndpointConnectionError(endpoint_url=f"http://{what}.invalid")


def test_failure_after_the_blob_is_linked_still_reports_success(client, repo, wrap):
    wrap("meta").fail("delete_upload", outage())
    data = b"committed before the session cleanup failed"
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    r = client.request("PUT", r.headers["Location"], params={"digest": sha256(data)}, data=data, headers=OCTET)
    assert r.status_code == 201, r.text
    assert client.request("HEAD", f"/v2/{repo}/blobs/{sha256(data)}").status_code == 200


def test_failed_link_is_503_and_the_retry_completes(client, repo, wrap):
    """A multipart upload whose link write fails: 503, blob not visible, the same PUT again works."""
    big = os.urandom(6 * 1024 * 1024)
    last = b"the last bytes"
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    r = client.request("PATCH", r.headers["Location"], data=big, headers=OCTET)
    assert r.status_code == 202
    loc, digest = r.headers["Location"], sha256(big + last)
    wrap("meta").fail("link_blob", outage())
    r = client.request("PUT", loc, params={"digest": digest}, data=last, headers=OCTET)
    assert_retryable(r)
    assert client.request("HEAD", f"/v2/{repo}/blobs/{digest}").status_code == 404
    r = client.request("PUT", loc, params={"digest": digest}, data=last, headers=OCTET)
    assert r.status_code == 201, r.text
    got = client.http.get(client.request("GET", f"/v2/{repo}/blobs/{digest}").headers["Location"])
    assert got.content == big + last


def test_failed_copy_is_503_and_the_retry_completes(client, repo, wrap):
    big = os.urandom(6 * 1024 * 1024)
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    r = client.request("PATCH", r.headers["Location"], data=big, headers=OCTET)
    loc, digest = r.headers["Location"], sha256(big + b"!")
    wrap("blobs").fail("copy", outage("s3"), times=2)  # the in-request recovery's copy fails too
    r = client.request("PUT", loc, params={"digest": digest}, data=b"!", headers=OCTET)
    assert_retryable(r)
    assert client.request("HEAD", f"/v2/{repo}/blobs/{digest}").status_code == 404
    r = client.request("PUT", loc, params={"digest": digest}, data=b"!", headers=OCTET)
    assert r.status_code == 201, r.text
    assert int(client.request("HEAD", f"/v2/{repo}/blobs/{digest}").headers["Content-Length"]) == len(big) + 1


def test_failed_tail_cleanup_does_not_fail_the_chunk(client, repo, wrap):
    part = os.urandom(200 * 1024)  # beyond the inline tail: kept in S3 between chunks
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    r = client.request("PATCH", r.headers["Location"], data=part, headers=OCTET)
    wrap("blobs").fail("delete", outage("s3"), times=5)
    r = client.request("PATCH", r.headers["Location"], data=part, headers=OCTET)
    assert r.status_code == 202 and r.headers["Range"] == f"0-{2 * len(part) - 1}", r.text
    r = client.request("PUT", r.headers["Location"], params={"digest": sha256(part * 2)}, headers=OCTET)
    assert r.status_code == 201, r.text


def test_lost_answer_of_a_manifest_write_is_503_then_idempotent(client, repo, wrap):
    _, body = client.push_image(repo, None, seed="lost")
    wrap("meta").fail("put_manifest", outage(), after=True)  # written, but the answer never came
    assert_retryable(client.push_manifest(repo, "lost", body))
    assert client.push_manifest(repo, "lost", body).status_code == 201
    assert client.request("GET", f"/v2/{repo}/manifests/lost").content == body


def test_cancel_survives_missing_multipart_upload(client, repo, wrap):
    big = os.urandom(6 * 1024 * 1024)
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    loc = client.request("PATCH", r.headers["Location"], data=big, headers=OCTET).headers["Location"]
    wrap("blobs").fail("abort_multipart", outage("s3"))
    assert client.request("DELETE", loc).status_code == 204
    assert client.request("GET", loc).status_code == 404


def test_fifty_concurrent_pushes_of_one_tag(client, repo):
    """No 5xx but a retryable 503/429, and every 201 really written (by digest, and the tag
    ends on one of them)."""
    import json

    _, base = client.push_image(repo, None, seed="many")
    doc = json.loads(base)
    bodies = [json.dumps({**doc, "annotations": {"n": str(i)}}).encode() for i in range(50)]
    barrier = threading.Barrier(len(bodies))
    results: dict = {}

    def push(i):
        barrier.wait()
        r = client.push_manifest(repo, "hot", bodies[i])
        results[i] = (r.status_code, r.headers.get("Retry-After"))

    threads = [threading.Thread(target=push, args=(i,)) for i in range(len(bodies))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    statuses = [s for s, _ in results.values()]
    assert all(s in (201, 429, 503) for s in statuses), statuses
    assert all(ra for s, ra in results.values() if s != 201)
    written = [bodies[i] for i, (s, _) in results.items() if s == 201]
    assert written, statuses
    for body in written:
        got = retrying(lambda: client.request("GET", f"/v2/{repo}/manifests/{sha256(body)}"))
        assert got.content == body
    assert retrying(lambda: client.request("GET", f"/v2/{repo}/manifests/hot")).content in written
