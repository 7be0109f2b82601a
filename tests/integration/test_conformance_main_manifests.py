"""What the rewritten conformance suite on distribution-spec `main` adds, for manifests:
data sets (large manifest, nested/empty index, sha512 index, non-distributable layers),
error cases, tag and catalog pagination, repository names and the OCI error body shape.

Every test uses its own repository, as in test_conformance_main.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from typing import Callable, Optional
from urllib.parse import urlsplit

import pytest
import requests

from conformance_main_support import (  # noqa: F401 - `api` is a fixture pytest finds by name
    api, Api, assert_oci_error, config_bytes, desc, digest_of, image, index, MIB, MT_CONFIG,
    MT_INDEX, MT_LAYER, MT_LAYER_ND, MT_LAYER_ND_GZ, MT_MANIFEST, new_repo, OCTET, show)


# ===========================================================================
# manifests: data sets
# ===========================================================================
def test_large_manifest_accepted_byte_identical(api, repo):
    """390 annotations x 10,000 bytes: about 3.9 MB, under the 4 MiB limit."""
    annotations = {f"large-annotation-{i}": "A" * 10000 for i in range(390)}
    body, d = image(api, repo, annotations=annotations)
    assert 3_800_000 < len(body) < 4 * MIB
    r = api.put_manifest(repo, "large-manifest", body)
    assert r.status_code == 201, show(r)
    assert r.headers.get("Docker-Content-Digest") in (None, d["digest"]), show(r)
    api.check_manifest(repo, "large-manifest", body, MT_MANIFEST)
    api.check_manifest(repo, d["digest"], body, MT_MANIFEST)
    r = api.do("GET", f"/v2/{repo}/tags/list")
    assert r.status_code == 200 and "large-manifest" in r.json()["tags"], show(r)
    api.delete_tag(repo, "large-manifest")
    api.delete_manifest(repo, d["digest"])


def test_manifest_over_4mib_refused_413(api, repo):
    annotations = {f"large-annotation-{i}": "A" * 10000 for i in range(430)}
    body, d = image(api, repo, annotations=annotations)
    assert len(body) > 4 * MIB
    r = api.put_manifest(repo, "too-large", body)
    assert r.status_code == 413, show(r)
    assert_oci_error(r, 413)
    r = api.put_manifest(repo, d["digest"], body)
    assert r.status_code == 413, show(r)
    for ref in ("too-large", d["digest"]):
        r = api.do("GET", f"/v2/{repo}/manifests/{ref}")
        assert r.status_code == 404, show(r)


def test_nested_index(api, repo):
    plats = [{"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64"}]
    pushed = []  # (ref, body, media type), in push order
    inner = []
    for _ in range(2):
        children = []
        for _ in range(2):
            body, d = image(api, repo)
            r = api.put_manifest(repo, d["digest"], body)
            assert r.status_code == 201, show(r)
            pushed.append((d["digest"], body, MT_MANIFEST))
            children.append(d)
        body, d = index(children, platforms=plats)
        r = api.put_manifest(repo, d["digest"], body, MT_INDEX)
        assert r.status_code == 201, show(r)
        pushed.append((d["digest"], body, MT_INDEX))
        inner.append(d)
    top, top_d = index(inner)
    r = api.put_manifest(repo, "index-of-index", top, MT_INDEX)
    assert r.status_code == 201, show(r)
    assert r.headers.get("Docker-Content-Digest") in (None, top_d["digest"]), show(r)
    api.check_manifest(repo, "index-of-index", top, MT_INDEX)
    api.check_manifest(repo, top_d["digest"], top, MT_INDEX)
    for ref, body, mt in pushed:
        api.check_manifest(repo, ref, body, mt)
    api.delete_tag(repo, "index-of-index")
    api.delete_manifest(repo, top_d["digest"])
    for ref, _, _ in reversed(pushed):
        api.delete_manifest(repo, ref)


def test_empty_index(api, repo):
    body, d = index([])
    r = api.put_manifest(repo, "index", body, MT_INDEX)
    assert r.status_code == 201, show(r)
    api.check_manifest(repo, "index", body, MT_INDEX)
    api.check_manifest(repo, d["digest"], body, MT_INDEX)
    api.delete_tag(repo, "index")
    api.delete_manifest(repo, d["digest"])


def test_sha512_index_pushed_by_digest(api, repo):
    """The main suite's sha512 data set: every descriptor and the pushes use sha512."""
    children = []
    for _ in range(2):
        body, d = image(api, repo, algo="sha512")
        r = api.put_manifest(repo, d["digest"], body)
        assert r.status_code == 201, show(r)
        assert r.headers.get("Docker-Content-Digest") in (None, d["digest"]), show(r)
        children.append((d, body))
    body, d = index([c[0] for c in children], algo="sha512",
                    platforms=[{"os": "linux", "architecture": "amd64"},
                               {"os": "linux", "architecture": "arm64"}])
    r = api.put_manifest(repo, d["digest"], body, MT_INDEX)
    assert r.status_code == 201, show(r)
    api.check_manifest(repo, d["digest"], body, MT_INDEX)
    for cd, cbody in children:
        api.check_manifest(repo, cd["digest"], cbody, MT_MANIFEST)
    api.delete_manifest(repo, d["digest"])
    for cd, _ in children:
        api.delete_manifest(repo, cd["digest"])


