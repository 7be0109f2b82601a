"""What the rewritten conformance suite on distribution-spec `main` adds: ping, empty
repositories and every blob API (manifests, listings and names: test_conformance_main_manifests.py).

The `main` suite (conformance/run.go + api.go, a standalone Go program) is not
v1.1.x; checklist section 10 summarises it. These tests reproduce the parts
that apply to this registry, with the same request shapes and expectations:

* ping (`GET /v2/`), tag list and referrers of an empty repository;
* every blob push API for sha256 AND sha512 (post only, post+put, chunked
  single/multi, with the last chunk in the PUT, out-of-order, stream, mount,
  anonymous mount, mount of a missing blob, post + cancel), each followed by
  HEAD, GET, DELETE and a HEAD that must be 404;
* blob Range GETs (the registry answers GET with a 307 to a presigned S3 URL;
  the Range request goes to S3);
* well-known blobs (empty, `{}`), bad-digest uploads through every path.

Every test uses its own repository (the `repo` fixture or a fresh name), so
they are independent of each other and of test_conformance.py.
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

from conformance_main_support import (  # noqa: F401 - `api` is a fixture pytest finds by name
    ALGOS, api, assert_oci_error, digest_of, MT_INDEX, new_repo, OCTET, show)


# ===========================================================================
# ping and empty repository
# ===========================================================================
def test_ping_v2_200(api):
    r = api.do("GET", "/v2/")
    assert r.status_code == 200, show(r)
    assert r.headers.get("Docker-Distribution-API-Version") == "registry/2.0", show(r)


def test_empty_repo_tag_list(api):
    """TestEmptyTagList: 200 with a (empty) JSON tag list, or 404."""
    repo = new_repo("empty")
    r = api.do("GET", f"/v2/{repo}/tags/list")
    assert r.status_code in (200, 404), show(r)
    if r.status_code == 200:
        assert r.json().get("tags") in ([], None), show(r)
    else:
        assert_oci_error(r, 404, "NAME_UNKNOWN")


def test_empty_repo_referrers(api):
    """TestEmptyReferrers: referrers of a random subject in an empty repository."""
    repo = new_repo("empty")
    subject = digest_of(os.urandom(32))
    r = api.do("GET", f"/v2/{repo}/referrers/{subject}")
    assert r.status_code == 200, show(r)
    assert r.headers.get("Content-Type") == MT_INDEX, show(r)
    doc = r.json()
    assert doc.get("schemaVersion") == 2 and doc.get("mediaType") == MT_INDEX, show(r)
    assert doc.get("manifests") == [], show(r)


# ===========================================================================
# blob APIs, sha256 and sha512
# ===========================================================================
BLOB_APIS = ["post only", "post+put", "chunked single", "chunked multi",
             "chunked multi and put chunk", "chunked out-of-order",
             "chunked out-of-order and put chunk", "stream", "mount", "mount anonymous",
             "mount missing", "post cancel"]


@pytest.mark.parametrize("algo", ALGOS)
def test_blob_get_missing_404(api, algo):
    repo = new_repo("blobs")
    r = api.do("GET", f"/v2/{repo}/blobs/{digest_of(os.urandom(16), algo)}", follow=True)
    assert_oci_error(r, 404, "BLOB_UNKNOWN")


@pytest.mark.parametrize("how", BLOB_APIS)
@pytest.mark.parametrize("algo", ALGOS)
def test_blob_push_api(api, algo, how):
    repo, repo2 = new_repo("blobs"), new_repo("blobs2")
    data = os.urandom(512)
    if how.startswith("chunked multi") or how.startswith("chunked out-of-order"):
        # "large enough to span three chunks" of max(1024, OCI-Chunk-Min-Length)
        data = os.urandom(api.chunk_min(repo) * 3 - 5)
    dig = digest_of(data, algo)
    location = None
    if how == "post only":
        r = api.post_only(repo, data, dig)
        assert r.status_code == 201, show(r)  # the suite accepts 202 + PUT as a fallback
        location = r.headers.get("Location")
    elif how == "post+put":
        r = api.post_put(repo, data, dig)
        assert r.status_code == 201, show(r)
        location = r.headers.get("Location")
    elif how.startswith("chunked"):
        r = api.chunked(repo, data, dig, put_last="put chunk" in how,
                        out_of_order="out-of-order" in how)
        assert r.status_code == 201, show(r)
        location = r.headers.get("Location")
    elif how == "stream":
        r = api.stream(repo, data, dig)
        assert r.status_code == 201, show(r)
        location = r.headers.get("Location")
    elif how in ("mount", "mount anonymous"):
        r = api.post_put(repo2, data, dig)
        assert r.status_code == 201, show(r)
        r = api.mount(repo, dig, repo2 if how == "mount" else None)
        assert r.status_code == 201, show(r)  # automatic cross-mount is enabled
        location = r.headers.get("Location")
        assert urlsplit(location or "").path == f"/v2/{repo}/blobs/{dig}", show(r)
    elif how == "mount missing":
        r = api.mount(repo, dig, repo2)  # never pushed to repo2 (nor anywhere)
        assert r.status_code == 202, show(r)
        assert urlsplit(r.headers.get("Location", "")).path.startswith(f"/v2/{repo}/blobs/uploads/"), show(r)
        # the suite then falls back to PUT on that session
        r = api.do("PUT", r.headers["Location"], params={"digest": dig}, data=data,
                   headers={"Content-Type": OCTET})
        assert r.status_code == 201, show(r)
        location = r.headers.get("Location")
    elif how == "post cancel":
        r = api.do("POST", f"/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202 and r.headers.get("Location"), show(r)
        session = r.headers["Location"]
        r = api.do("DELETE", session, headers={"Content-Length": "0"})
        assert r.status_code == 204, show(r)
        r = api.do("GET", session)
        assert_oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN")
        r = api.do("DELETE", f"/v2/{repo}/blobs/{dig}")
        assert r.status_code in (202, 404, 405), show(r)
        r = api.do("HEAD", f"/v2/{repo}/blobs/{dig}")
        assert r.status_code == 404, show(r)
        return
    if r.headers.get("Docker-Content-Digest"):
        assert r.headers["Docker-Content-Digest"] == dig, show(r)
    assert location, f"no Location on the 201: {show(r)}"
    api.check_blob(repo, dig, data, location)
    api.delete_blob(repo, dig)
    if how in ("mount", "mount anonymous"):
        api.delete_blob(repo2, dig)


def test_upload_cancel_then_get_404(api, repo):
    """DELETE on an upload session: 204, then the session is gone (404 BLOB_UPLOAD_UNKNOWN)."""
    r = api.do("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, show(r)
    session = r.headers["Location"]
    r = api.do("PATCH", session, data=b"some bytes", headers={"Content-Type": OCTET})
    assert r.status_code == 202, show(r)
    r = api.do("DELETE", session)
    assert r.status_code == 204, show(r)
    r = api.do("GET", session)
    assert_oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN")
    r = api.do("PATCH", session, data=b"more", headers={"Content-Type": OCTET})
    assert_oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN")
    r = api.do("DELETE", session)
    assert_oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


# -- Range GET ---------------------------------------------------------------
RANGE_LEN = 2048
RANGE_CASES = [
    ("bytes=500-1499", 500, 1499),
    ("bytes=500-", 500, RANGE_LEN - 1),
    ("bytes=-500", RANGE_LEN - 500, RANGE_LEN - 1),
    ("bytes=2000-5000", 2000, RANGE_LEN - 1),
    ("bytes=500-0", None, None),        # -> 416
    ("bytes=5000-10000", None, None),   # -> 416
]


@pytest.fixture(scope="module")
def range_blob(api) -> dict:
    repo = new_repo("range")
    out = {}
    for algo in ALGOS:
        data = os.urandom(RANGE_LEN)
        out[algo] = (repo, api.push_blob(repo, data, algo), data)
    return out


@pytest.mark.parametrize("rng,first,last", RANGE_CASES, ids=[c[0] for c in RANGE_CASES])
@pytest.mark.parametrize("algo", ALGOS)
def test_blob_range_get(api, range_blob, algo, rng, first, last):
    """Range GET: 206 + exact bytes + Content-Length + Content-Range (or 416).
    The registry 307-redirects blob GETs to a presigned S3 URL, so the Range
    request is answered by S3 (moto here)."""
    repo, dig, data = range_blob[algo]
    r = api.do("GET", f"/v2/{repo}/blobs/{dig}")
    via_s3 = r.status_code == 307
    if via_s3:
        target = r.headers["Location"]
    else:
        assert r.status_code == 200, show(r)
        target = f"/v2/{repo}/blobs/{dig}"
    r = api.do("GET", target, headers={"Range": rng})
    if first is None:
        if via_s3 and rng == "bytes=500-0" and r.status_code == 200 and r.content == data:
            pytest.xfail("moto answers a Range whose last byte precedes its first with 200 and the "
                         "whole object (moto/s3/responses.py _handle_range_header: 'Treat as non-range "
                         "request', mirroring S3, as RFC 9110 allows for an invalid range); the main "
                         "suite wants 416, which only a registry-served Range could give")
        assert r.status_code == 416, show(r)
        return
    assert r.status_code == 206, f"range unsupported or wrong: {show(r)}"
    assert r.content == data[first:last + 1]
    assert r.headers.get("Content-Length") == str(last - first + 1), show(r)
    assert r.headers.get("Content-Range") in (f"bytes {first}-{last}/{RANGE_LEN}",
                                              f"bytes {first}-{last}/*"), show(r)


def test_blob_range_get_following_redirect(api, range_blob):
    """A client that sends Range to the registry and follows the 307 (as Go's
    http client does, keeping the header) gets the partial content."""
    repo, dig, data = range_blob["sha256"]
    r = api.do("GET", f"/v2/{repo}/blobs/{dig}", follow=True, headers={"Range": "bytes=500-1499"})
    assert r.status_code == 206, show(r)
    assert r.content == data[500:1500]
    assert r.headers.get("Content-Range") == f"bytes 500-1499/{RANGE_LEN}", show(r)


# -- well-known blobs --------------------------------------------------------
@pytest.mark.parametrize("content", [b"", b"{}"], ids=["empty", "emptyJSON"])
@pytest.mark.parametrize("how", ["post only", "post+put"])
@pytest.mark.parametrize("algo", ALGOS)
def test_well_known_blob(api, algo, how, content):
    repo = new_repo("wellknown")
    dig = digest_of(content, algo)
    r = (api.post_only if how == "post only" else api.post_put)(repo, content, dig)
    assert r.status_code == 201, show(r)
    api.check_blob(repo, dig, content, r.headers.get("Location"))
    api.delete_blob(repo, dig)


# -- bad digests ---------------------------------------------------------------
BAD_DIGEST_PATHS = ["post only", "post+put", "chunked", "chunked and put chunk", "stream"]


@pytest.mark.parametrize("how", BAD_DIGEST_PATHS)
@pytest.mark.parametrize("algo", ALGOS)
def test_bad_digest_upload_rejected(api, algo, how):
    """The bytes sent are the blob plus "oh no"; the digest is the blob's.
    Expect 400 DIGEST_INVALID, and nothing visible afterwards."""
    repo = new_repo("baddigest")
    blob = os.urandom(api.chunk_min(repo) * 3 - 5)
    dig = digest_of(blob, algo)
    sent = blob + b"oh no"
    if how == "post only":
        r = api.post_only(repo, sent, dig)
    elif how == "post+put":
        r = api.post_put(repo, sent, dig)
    elif how == "stream":
        r = api.stream(repo, sent, dig)
    else:
        r = api.chunked(repo, sent, dig, put_last=how == "chunked and put chunk")
    assert_oci_error(r, 400, "DIGEST_INVALID")
    for d in (dig, digest_of(sent, algo)):
        h = api.do("HEAD", f"/v2/{repo}/blobs/{d}")
        assert h.status_code == 404, show(h)
