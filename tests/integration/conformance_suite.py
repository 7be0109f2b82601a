"""The data and client of the OCI distribution-spec v1.1.x conformance replay
(test_conformance.py, test_conformance_discovery.py): the suite's constants, blobs and
manifests, its reggie-like client and the state its workflows pass along."""
from __future__ import annotations

import base64
import gzip
import io
import json
import random
import secrets
import tarfile
import uuid
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from support import TokenAuth, sha256


# ---------------------------------------------------------------------------
# constants of the suite
# ---------------------------------------------------------------------------
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_EMPTY_JSON = "application/vnd.oci.empty.v1+json"
OCTET = "application/octet-stream"
USER_AGENT = "distribution-spec-conformance-tests"

# The error codes the suite accepts in a 400 body (setup.go's errorCodes).
SUITE_ERROR_CODES = {
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "MANIFEST_UNVERIFIED",
    "NAME_INVALID", "NAME_UNKNOWN", "SIZE_INVALID", "TAG_INVALID", "UNAUTHORIZED", "DENIED",
    "UNSUPPORTED",
}

NUM_WORKFLOWS = 16  # iota quirk in setup.go: 16 configs/manifests, only 0..4 used
TEST_TAG = "tagtest0"
EMPTY_LAYER_TAG = "emptylayer"
NONEXISTENT_MANIFEST = ".INVALID_MANIFEST_NAME"  # an invalid tag; the suite expects 404 anyway
INVALID_MANIFEST_CONTENT = b"blablabla"
ANNOTATION_KEY = "org.opencontainers.conformance.test"
REF_ARTIFACT_TYPE_A = "application/vnd.nhl.peanut.butter.bagel"
REF_ARTIFACT_TYPE_B = "application/vnd.nba.strawberry.jam.croissant"
REF_ARTIFACT_TYPE_INDEX = "application/vnd.food.stand"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

# One repository for every workflow, plus the cross-mount target.
NAMESPACE = f"conformance/{uuid.uuid4().hex[:12]}"
CROSSMOUNT = f"conformance-{uuid.uuid4()}"
SEED = random.SystemRandom().randrange(1 << 31)  # the suite's Ginkgo random seed


# ---------------------------------------------------------------------------
# fixtures generated like setup.go
# ---------------------------------------------------------------------------
def go_json(doc: Any) -> bytes:
    """Go's json.MarshalIndent(doc, "", "\\t") for the ASCII documents used here."""
    return json.dumps(doc, indent="\t", separators=(",", ": ")).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class Blob:
    content: bytes

    @property
    def digest(self) -> str:
        return sha256(self.content)

    @property
    def length(self) -> str:
        return str(len(self.content))


def random_author(n: int = 16) -> str:
    letters = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-"
    return "".join(secrets.choice(letters) for _ in range(n))


def descriptor(media_type: str, digest: str, size: int, *, annotations: Optional[dict] = None,
               data: Optional[bytes] = None, artifact_type: Optional[str] = None,
               new_unspecified: Optional[bytes] = None) -> dict:
    """The suite's `descriptor` struct: field order, omitempty rules and the
    `newUnspecifiedField` that has no omitempty (so it is null when unset)."""
    d: dict = {"mediaType": media_type, "digest": digest, "size": size}
    if annotations:
        d["annotations"] = annotations
    if data:
        d["data"] = b64(data)
    if artifact_type:
        d["artifactType"] = artifact_type
    d["newUnspecifiedField"] = b64(new_unspecified) if new_unspecified else None
    return d


def manifest_doc(config: dict, layers: list, *, media_type: Optional[str] = MT_MANIFEST,
                 artifact_type: Optional[str] = None, subject: Optional[dict] = None,
                 annotations: Optional[dict] = None) -> dict:
    doc: dict = {"schemaVersion": 2}
    if media_type:
        doc["mediaType"] = media_type
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc["config"] = config
    doc["layers"] = layers
    if subject:
        doc["subject"] = subject
    if annotations:
        doc["annotations"] = annotations
    return doc


def make_layer() -> bytes:
    """A small real gzip'd tarball (the suite embeds a 168-byte one made the same way:
    `echo '...' > test.txt; tar czvf test.tar.gz test.txt`), built deterministically."""
    text = b"you bothered to find out what was in here. Congratulations!\n"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("test.txt")
        info.size, info.mtime, info.mode = len(text), 1577836800, 0o644
        info.uname = info.gname = "root"
        tar.addfile(info, io.BytesIO(text))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def random_blob(size: int, seed: int) -> Blob:
    return Blob(random.Random(seed).randbytes(size))