def test_non_distributable_layers_need_not_exist(api, repo):
    """Non-distributable layers with `urls` are not pushed; the manifest is accepted."""
    cfg = config_bytes()
    api.push_blob(repo, cfg)
    normal = os.urandom(128)
    api.push_blob(repo, normal)
    nd_gz, nd = os.urandom(256), os.urandom(256)
    layers = [
        desc(MT_LAYER_ND_GZ, nd_gz, size=123456,
             urls=[f"https://store.example.com/blobs/sha256/{hashlib.sha256(nd_gz).hexdigest()}"]),
        desc(MT_LAYER_ND, nd, size=12345,
             urls=[f"https://store.example.com/blobs/sha256/{hashlib.sha256(nd).hexdigest()}"]),
        desc(MT_LAYER, normal),
    ]
    body = json.dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST,
                       "config": desc(MT_CONFIG, cfg), "layers": layers}, indent=2).encode()
    r = api.put_manifest(repo, "non-distributable-image", body)
    assert r.status_code == 201, show(r)
    api.check_manifest(repo, "non-distributable-image", body, MT_MANIFEST)
    api.delete_tag(repo, "non-distributable-image")
    api.delete_manifest(repo, digest_of(body))


# ===========================================================================
# manifests: error cases
# ===========================================================================
def test_index_with_missing_children_400(api, repo):
    present, pd = image(api, repo)
    assert api.put_manifest(repo, pd["digest"], present).status_code == 201
    ghost = desc(MT_MANIFEST, os.urandom(1024))
    body, d = index([pd, ghost], platforms=[{"os": "linux", "architecture": "amd64"},
                                            {"os": "linux", "architecture": "arm64"}])
    for ref in ("sparse-index", d["digest"]):
        r = api.put_manifest(repo, ref, body, MT_INDEX)
        assert_oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN")  # as distribution reports missing children
    for ref in ("sparse-index", d["digest"]):
        r = api.do("GET", f"/v2/{repo}/manifests/{ref}")
        assert_oci_error(r, 404, "MANIFEST_UNKNOWN")


