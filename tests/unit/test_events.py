"""The event adapter: payload 2.0 (Function URL, HTTP API) <-> the REST event Chalice routes."""
from __future__ import annotations

import base64

import pytest

from chalicelib.http.events import BadRequest, RouteTable, from_v2, parse_query, to_v2, v2_event, v2_path

ROUTES = RouteTable(["/v2", "/v2/_catalog", "/v2/{proxy+}", "/token", "/helm/{namespace}/index.yaml",
                     "/helm/{namespace}/charts/{filename}"])
URL_DOMAIN = "abcdef123.lambda-url.eu-west-1.on.aws"
API_DOMAIN = "a1b2c3.execute-api.eu-west-1.amazonaws.com"


def event(raw_path: str, *, method: str = "GET", query: str = "", headers: dict = None, body=None,
          b64: bool = False, domain: str = URL_DOMAIN, stage: str = "$default", cookies=None) -> dict:
    """A payload 2.0 event shaped as AWS documents it."""
    ev = {"version": "2.0", "routeKey": "$default", "rawPath": raw_path, "rawQueryString": query,
          "headers": headers or {},
          "requestContext": {"accountId": "anonymous", "apiId": domain.split(".")[0], "domainName": domain,
                             "domainPrefix": domain.split(".")[0], "requestId": "req-123", "stage": stage,
                             "routeKey": "$default",
                             "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                                      "sourceIp": "203.0.113.7", "userAgent": "test"},
                             "time": "01/Dec/2026:04:00:00 +0000", "timeEpoch": 0},
          "isBase64Encoded": b64}
    if body is not None:
        ev["body"] = body
    if cookies:
        ev["cookies"] = cookies
    return ev


def test_route_table_matches_whole_paths_only():
    # `$` would have matched before a trailing newline and dropped it from the value
    assert ROUTES.match("/v2/a/manifests/latest\n") == ("/v2/{proxy+}", {"proxy": "a/manifests/latest\n"})
    assert ROUTES.match("/token\n") is None
    assert ROUTES.match("/v2/_catalog") == ("/v2/_catalog", {})
    assert ROUTES.match("/helm/ns/charts/a-1.0.tgz") == ("/helm/{namespace}/charts/{filename}",
                                                        {"namespace": "ns", "filename": "a-1.0.tgz"})
    assert ROUTES.match("/helm/ns/x/index.yaml") is None


def test_function_url_path_is_decoded_once():
    rest = from_v2(event("/v2/a/manifests/t%0A"), ROUTES)
    assert rest["pathParameters"] == {"proxy": "a/manifests/t\n"}
    assert rest["resource"] == "/v2/{proxy+}" and rest["requestContext"]["resourcePath"] == "/v2/{proxy+}"
    assert v2_path(event("/v2/a/manifests/x%2525")) == "/v2/a/manifests/x%25"


def test_http_api_path_arrives_decoded_and_is_not_decoded_again():
    assert v2_path(event("/v2/a/manifests/x%25", domain=API_DOMAIN)) == "/v2/a/manifests/x%25"


def test_named_stage_prefix_is_removed():
    rest = from_v2(event("/prod/v2/a/tags/list", domain=API_DOMAIN, stage="prod"), ROUTES)
    assert rest["pathParameters"] == {"proxy": "a/tags/list"}
    assert from_v2(event("/prod/v2", domain=API_DOMAIN, stage="prod"), ROUTES)["resource"] == "/v2"


def test_unknown_path_and_bad_encoding_are_refused():
    with pytest.raises(BadRequest) as e:
        from_v2(event("/nothing"), ROUTES)
    assert e.value.status == 404
    with pytest.raises(BadRequest) as e:
        from_v2(event("/v2/a/manifests/%ff"), ROUTES)
    assert e.value.status == 400
    with pytest.raises(BadRequest) as e:
        from_v2(event("/token", method="POST", body="not base64!", b64=True), ROUTES)
    assert e.value.status == 400


def test_repeated_query_keys_come_from_the_raw_query_string():
    ev = event("/token", query="scope=repository%3Aa%3Apull&scope=repository%3Ab%3Apull,push&service=r")
    ev["queryStringParameters"] = {"scope": "repository:a:pull,repository:b:pull,push", "service": "r"}
    rest = from_v2(ev, ROUTES)
    assert rest["multiValueQueryStringParameters"] == {
        "scope": ["repository:a:pull", "repository:b:pull,push"], "service": ["r"]}
    assert rest["queryStringParameters"]["scope"] == "repository:b:pull,push"


