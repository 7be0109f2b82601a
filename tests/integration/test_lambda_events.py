"""The Lambda handler (`app.handler`) called directly with each front door's
event: REST (payload 1.0) and Function URL / HTTP API (payload 2.0).

Covers the Chalice quirks the registry works around: a greedy `{proxy+}`
route with our own dispatch, several Accept headers, requests without any
Accept header while `*/*` is a binary type, and base64 bodies.
"""
from __future__ import annotations

import base64
import json

import pytest

from chalicelib.http.events import rest_event, to_v2, v2_event
from support import sha256


class Ctx:
    aws_request_id = "req-1"
    function_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 29000


def bearer(*repos: str) -> tuple[str, str]:
    """An Authorization header with a token minted by the registry's own signer."""
    from chalicelib.http.inject import services
    from chalicelib.auth.tokens import access_claims, encode

    s = services().settings
    access = [{"type": "repository", "name": r, "actions": ["pull", "push", "delete"]} for r in repos]
    claims = access_claims("admin", access, issuer=s.issuer, audience=s.service, ttl=60)
    return ("Authorization", f"Bearer {encode(claims, services().token_signer())}")


@pytest.fixture(params=["rest", "function-url", "http-api"])
def invoke(registry, request):
    import app as chalice_app

    front = request.param

    def call(method, path, headers=(), body=b"", query=""):
        name = path[len("/v2/"):].split("/manifests/")[0].split("/blobs/")[0].split("/tags/")[0] \
            .split("/referrers/")[0]
        headers = [bearer(name), *headers]
        if path in ("/v2", "/v2/"):
            resource, params = "/v2", {}
        elif path == "/v2/_catalog":
            resource, params = "/v2/_catalog", {}
        else:
            resource, params = "/v2/{proxy+}", {"proxy": path[len("/v2/"):]}
        if front == "rest":
            event = rest_event(method, path, query, list(headers), body, resource, params)
        else:
            domain = "x1.lambda-url.us-east-1.on.aws" if front == "function-url" else "x2.execute-api.localhost"
            event = v2_event(method, path, query, list(headers), body, "127.0.0.1", domain)
        resp = chalice_app.handler(event, Ctx())
        if front != "rest":
            assert set(resp) <= {"statusCode", "headers", "body", "isBase64Encoded", "cookies"}
        else:  # the same answer, in the other shape
            assert set(to_v2(resp)) <= {"statusCode", "headers", "body", "isBase64Encoded", "cookies"}
        raw = resp.get("body") or ""
        data = base64.b64decode(raw) if resp.get("isBase64Encoded") else raw.encode()
        headers = {k.lower(): v for k, v in (resp.get("headers") or {}).items()}
        return resp["statusCode"], headers, data
    return call


def test_base_without_accept_header(invoke):
    status, headers, body = invoke("GET", "/v2/")
    assert status == 200 and json.loads(body) == {}
    assert headers["docker-distribution-api-version"] == "registry/2.0"


def test_deep_names_and_no_accept_header(invoke, client):
    repo = "a/b/c/d"
    digest, body = client.push_image(repo, "t1")
    status, headers, data = invoke("GET", f"/v2/{repo}/manifests/t1")
    assert status == 200 and data == body
    assert headers["docker-content-digest"] == digest
    assert headers["content-type"] == "application/vnd.oci.image.manifest.v1+json"


def test_many_accept_headers_are_all_received(invoke, client, repo):
    digest, body = client.push_image(repo, "t1")
    accepts = [("Accept", a) for a in (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/json")]
    status, headers, data = invoke("GET", f"/v2/{repo}/manifests/t1", headers=accepts)
    assert status == 200 and data == body


def test_binary_body_passes_untouched(invoke, repo):
    data = bytes(range(256)) * 4
    status, headers, _ = invoke("POST", f"/v2/{repo}/blobs/uploads/", body=data,
                                query=f"digest={sha256(data)}",
                                headers=[("Content-Type", "application/octet-stream")])
    assert status == 201, _
    assert headers["docker-content-digest"] == sha256(data)


def test_body_without_content_type(invoke, repo):
    data = b"\x00\x01 no content type"
    status, _, body = invoke("POST", f"/v2/{repo}/blobs/uploads/", body=data,
                             query=f"digest={sha256(data)}")
    assert status == 201, body


def test_unknown_endpoint_is_an_oci_error(invoke):
    status, headers, body = invoke("GET", "/v2/a/nothing/here")
    assert status == 404
    err = json.loads(body)["errors"][0]
    assert err["code"] == "UNSUPPORTED" and "detail" in err


def test_wrong_method_is_405_with_allow(invoke, repo):
    status, headers, body = invoke("POST", f"/v2/{repo}/tags/list")
    assert status == 405 and headers["allow"] == "GET"
    assert json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"


def test_every_response_type_is_serialisable(invoke, client, repo):
    """Non-JSON content types with str bodies must not crash Chalice's binary encoding."""
    digest, _ = client.push_image(repo, "t1")
    status, headers, body = invoke("GET", f"/v2/{repo}/referrers/{digest}")
    assert status == 200 and headers["content-type"] == "application/vnd.oci.image.index.v1+json"
    assert json.loads(body)["manifests"] == []


def test_chalice_own_errors_get_the_oci_shape(invoke):
    status, headers, body = invoke("OPTIONS", "/v2/a/tags/list")
    assert status == 405
    err = json.loads(body)["errors"][0]
    assert err["code"] == "UNSUPPORTED" and "OPTIONS" in err["detail"]["reason"]