def test_manifest_with_missing_blobs_400_not_stored(api, repo):
    body, d = image(api, repo, push=False)  # neither config nor layer pushed
    for ref in ("sparse-image", d["digest"]):
        r = api.put_manifest(repo, ref, body)
        assert_oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
    for ref in ("sparse-image", d["digest"]):
        r = api.do("GET", f"/v2/{repo}/manifests/{ref}")
        assert_oci_error(r, 404, "MANIFEST_UNKNOWN")
    # Only the layer missing (the main suite's sparse image removes one layer).
    cfg = config_bytes()
    api.push_blob(repo, cfg)
    layer = os.urandom(64)
    body = json.dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": desc(MT_CONFIG, cfg),
                       "layers": [desc(MT_LAYER, layer)]}).encode()
    r = api.put_manifest(repo, digest_of(body), body)
    assert_oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
    r = api.do("GET", f"/v2/{repo}/manifests/{digest_of(body)}")
    assert r.status_code == 404, show(r)


def test_manifest_body_not_matching_digest_400(api, repo):
    """bad-digest-image: two spaces appended to the body, pushed under the original digest."""
    body, d = image(api, repo)
    sent = body + b"  "
    r = api.put_manifest(repo, d["digest"], sent)
    assert_oci_error(r, 400, "DIGEST_INVALID")
    for ref in (d["digest"], digest_of(sent)):
        r = api.do("GET", f"/v2/{repo}/manifests/{ref}")
        assert r.status_code == 404, show(r)


def test_manifest_put_malformed_digest_400_get_404_or_400(api, repo):
    body, _ = image(api, repo)
    r = api.put_manifest(repo, "sha256:baddigeststring", body)
    assert_oci_error(r, 400)
    r = api.do("GET", f"/v2/{repo}/manifests/sha256:baddigeststring")
    assert r.status_code in (400, 404), show(r)
    assert_oci_error(r)


def test_manifest_missing_by_digest_and_tag_404(api, repo):
    api.push_blob(repo, b"x")  # the repository exists
    for ref in (digest_of(os.urandom(1024)), f"missing-{uuid.uuid4().hex[:20]}"):
        r = api.do("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": MT_MANIFEST})
        assert_oci_error(r, 404, "MANIFEST_UNKNOWN")


# ===========================================================================
# listings
# ===========================================================================
def _follow_pages(api: Api, first_url: str, key: str, n: int) -> list[list]:
    pages, url = [], first_url
    for _ in range(1000):
        r = api.do("GET", url)
        assert r.status_code == 200, show(r)
        items = r.json()[key]
        assert isinstance(items, list) and len(items) <= n, show(r)
        pages.append(items)
        link = r.headers.get("Link")
        if not link:
            return pages
        assert 'rel="next"' in link, link
        target = link.split(";")[0].strip()
        assert target.startswith("<") and target.endswith(">"), link
        url = target[1:-1]
        assert items, f"a Link after an empty page: {show(r)}"
    pytest.fail("pagination did not end")


@pytest.fixture(scope="module")
def tagged_repo(api) -> tuple[str, list]:
    repo = new_repo("tags")
    body, _ = image(api, repo)
    tags = [f"tag-{i}" for i in range(24)] + ["Latest", "_hidden", "v1.0", "v1.0-rc1", "v1.0.1", "z"]
    for t in tags:
        r = api.put_manifest(repo, t, body)
        assert r.status_code == 201, show(r)
    return repo, sorted(tags)