def test_headers_cookies_body_source_ip_and_method():
    ev = event("/v2/a/blobs/uploads/", method="POST", query="digest=sha256%3Aab",
               headers={"accept": "a/b,c/d", "content-type": "application/octet-stream"},
               body=base64.b64encode(b"\x00\xff\x10").decode(), b64=True, cookies=["k=v", "k2=v2"])
    rest = from_v2(ev, ROUTES)
    assert rest["httpMethod"] == "POST" and rest["requestContext"]["httpMethod"] == "POST"
    assert rest["multiValueHeaders"]["accept"] == ["a/b,c/d"]
    assert rest["headers"]["cookie"] == "k=v; k2=v2"
    assert base64.b64decode(rest["body"]) == b"\x00\xff\x10" and rest["isBase64Encoded"] is True
    assert rest["requestContext"]["identity"]["sourceIp"] == "203.0.113.7"
    assert rest["requestContext"]["requestId"] == "req-123"
    assert rest["multiValueQueryStringParameters"] == {"digest": ["sha256:ab"]}


def test_text_body_and_head():
    rest = from_v2(event("/token", method="POST", body="grant_type=password&x=é"), ROUTES)
    assert base64.b64decode(rest["body"]).decode() == "grant_type=password&x=é"
    head = from_v2(event("/v2/a/manifests/t", method="HEAD"), ROUTES)
    assert head["httpMethod"] == "HEAD" and head["body"] is None


def test_v2_response_joins_repeats_and_moves_cookies():
    resp = to_v2({"statusCode": 307, "headers": {"Location": "https://s3/x", "Content-Length": "0"},
                  "multiValueHeaders": {"Link": ["<a>; rel=next", "<b>; rel=prev"], "Set-Cookie": ["a=1", "b=2"]},
                  "body": "", "isBase64Encoded": False})
    assert resp["statusCode"] == 307 and resp["headers"]["Location"] == "https://s3/x"
    assert resp["headers"]["Link"] == "<a>; rel=next,<b>; rel=prev"
    assert resp["cookies"] == ["a=1", "b=2"] and "Set-Cookie" not in resp["headers"]
    assert resp["headers"]["Content-Length"] == "0" and resp["isBase64Encoded"] is False


def test_built_v2_event_round_trips():
    """The local server's 2.0 events translate to the REST event the REST front door builds."""
    ev = v2_event("PUT", "/v2/a/manifests/t", "x=1&x=2", [("Accept", "a/b"), ("Accept", "c/d"),
                  ("Cookie", "s=1; t=2")], b"{}", "198.51.100.1", URL_DOMAIN)
    assert ev["headers"]["accept"] == "a/b,c/d" and ev["cookies"] == ["s=1", "t=2"]
    assert ev["queryStringParameters"] == {"x": "1,2"}
    rest = from_v2(ev, ROUTES)
    assert rest["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert base64.b64decode(rest["body"]) == b"{}"
    assert parse_query("a=&a=1") == {"a": ["", "1"]}


@pytest.mark.parametrize("method,path,expected", [
    ("GET", "/v2/a/b/manifests/latest", "manifest GET"), ("HEAD", "/v2/a/blobs/sha256:ab", "blob HEAD"),
    ("POST", "/v2/a/blobs/uploads/", "upload start POST"), ("PATCH", "/v2/a/blobs/uploads/u-1", "upload PATCH"),
    ("GET", "/v2/a/tags/list", "tags GET"), ("GET", "/v2/a/referrers/sha256:ab", "referrers GET"),
    ("GET", "/v2/", "base GET"), ("GET", "/v2/_catalog", "catalog GET"), ("POST", "/token", "token POST"),
    ("GET", "/helm/ns/index.yaml", "helm index.yaml GET"), ("GET", "/helm/ns/charts/a-1.tgz", "helm chart GET"),
    ("GET", "/v2/a/manifests/t\n/x", "other GET")])
def test_metric_operation_names(method, path, expected):
    from chalicelib.http.observe import operation

    rest = from_v2(event(path, method=method), ROUTES)
    assert operation(rest) == expected
