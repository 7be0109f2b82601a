"""Helpers of the distribution-spec `main` conformance tests (test_conformance_main*.py): media
types, digests of both algorithms, the suite's request shapes (Api) and its documents."""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from typing import Any, Optional

import pytest
import requests

from support import TokenAuth


from support import TokenAuth

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_LAYER_ND = "application/vnd.oci.image.layer.nondistributable.v1.tar"
MT_LAYER_ND_GZ = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
MT_EMPTY_JSON = "application/vnd.oci.empty.v1+json"
MT_EXAMPLE = "application/vnd.example.conformance.one"
OCTET = "application/octet-stream"
CHUNK_MIN = 1024  # the main suite's chunkMin
MIB = 1024 * 1024
ALGOS = ["sha256", "sha512"]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def digest_of(data: bytes, algo: str = "sha256") -> str:
    return f"{algo}:{hashlib.new(algo, data).hexdigest()}"


def show(resp: requests.Response) -> str:
    return (f"{resp.request.method} {resp.request.url} -> {resp.status_code} "
            f"{dict(resp.headers)} {resp.content[:400]!r}")


def resolve(base: str, loc: str) -> str:
    """A Location header as a full URL (relative ones are on the registry)."""
    return loc if loc.startswith("http") else base + loc


def assert_oci_error(resp: requests.Response, status: Optional[int] = None,
                     code: Optional[str] = None) -> dict:
    """The OCI error body: {"errors":[{"code","message","detail"},...]}, non-empty,
    codes of uppercase letters and underscores."""
    if status is not None:
        assert resp.status_code == status, show(resp)
    assert resp.headers.get("Content-Type", "").split(";")[0].strip() == "application/json", show(resp)
    try:
        doc = resp.json()
    except ValueError:
        pytest.fail(f"error body is not JSON: {show(resp)}")
    assert isinstance(doc, dict) and "errors" in doc, show(resp)
    assert isinstance(doc["errors"], list) and doc["errors"], show(resp)
    for e in doc["errors"]:
        assert isinstance(e, dict), show(resp)
        assert {"code", "message", "detail"} <= set(e), f"error entry lacks code/message/detail: {e}"
        assert isinstance(e["code"], str) and e["code"], e
        assert all(c.isupper() or c == "_" for c in e["code"]), e
        assert isinstance(e["message"], str), e
    if code is not None:
        assert doc["errors"][0]["code"] == code, show(resp)
    return doc