@pytest.mark.parametrize("n", [7, 10])
def test_tag_list_pagination_follows_link(api, tagged_repo, n):
    repo, tags = tagged_repo
    assert len(tags) == 30
    r = api.do("GET", f"/v2/{repo}/tags/list")
    assert r.status_code == 200 and r.json()["tags"] == tags, show(r)
    assert r.json().get("name") == repo
    pages = _follow_pages(api, f"/v2/{repo}/tags/list?n={n}", "tags", n)
    assert [len(p) for p in pages] == [n] * (30 // n) + ([30 % n] if 30 % n else []), pages
    collected = [t for p in pages for t in p]
    assert collected == tags


def test_tag_list_last_is_exclusive(api, tagged_repo):
    """TestList: with last=<middle of the sorted list> exactly the later tags come back."""
    repo, tags = tagged_repo
    end = len(tags) // 2
    r = api.do("GET", f"/v2/{repo}/tags/list", params={"last": tags[end - 1]})
    assert r.status_code == 200, show(r)
    assert r.json()["tags"] == tags[end:], show(r)
    assert "Link" not in r.headers, show(r)
    # a `last` that is not itself a tag still means "after it"
    r = api.do("GET", f"/v2/{repo}/tags/list", params={"last": "tag-15a", "n": "3"})
    assert r.status_code == 200 and r.json()["tags"] == [t for t in tags if t > "tag-15a"][:3], show(r)


def test_catalog_pagination(api):
    prefix = f"catalog{uuid.uuid4().hex[:10]}"
    repos = [f"{prefix}/r{i:02d}" for i in range(5)]
    for repo in repos:
        api.push_blob(repo, b"catalog " + repo.encode())
    # Starting just before our names, pages of 2 hold exactly our repositories, in order.
    pages = []
    url = f"/v2/_catalog?n=2&last={prefix}"
    while url and len(pages) < 3:
        r = api.do("GET", url)
        assert r.status_code == 200, show(r)
        pages.append(r.json()["repositories"])
        link = r.headers.get("Link", "")
        if len(pages) < 3:
            assert 'rel="next"' in link, show(r)
        url = link.split(";")[0].strip()[1:-1] if link else ""
    assert pages[0] == repos[0:2] and pages[1] == repos[2:4], pages
    assert pages[2][0] == repos[4], pages
    # The whole catalog, n=7 at a time: sorted, no duplicates, ours included.
    full = [name for p in _follow_pages(api, "/v2/_catalog?n=7", "repositories", 7) for name in p]
    assert full == sorted(full) and len(full) == len(set(full)), full
    assert [x for x in full if x.startswith(prefix + "/")] == repos
    r = api.do("GET", "/v2/_catalog")
    assert r.status_code == 200 and all(x in r.json()["repositories"] for x in repos), show(r)


# ===========================================================================
# repository names and errors
# ===========================================================================
def test_four_component_repository_name(api):
    repo = f"a{uuid.uuid4().hex[:8]}/b-c/d_e/f.g"
    body, d = image(api, repo)
    r = api.put_manifest(repo, "latest", body)
    assert r.status_code == 201, show(r)
    assert urlsplit(r.headers.get("Location", "")).path == f"/v2/{repo}/manifests/{d['digest']}", show(r)
    api.check_manifest(repo, "latest", body, MT_MANIFEST)
    r = api.do("GET", f"/v2/{repo}/tags/list")
    assert r.status_code == 200 and r.json() == {"name": repo, "tags": ["latest"]}, show(r)
    r = api.do("GET", f"/v2/{repo}/referrers/{d['digest']}")
    assert r.status_code == 200 and r.json()["manifests"] == [], show(r)
    api.delete_manifest(repo, d["digest"])


INVALID_NAMES = ["Upper/case", "lower/CASE", "a..b/c", "-lead/x", "x/trail-"]
NAME_ENDPOINTS = [
    ("GET", "/v2/{n}/manifests/latest"),
    ("PUT", "/v2/{n}/manifests/latest"),
    ("DELETE", "/v2/{n}/manifests/latest"),
    ("POST", "/v2/{n}/blobs/uploads/"),
    ("GET", "/v2/{n}/tags/list"),
    ("GET", "/v2/{n}/blobs/" + digest_of(b"x")),
    ("GET", "/v2/{n}/referrers/" + digest_of(b"x")),
]


@pytest.mark.parametrize("method,path", NAME_ENDPOINTS, ids=[f"{m} {p.split('/')[3]}" for m, p in NAME_ENDPOINTS])
@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_repository_name_400(api, name, method, path):
    kw: dict = {}
    if method == "PUT":
        kw = {"data": b'{"schemaVersion":2}', "headers": {"Content-Type": MT_MANIFEST}}
    r = api.do(method, path.format(n=name), **kw)
    assert_oci_error(r, 400, "NAME_INVALID")


def _session(api: Api, repo: str) -> str:
    r = api.do("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, show(r)
    return r.headers["Location"]


ERROR_CASES: list[tuple[str, Callable[[Api, str], requests.Response], int, Optional[str]]] = [
    ("get missing tag", lambda a, r: a.do("GET", f"/v2/{r}/manifests/nope"), 404, "MANIFEST_UNKNOWN"),
    ("get missing digest", lambda a, r: a.do("GET", f"/v2/{r}/manifests/{digest_of(b'nope')}"),
     404, "MANIFEST_UNKNOWN"),
    ("get missing blob", lambda a, r: a.do("GET", f"/v2/{r}/blobs/{digest_of(b'nope')}"),
     404, "BLOB_UNKNOWN"),
    ("delete missing blob", lambda a, r: a.do("DELETE", f"/v2/{r}/blobs/{digest_of(b'nope')}"),
     404, "BLOB_UNKNOWN"),
    ("delete missing manifest", lambda a, r: a.do("DELETE", f"/v2/{r}/manifests/{digest_of(b'nope')}"),
     404, "MANIFEST_UNKNOWN"),
    ("delete missing tag", lambda a, r: a.do("DELETE", f"/v2/{r}/manifests/nope"), 404, "MANIFEST_UNKNOWN"),
    ("get unknown upload", lambda a, r: a.do("GET", f"/v2/{r}/blobs/uploads/{uuid.uuid4()}"),
     404, "BLOB_UPLOAD_UNKNOWN"),
    ("patch out of order", lambda a, r: a.do("PATCH", _session(a, r), data=b"abc",
                                            headers={"Content-Range": "5-7", "Content-Type": OCTET}),
     416, "BLOB_UPLOAD_INVALID"),
    ("put upload wrong digest", lambda a, r: a.do("PUT", _session(a, r), params={"digest": digest_of(b"a")},
                                                 data=b"b", headers={"Content-Type": OCTET}),
     400, "DIGEST_INVALID"),
    ("put upload without digest", lambda a, r: a.do("PUT", _session(a, r), data=b"b",
                                                   headers={"Content-Type": OCTET}),
     400, "DIGEST_INVALID"),
    ("post malformed digest", lambda a, r: a.post_only(r, b"b", "sha256:nothex"), 400, "DIGEST_INVALID"),
    ("put manifest not json", lambda a, r: a.put_manifest(r, "t", b"blablabla"), 400, "MANIFEST_INVALID"),
    ("put manifest missing blobs", lambda a, r: a.put_manifest(r, "t", image(a, r, push=False)[0]),
     400, "MANIFEST_BLOB_UNKNOWN"),
    ("put manifest invalid tag", lambda a, r: a.put_manifest(r, ".bad", image(a, r)[0]), 400, None),
    ("tags of unknown repo", lambda a, r: a.do("GET", f"/v2/{r}-none/tags/list"), 404, "NAME_UNKNOWN"),
    ("tags bad n", lambda a, r: a.do("GET", f"/v2/{r}/tags/list?n=abc"), 400, None),
    ("catalog bad n", lambda a, r: a.do("GET", "/v2/_catalog?n=-1"), 400, None),
    ("referrers bad digest", lambda a, r: a.do("GET", f"/v2/{r}/referrers/sha256:short"), 400, None),
    ("method not allowed", lambda a, r: a.do("POST", f"/v2/{r}/manifests/latest"), 405, "UNSUPPORTED"),
    ("unknown endpoint", lambda a, r: a.do("GET", f"/v2/{r}/nonsense/x"), 404, None),
    ("invalid name", lambda a, r: a.do("GET", "/v2/NOPE/tags/list"), 400, "NAME_INVALID"),
]


@pytest.mark.parametrize("make,status,code", [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_error_responses_have_oci_body(api, repo, make, status, code):
    api.push_blob(repo, b"exists")  # the repository exists
    r = make(api, repo)
    assert_oci_error(r, status, code)
