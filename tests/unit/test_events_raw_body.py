"""The local server's events carry bytes bodies (RAW_BODY_NOTE in chalicelib/http/events.py):
the same request reaches the app as with base64, and a JSON (Lambda) event is unchanged."""
from __future__ import annotations

import base64

from chalicelib.http.events import RouteTable, from_v2, rest_event, v2_event

ROUTES = RouteTable(["/v2", "/v2/{proxy+}"])
BODY = bytes(range(256)) * 4


def _v2(raw: bool) -> dict:
    return v2_event("PATCH", "/v2/a/b/blobs/uploads/u", "x=1", [("Content-Type", "application/octet-stream")],
                    BODY, "127.0.0.1", "local.lambda-url.localhost.on.aws", request_id="r", raw=raw)


def test_a_raw_v2_event_holds_the_bytes_and_says_it_is_not_base64():
    ev = _v2(raw=True)
    assert ev["body"] is BODY and ev["isBase64Encoded"] is False
    assert _v2(raw=False)["body"] == base64.b64encode(BODY).decode() and _v2(raw=False)["isBase64Encoded"]


def test_raw_and_base64_events_become_the_same_rest_event_but_for_the_encoding():
    raw, encoded = from_v2(_v2(raw=True), ROUTES), from_v2(_v2(raw=False), ROUTES)
    assert raw["body"] == BODY and raw["isBase64Encoded"] is False
    assert base64.b64decode(encoded["body"]) == BODY and encoded["isBase64Encoded"] is True
    for key in ("resource", "path", "httpMethod", "headers", "queryStringParameters", "pathParameters"):
        assert raw[key] == encoded[key]


def test_a_text_body_from_a_json_event_is_not_taken_as_raw():
    ev = _v2(raw=False)
    ev["body"], ev["isBase64Encoded"] = "plain text", False
    rest = from_v2(ev, ROUTES)
    assert base64.b64decode(rest["body"]) == b"plain text" and rest["isBase64Encoded"] is True


def test_rest_event_raw_and_empty_bodies():
    assert rest_event("PUT", "/v2/x", "", [], BODY, "/v2/{proxy+}", {"proxy": "x"}, raw=True)["body"] is BODY
    empty = rest_event("GET", "/v2/x", "", [], b"", "/v2/{proxy+}", {"proxy": "x"}, raw=True)
    assert empty["body"] is None and empty["isBase64Encoded"] is False