def chunked_blob(size: int) -> dict:
    """setupChunkedBlob(size): chunk1 = first size/2+1 bytes, chunk2 = the rest;
    ranges without a `bytes=` prefix."""
    blob = random_blob(size, SEED + 2)
    cut = size // 2 + 1
    c1, c2 = blob.content[:cut], blob.content[cut:]
    return {"blob": blob, "chunk1": c1, "chunk2": c2,
            "range1": f"0-{len(c1) - 1}", "range2": f"{len(c1)}-{size - 1}"}


CONFIGS = [Blob(go_json({"author": random_author(), "architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}))
           for _ in range(NUM_WORKFLOWS)]
LAYER = Blob(make_layer())
LAYER_DESCRIPTORS = [descriptor(MT_LAYER, LAYER.digest, len(LAYER.content))]


def _image_config_descriptor(cfg: Blob) -> dict:
    return descriptor(MT_CONFIG, cfg.digest, len(cfg.content), data=cfg.content,
                      new_unspecified=b"hello world")


MANIFESTS = [Blob(go_json(manifest_doc(_image_config_descriptor(CONFIGS[i]), LAYER_DESCRIPTORS)))
             for i in range(NUM_WORKFLOWS)]
# No top-level mediaType, no layers; pushed with the manifest Content-Type.
EMPTY_LAYER_MANIFEST = Blob(go_json(manifest_doc(_image_config_descriptor(CONFIGS[1]), [],
                                                 media_type=None)))
TEST_BLOB_A = random_blob(42, SEED + 1)
DUMMY_DIGEST = sha256(b"hello world")

EMPTY_JSON = Blob(b"{}")
EMPTY_JSON_DESCRIPTOR = descriptor(MT_EMPTY_JSON, EMPTY_JSON.digest, 2)
REF_BLOB_A = Blob(b"NHL Peanut Butter on my NHL bagel")
REF_BLOB_B = Blob(b"NBA Strawberry Jam on my NBA croissant")


def _subject(m: Blob) -> dict:
    return descriptor(MT_MANIFEST, m.digest, len(m.content))


REFS_A_CONFIG = Blob(go_json(manifest_doc(
    descriptor(REF_ARTIFACT_TYPE_A, REF_BLOB_A.digest, len(REF_BLOB_A.content)),
    [EMPTY_JSON_DESCRIPTOR], subject=_subject(MANIFESTS[4]),
    annotations={ANNOTATION_KEY: "test config a"})))
REFS_B_CONFIG = Blob(go_json(manifest_doc(
    descriptor(REF_ARTIFACT_TYPE_B, REF_BLOB_B.digest, len(REF_BLOB_B.content)),
    [EMPTY_JSON_DESCRIPTOR], subject=_subject(MANIFESTS[4]),
    annotations={ANNOTATION_KEY: "test config b"})))
REFS_A_LAYER = Blob(go_json(manifest_doc(
    EMPTY_JSON_DESCRIPTOR,
    [descriptor(REF_ARTIFACT_TYPE_A, REF_BLOB_A.digest, len(REF_BLOB_A.content))],
    artifact_type=REF_ARTIFACT_TYPE_A, subject=_subject(MANIFESTS[4]),
    annotations={ANNOTATION_KEY: "test layer a"})))
REFS_B_LAYER = Blob(go_json(manifest_doc(
    EMPTY_JSON_DESCRIPTOR,
    [descriptor(REF_ARTIFACT_TYPE_B, REF_BLOB_B.digest, len(REF_BLOB_B.content))],
    artifact_type=REF_ARTIFACT_TYPE_B, subject=_subject(MANIFESTS[4]),
    annotations={ANNOTATION_KEY: "test layer b"})))
# Same as B-layer but its subject (manifests[3]) is never pushed during discovery.
REFS_C_LAYER = Blob(go_json(manifest_doc(
    EMPTY_JSON_DESCRIPTOR,
    [descriptor(REF_ARTIFACT_TYPE_B, REF_BLOB_B.digest, len(REF_BLOB_B.content))],
    artifact_type=REF_ARTIFACT_TYPE_B, subject=_subject(MANIFESTS[3]))))
_index_doc: dict = {
    "schemaVersion": 2, "mediaType": MT_INDEX, "artifactType": REF_ARTIFACT_TYPE_INDEX,
    "manifests": [descriptor(MT_MANIFEST, REFS_A_CONFIG.digest, len(REFS_A_CONFIG.content)),
                  descriptor(MT_MANIFEST, REFS_A_LAYER.digest, len(REFS_A_LAYER.content))],
    "subject": _subject(MANIFESTS[4]),
    "annotations": {ANNOTATION_KEY: "test index"},
}
REFS_INDEX = Blob(go_json(_index_doc))

ANNOTATION_VALUES = {
    REFS_A_CONFIG.digest: "test config a", REFS_B_CONFIG.digest: "test config b",
    REFS_A_LAYER.digest: "test layer a", REFS_B_LAYER.digest: "test layer b",
    REFS_INDEX.digest: "test index",
}

# State shared between the tests of a workflow (the suite's lastResponse & co).
state: dict[str, Any] = {}


# ---------------------------------------------------------------------------
# HTTP client with reggie's conventions
# ---------------------------------------------------------------------------
class Reggie:
    """requests with the suite's client behaviour: its User-Agent, and Locations
    followed by path+query only, sent back to the registry's root URL."""

    def __init__(self, root: str, creds: tuple) -> None:
        self.root = root
        self.http = requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT
        # reggie answers a Bearer challenge by fetching a token with the credentials
        self.http.auth = TokenAuth(*creds)

    def do(self, method: str, path: str, *, follow: bool = False, **kw: Any) -> requests.Response:
        url = path if path.startswith("http") else self.root + path
        return self.http.request(method, url, allow_redirects=follow, timeout=60, **kw)


@pytest.fixture(scope="module")
def reg(registry) -> Reggie:
    return Reggie(registry.url, registry.admin)


def rel_location(resp: requests.Response) -> str:
    """reggie's GetRelativeLocation(): path plus raw query of the Location header."""
    loc = resp.headers.get("Location", "")
    assert loc, f"no Location header (status {resp.status_code}, headers {dict(resp.headers)})"
    parts = urlsplit(loc)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def is_2xx(status: int) -> bool:
    return 200 <= status < 300


def show(resp: requests.Response) -> str:
    body = resp.content[:500]
    return f"{resp.request.method} {resp.request.url} -> {resp.status_code} {dict(resp.headers)} {body!r}"


def push_blob_suite(reg: Reggie, name: str, blob: Blob) -> requests.Response:
    """The suite's setup push: POST (no body), then PUT <Location>?digest= with the bytes."""
    r = reg.do("POST", f"/v2/{name}/blobs/uploads/")
    return reg.do("PUT", rel_location(r), params={"digest": blob.digest}, data=blob.content,
                  headers={"Content-Type": OCTET, "Content-Length": blob.length})


def put_manifest(reg: Reggie, ref: str, body: bytes, media_type: str = MT_MANIFEST,
                 name: str = NAMESPACE) -> requests.Response:
    return reg.do("PUT", f"/v2/{name}/manifests/{ref}", data=body,
                  headers={"Content-Type": media_type})


def assert_oci_error_body(resp: requests.Response, allowed: Optional[set] = None) -> dict:
    """`{"errors":[{"code","message","detail"}...]}` with a non-empty list."""
    try:
        doc = resp.json()
    except ValueError:
        pytest.fail(f"error body is not JSON: {show(resp)}")
    assert isinstance(doc, dict) and isinstance(doc.get("errors"), list) and doc["errors"], show(resp)
    for e in doc["errors"]:
        assert isinstance(e, dict) and isinstance(e.get("code"), str), show(resp)
        assert e["code"] and all(c.isupper() or c == "_" for c in e["code"]), show(resp)
        assert isinstance(e.get("message"), str) and "detail" in e, show(resp)
    if allowed is not None:
        assert doc["errors"][0]["code"] in allowed, show(resp)
    return doc


def tag_list(resp: requests.Response) -> list:
    doc = resp.json()
    assert isinstance(doc, dict) and doc.get("name") == NAMESPACE, show(resp)
    tags = doc.get("tags")
    assert isinstance(tags, list), show(resp)
    return tags


def check_link_next(resp: requests.Response, n: int, last: str) -> None:
    """Link: </v2/<name>/tags/list?n=<n>&last=<last>>; rel="next"."""
    link = resp.headers.get("Link", "")
    assert 'rel="next"' in link, f"truncated tag list without Link rel=next: {show(resp)}"
    target = link.split(";")[0].strip()
    assert target.startswith("<") and target.endswith(">"), link
    url = urlsplit(target[1:-1])
    assert url.path == f"/v2/{NAMESPACE}/tags/list", link
    q = parse_qs(url.query)
    assert q.get("n") == [str(n)] and q.get("last") == [last], link
