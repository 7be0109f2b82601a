"""The /v2 path router (unambiguous, order-free) and the one Content-Range parser."""
from __future__ import annotations

import random

import pytest

from chalicelib.domain.ranges import RangeInvalid, parse_content_range
from chalicelib.routes import dispatch

NAME = "a/blobs/uploads/manifests/tags"  # components that look like route words are valid names
D = "sha256:" + "a" * 64
U = "0b8b7c8e-2f0c-4c4e-9d55-3a1f6a0d9e11"
# path -> {method: the route pattern's last literal word, as a readable check}
CASES = {
    f"{NAME}/blobs/uploads": {"POST": "uploads-start"},
    f"{NAME}/blobs/uploads/{U}": {m: "upload-session" for m in ("GET", "PATCH", "PUT", "DELETE")},
    f"{NAME}/blobs/{D}": {m: "blob" for m in ("GET", "HEAD", "DELETE")},
    f"{NAME}/manifests/latest": {m: "manifest" for m in ("GET", "HEAD", "PUT", "DELETE")},
    f"{NAME}/manifests/{D}": {m: "manifest" for m in ("GET", "HEAD", "PUT", "DELETE")},
    f"{NAME}/tags/list": {"GET": "tags"},
    f"{NAME}/referrers/{D}": {"GET": "referrers"},
}


def _kind(pattern: str) -> str:
    for word, kind in (("upload_id", "upload-session"), ("blobs/uploads", "uploads-start"),
                       ("blobs/", "blob"), ("manifests/", "manifest"), ("tags/list", "tags"),
                       ("referrers/", "referrers")):
        if word in pattern:
            return kind
    return pattern


def _table(routes) -> dispatch.Router:
    """A router holding `routes`' patterns, each handler naming its route's kind."""
    router = dispatch.Router()
    for route in routes:
        kind = _kind(route.regex.pattern)
        router.add(route.regex.pattern, tuple(route.handlers), lambda kind=kind: kind)
    return router


def _registered() -> list:
    import chalicelib.routes.v2  # noqa: F401  (registers every /v2 endpoint)

    return list(dispatch.ROUTER.routes)


def test_every_path_resolves_to_its_route():
    router = _table(_registered())
    for path, methods in CASES.items():
        for method, kind in methods.items():
            found = router.resolve(path, method)
            assert isinstance(found, tuple), (path, method, found)
            assert found[0]() == kind, (path, method)


def test_paths_match_at_most_one_pattern():
    routes = _registered()
    for path in CASES:
        matching = [r.regex.pattern for r in routes if r.regex.fullmatch(path)]
        assert len(matching) == 1, (path, matching)


def test_registration_order_does_not_matter():
    routes = _registered()
    rng = random.Random(14)
    for _ in range(20):
        shuffled = routes[:]
        rng.shuffle(shuffled)
        router = _table(shuffled)
        for path, methods in CASES.items():
            for method, kind in methods.items():
                assert router.resolve(path, method)[0]() == kind, (path, method)


def test_post_without_trailing_slash_is_the_upload_start():
    router = _table(_registered())
    found = router.resolve("x/blobs/uploads", "POST")
    assert isinstance(found, tuple) and found[0]() == "uploads-start"
    assert router.resolve("x/blobs/uploads", "GET") == {"POST"}  # 405, not a blob GET
    assert router.resolve("x/nothing", "GET") is None


def test_newlines_reach_the_name_check_or_match_nothing():
    router = _table(_registered())
    found = router.resolve("x\n/manifests/latest", "GET")   # a name with a newline: NAME_INVALID
    assert isinstance(found, tuple) and found[1]["name"] == "x\n"
    assert router.resolve("x/tags/list\n", "GET") is None


def test_specificity_prefers_more_literal_patterns():
    assert dispatch.specificity(r"(?P<name>.+)/blobs/uploads") < dispatch.specificity(r"(?P<name>.+)/blobs/(?P<d>[^/]+)")


@pytest.mark.parametrize("value, length, expected", [
    ("0-9", 10, (0, 9)), ("bytes=5-5", 1, (5, 5)), ("bytes 0-99/100", 100, (0, 99)),
    ("0-99/*", None, (0, 99)), (" 7-8 ", 2, (7, 8)), ("0-0", 0, (0, 0)),
    (f"0-{2**63 - 1}", None, (0, 2**63 - 1)),
])
def test_content_range_accepted(value, length, expected):
    r = parse_content_range(value, length)
    assert (r.start, r.end) == expected


@pytest.mark.parametrize("value, length", [
    ("bytes=abc", None), ("-5-0", None), ("5-", None), ("-5", None), ("10-5", None),
    ("0-99999999999999999999", None), (f"0-{2**63}", None), ("0-5", 100), ("0-9\n", 10),
    ("0x1-0x5", None), ("1_0-20", None), ("\u0660-\u0665", None), ("0-9/5", 10), ("", None),
    ("bytes=0-9,20-29", None), ("0 - 9", None), ("+1-2", None), ("0-9", 0),
])
def test_content_range_refused(value, length):
    with pytest.raises(RangeInvalid):
        parse_content_range(value, length)


def test_local_gateway_uses_the_same_parser():
    from local.server import RANGE_REFUSED, _range_start

    assert _range_start([]) is None
    assert _range_start([("Content-Range", "bytes=5-9"), ("Content-Length", "5")]) == 5
    assert _range_start([("Content-Range", "5-100")]) == 5  # the registry compares it with the upload
    for bad in ("bytes=abc", "-5-0", "0-99999999999999999999", "10-5"):
        assert _range_start([("Content-Range", bad)]) == RANGE_REFUSED, bad
    assert _range_start([("Content-Range", "0-5"), ("Content-Length", "100")]) == RANGE_REFUSED


class _Request:
    method = "PUT"
    context = {"requestId": "r-1"}

    def __init__(self, path: str) -> None:
        self._path = path

    def to_original_event(self) -> dict:
        return {"path": self._path}


def test_error_boundary_answers_400_for_recursion_escaping_a_parser():
    import json

    from chalicelib.http.errors import error_boundary

    def deep(request):
        raise RecursionError("maximum recursion depth exceeded")

    for path, code in (("/v2/a/manifests/x", "MANIFEST_INVALID"), ("/token", "UNSUPPORTED")):
        resp = error_boundary(deep)(_Request(path))
        assert resp.status_code == 400
        assert json.loads(resp.body)["errors"][0]["code"] == code


def test_error_boundary_makes_storage_failures_retryable():
    import json

    from botocore.exceptions import EndpointConnectionError

    from chalicelib.http.errors import error_boundary

    def down(request):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    resp = error_boundary(down)(_Request("/v2/a/tags/list"))
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "1"
    assert json.loads(resp.body)["errors"][0]["detail"]["requestId"] == "r-1"