class Api:
    """HTTP against the registry, following the main suite's request shapes."""

    def __init__(self, base: str, creds: tuple) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.auth = TokenAuth(*creds)

    def do(self, method: str, url: str, *, follow: bool = False, **kw: Any) -> requests.Response:
        return self.http.request(method, resolve(self.base, url), allow_redirects=follow,
                                 timeout=120, **kw)

    # -- blob pushes (api.go) ------------------------------------------------
    def post_only(self, repo: str, data: bytes, dig: str) -> requests.Response:
        return self.do("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": dig}, data=data,
                       headers={"Content-Type": OCTET})

    def post_put(self, repo: str, data: bytes, dig: str) -> requests.Response:
        r = self.do("POST", f"/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202 and r.headers.get("Location"), show(r)
        return self.do("PUT", r.headers["Location"], params={"digest": dig}, data=data,
                       headers={"Content-Type": OCTET})

    def stream(self, repo: str, data: bytes, dig: str) -> requests.Response:
        r = self.do("POST", f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
        assert r.status_code == 202 and r.headers.get("Location"), show(r)
        r = self.do("PATCH", r.headers["Location"], data=data, headers={"Content-Type": OCTET})
        assert r.status_code == 202 and r.headers.get("Location"), show(r)
        return self.do("PUT", r.headers["Location"], params={"digest": dig}, data=b"",
                       headers={"Content-Type": OCTET})

    def chunk_min(self, repo: str) -> int:
        """The chunk size the main suite would use: max(1024, OCI-Chunk-Min-Length)."""
        r = self.do("POST", f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
        assert r.status_code == 202, show(r)
        self.do("DELETE", r.headers["Location"])
        raw = r.headers.get("OCI-Chunk-Min-Length", "")
        return max(CHUNK_MIN, int(raw)) if raw else CHUNK_MIN

    def chunked(self, repo: str, data: bytes, dig: str, *, put_last: bool = False,
                out_of_order: bool = False) -> requests.Response:
        """BlobPatchChunked: PATCH chunks with Content-Range (no `bytes=`), PUT ?digest=."""
        r = self.do("POST", f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
        assert r.status_code == 202, show(r)
        loc = r.headers["Location"]
        size = len(data) // 3 + 1
        raw = r.headers.get("OCI-Chunk-Min-Length", "")
        if raw:
            size = max(size, int(raw))
        size = min(max(size, CHUNK_MIN), len(data))
        last = -1
        resp: Optional[requests.Response] = None
        while last < len(data) - 1:
            if out_of_order:
                bad_start = last + 1 + size
                if bad_start >= len(data):
                    bad_start = 0
                bad_last = min(bad_start + size - 1, len(data) - 1)
                method = "PUT" if put_last and bad_last == len(data) - 1 else "PATCH"
                params = {"digest": dig} if method == "PUT" else None
                r = self.do(method, loc, params=params, data=data[bad_start:bad_last + 1],
                            headers={"Content-Type": OCTET, "Content-Range": f"{bad_start}-{bad_last}"})
                assert r.status_code == 416, show(r)
                loc = r.headers.get("Location") or loc
                r = self.do("GET", loc)
                assert r.status_code == 204, show(r)
                loc = r.headers.get("Location") or loc
                rng = r.headers.get("Range", "")
                assert rng.startswith("0-"), show(r)
                if last >= 0:
                    assert rng == f"0-{last}", show(r)
            start = last + 1
            last = min(start + size - 1, len(data) - 1)
            headers = {"Content-Type": OCTET, "Content-Range": f"{start}-{last}"}
            if put_last and last == len(data) - 1:
                return self.do("PUT", loc, params={"digest": dig}, data=data[start:last + 1],
                               headers=headers)
            r = self.do("PATCH", loc, data=data[start:last + 1], headers=headers)
            assert r.status_code == 202, show(r)
            assert r.headers.get("Range") == f"0-{last}", show(r)
            loc = r.headers["Location"]
        resp = self.do("PUT", loc, params={"digest": dig}, data=b"",
                       headers={"Content-Type": OCTET, "Content-Length": "0"})
        return resp

    def mount(self, repo: str, dig: str, source: Optional[str]) -> requests.Response:
        params = {"mount": dig, **({"from": source} if source else {})}
        return self.do("POST", f"/v2/{repo}/blobs/uploads/", params=params)

    # -- checks ----------------------------------------------------------------
    def check_blob(self, repo: str, dig: str, data: bytes, location: Optional[str] = None) -> None:
        """HEAD and GET of a pushed blob (and of the Location its push returned)."""
        r = self.do("HEAD", f"/v2/{repo}/blobs/{dig}")
        assert r.status_code == 200 and r.content == b"", show(r)
        assert r.headers.get("Content-Length") == str(len(data)), show(r)
        assert r.headers.get("Docker-Content-Digest") == dig, show(r)
        r = self.do("GET", f"/v2/{repo}/blobs/{dig}", follow=True)
        assert r.status_code == 200, show(r)
        assert r.content == data, "GET returned different bytes"
        assert r.headers.get("Content-Length") == str(len(data)), show(r)
        if location:
            r = self.do("GET", location, follow=True)
            assert r.status_code == 200 and r.content == data, show(r)

    def delete_blob(self, repo: str, dig: str) -> None:
        r = self.do("DELETE", f"/v2/{repo}/blobs/{dig}")
        assert r.status_code == 202, show(r)
        r = self.do("HEAD", f"/v2/{repo}/blobs/{dig}")
        assert r.status_code == 404, show(r)

    def push_blob(self, repo: str, data: bytes, algo: str = "sha256") -> str:
        dig = digest_of(data, algo)
        r = self.post_put(repo, data, dig)
        assert r.status_code == 201, show(r)
        return dig

    def put_manifest(self, repo: str, ref: str, body: bytes,
                     media_type: str = MT_MANIFEST) -> requests.Response:
        return self.do("PUT", f"/v2/{repo}/manifests/{ref}", data=body,
                       headers={"Content-Type": media_type})

    def check_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> None:
        """GET and HEAD like ManifestGetExists/ManifestHeadExists."""
        accept = {"Accept": f"{MT_INDEX}, {MT_MANIFEST}"}
        r = self.do("GET", f"/v2/{repo}/manifests/{ref}", headers=accept)
        assert r.status_code == 200, show(r)
        assert r.content == body, "manifest bytes changed"
        assert r.headers.get("Content-Type") == media_type, show(r)
        assert r.headers.get("Content-Length") == str(len(body)), show(r)
        dig = digest_of(body, ref.split(":")[0] if ":" in ref else "sha256")
        assert r.headers.get("Docker-Content-Digest") in (None, dig), show(r)
        r = self.do("HEAD", f"/v2/{repo}/manifests/{ref}", headers=accept)
        assert r.status_code == 200 and r.content == b"", show(r)
        assert r.headers.get("Content-Type") == media_type, show(r)
        assert r.headers.get("Content-Length") == str(len(body)), show(r)

    def delete_tag(self, repo: str, tag: str) -> None:
        r = self.do("DELETE", f"/v2/{repo}/manifests/{tag}")
        assert r.status_code == 202, show(r)
        r = self.do("HEAD", f"/v2/{repo}/manifests/{tag}")
        assert r.status_code == 404, show(r)

    def delete_manifest(self, repo: str, dig: str) -> None:
        r = self.do("DELETE", f"/v2/{repo}/manifests/{dig}")
        assert r.status_code == 202, show(r)
        r = self.do("HEAD", f"/v2/{repo}/manifests/{dig}")
        assert r.status_code == 404, show(r)


@pytest.fixture(scope="module")
def api(registry) -> Api:
    return Api(registry.url, registry.admin)


def new_repo(prefix: str = "main") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


# -- documents -------------------------------------------------------------
def config_bytes(arch: str = "amd64", os_: str = "linux", diff_ids: Optional[list] = None) -> bytes:
    return json.dumps({"architecture": arch, "os": os_, "nonce": uuid.uuid4().hex,
                       "rootfs": {"type": "layers", "diff_ids": diff_ids or []}}).encode()


def desc(media_type: str, data: bytes, algo: str = "sha256", **extra: Any) -> dict:
    return {"mediaType": media_type, "digest": digest_of(data, algo), "size": len(data), **extra}


def image(api: Api, repo: str, *, algo: str = "sha256", layers: int = 1,
          annotations: Optional[dict] = None, push: bool = True) -> tuple[bytes, dict]:
    """Push config and layers of a small image; return (manifest bytes, descriptor)."""
    cfg = config_bytes()
    blobs = [cfg] + [os.urandom(64) for _ in range(layers)]
    if push:
        for b in blobs:
            api.push_blob(repo, b, algo)
    doc: dict = {"schemaVersion": 2, "mediaType": MT_MANIFEST,
                 "config": desc(MT_CONFIG, cfg, algo),
                 "layers": [desc(MT_LAYER, b, algo) for b in blobs[1:]]}
    if annotations:
        doc["annotations"] = annotations
    body = json.dumps(doc, indent=2).encode()
    return body, desc(MT_MANIFEST, body, algo)


def index(children: list, *, platforms: Optional[list] = None, algo: str = "sha256") -> tuple[bytes, dict]:
    manifests = []
    for i, child in enumerate(children):
        d = dict(child)
        if platforms and platforms[i]:
            d["platform"] = platforms[i]
        manifests.append(d)
    body = json.dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": manifests},
                      indent=2).encode()
    return body, desc(MT_INDEX, body, algo)
