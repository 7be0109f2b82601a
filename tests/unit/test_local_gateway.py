"""The local server's API Gateway emulation: route choice and event shape."""
from __future__ import annotations

import base64

from local.server import RouteTable, build_event


def test_route_table_prefers_literal_over_greedy():
    t = RouteTable(["/v2", "/v2/_catalog", "/v2/{proxy+}"])
    assert t.match("/v2/") == ("/v2", {})
    assert t.match("/v2") == ("/v2", {})
    assert t.match("/v2/_catalog") == ("/v2/_catalog", {})
    assert t.match("/v2/a/b/c/d/manifests/latest") == ("/v2/{proxy+}", {"proxy": "a/b/c/d/manifests/latest"})
    assert t.match("/v2/a/blobs/uploads/") == ("/v2/{proxy+}", {"proxy": "a/blobs/uploads/"})
    assert t.match("/nothing") is None


def test_event_keeps_every_header_value_and_base64_body():
    ev = build_event("PUT", "/v2/a/manifests/x", "n=1&n=2&last=",
                     [("Accept", "a/b"), ("Accept", "c/d"), ("Content-Type", "x/y")],
                     b"\x00\xffbytes", "/v2/{proxy+}", {"proxy": "a/manifests/x"})
    assert ev["multiValueHeaders"]["Accept"] == ["a/b", "c/d"]
    assert ev["headers"]["Accept"] == "c/d"  # API Gateway keeps the last one
    assert ev["multiValueQueryStringParameters"] == {"n": ["1", "2"], "last": [""]}
    assert ev["isBase64Encoded"] is True
    assert base64.b64decode(ev["body"]) == b"\x00\xffbytes"
    assert ev["requestContext"]["resourcePath"] == "/v2/{proxy+}"


def test_forwarded_headers_come_from_the_gateway_not_the_client():
    from local.wsgi_io import request_headers

    environ = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_FOR": "6.6.6.6", "HTTP_HOST": "h",
               "wsgi.url_scheme": "http", "REMOTE_ADDR": "127.0.0.9"}
    headers = dict(request_headers(environ))
    assert headers["X-Forwarded-Proto"] == "http" and headers["X-Forwarded-For"] == "127.0.0.9"


def test_request_path_is_the_raw_target_decoded_once():
    from local.wsgi_io import request_path

    assert request_path({"RAW_URI": "/v2/a/manifests/t%0a?x=1"}) == ("/v2/a/manifests/t%0a", "/v2/a/manifests/t\n")
    assert request_path({"RAW_URI": "/v2/a%252F"}) == ("/v2/a%252F", "/v2/a%2F")
    assert request_path({"RAW_URI": "http://host:5000/v2/"}) == ("/v2/", "/v2/")


def test_request_targets_a_front_door_refuses():
    import pytest

    from local.wsgi_io import Refused, request_path

    for target in ("/v2/%ff", "/v2/a\x01", "/v2/\xc3\xa9", "/v2/a b"):
        with pytest.raises(Refused) as e:
            request_path({"RAW_URI": target})
        assert e.value.response["statusCode"] == 400


def test_front_door_setting(monkeypatch):
    import pytest

    from chalicelib.config import FRONT_DOORS, front_door

    monkeypatch.delenv("REGISTRY_FRONT", raising=False)
    assert front_door().name == "function-url"
    monkeypatch.setenv("REGISTRY_FRONT", "http-api")
    assert front_door().name == "http-api"
    assert front_door("REST") is FRONT_DOORS["rest"]
    assert FRONT_DOORS["http-api"].timeout == 30 and FRONT_DOORS["rest"].timeout == 29
    with pytest.raises(ValueError):
        front_door("alb")


def test_function_url_timeout_is_the_deployed_functions():
    import json
    from pathlib import Path

    from local.server import LambdaGateway

    class App:
        routes = {"/v2": {}}

    configured = json.loads((Path(__file__).resolve().parents[2] / ".chalice" / "config.json").read_text())
    assert LambdaGateway(App(), front="function-url").front.timeout == min(900, configured["lambda_timeout"])
    assert LambdaGateway(App(), front="http-api").front.timeout == 30
