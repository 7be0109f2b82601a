"""The referrers tag schema: the fallback older clients use instead of the referrers API.

OCI distribution spec 1.1, "Pushing Manifests with Subject" and "Referrers Tag
Schema": a client that does not rely on `GET /v2/<name>/referrers/<digest>`
keeps, under the tag `<alg>-<hex of the subject digest>` (the algorithm cut to
32 characters, the hex to 64), an OCI index whose `manifests` are the
descriptors of the subject's referrers, and rewrites it on every change. For
the registry this is an ordinary tag holding an ordinary index; it must not
get in the way of the referrers API, which lists the manifests that carry a
`subject`, and both have to be usable side by side.
"""
from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import quote

from support import sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
SIG = "application/vnd.example.signature.v1"
SBOM = "application/vnd.example.sbom.v1"
SIG_CONFIG = "application/vnd.example.signature.config.v1+json"


def fallback_tag(digest: str) -> str:
    """The referrers tag schema: `<alg>-<ref>`, alg cut to 32 characters, ref to 64."""
    alg, _, ref = digest.partition(":")
    return f"{alg[:32]}-{ref[:64]}"


def push_referrer(client, repo: str, subject: dict, *, artifact_type: str | None, seed: str,
                  config_media_type: str = EMPTY_CONFIG, annotations: dict | None = None,
                  with_subject: bool = True) -> tuple[dict, bytes]:
    """Push an artifact manifest (one small layer) by digest, as ORAS/notation/cosign do.

    Returns (its descriptor as a referrers list carries it, the manifest bytes)."""
    config = b"{}" if config_media_type == EMPTY_CONFIG else json.dumps({"seed": seed}).encode()
    layer = f"payload {seed}".encode()
    doc: dict = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_media_type, "digest": client.push_blob(repo, config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.example.payload", "digest": client.push_blob(repo, layer),
                    "size": len(layer)}],
    }
    if artifact_type:
        doc["artifactType"] = artifact_type
    if with_subject:
        doc["subject"] = subject
    if annotations:
        doc["annotations"] = annotations
    body = json.dumps(doc, separators=(",", ":")).encode()
    digest = sha256(body)
    r = client.push_manifest(repo, digest, body)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    if with_subject:
        # a registry with the referrers API says so; the fallback client ignores it
        assert r.headers.get("OCI-Subject") == subject["digest"]
    else:
        assert "OCI-Subject" not in r.headers
    desc = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body),
            "artifactType": artifact_type or config_media_type}
    if annotations:
        desc["annotations"] = annotations
    return desc, body


def fallback_index(descriptors: list[dict]) -> bytes:
    """The index a fallback client keeps under the subject's tag (pretty-printed, to test byte fidelity)."""
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors},
                      indent=3).encode() + b"\n"


def get_manifest(client, repo: str, ref: str, accept: str = f"{OCI_INDEX}, {OCI_MANIFEST}"):
    return client.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": accept})


def referrers(client, repo: str, digest: str, artifact_type: str | None = None) -> tuple[list[dict], dict]:
    """Every referrer descriptor (following Link pages) and the first page's headers."""
    path = f"/v2/{repo}/referrers/{digest}" + (f"?artifactType={quote(artifact_type, safe='')}" if artifact_type else "")
    out, first = [], None
    while path:
        r = client.request("GET", path)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].split(";")[0] == OCI_INDEX
        body = r.json()
        assert body["schemaVersion"] == 2 and body["mediaType"] == OCI_INDEX
        out += body["manifests"]
        first = first or r.headers
        link = r.headers.get("Link")
        path = re.match(r"<([^>]+)>", link).group(1) if link else None
    return out, first


def tags(client, repo: str, n: int | None = None) -> list[str]:
    path = f"/v2/{repo}/tags/list" + (f"?n={n}" if n else "")
    out = []
    while path:
        r = client.request("GET", path)
        assert r.status_code == 200, r.text
        out += r.json()["tags"] or []
        link = r.headers.get("Link")
        path = re.match(r"<([^>]+)>", link).group(1) if link else None
    return out


def subject_of(client, repo: str, tag: str = "v1", seed: str = "subject") -> dict:
    digest, body = client.push_image(repo, tag, seed=seed)
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}


def test_fallback_tag_is_an_ordinary_valid_tag(client, repo):
    subject = subject_of(client, repo)
    sig, _ = push_referrer(client, repo, subject, artifact_type=SIG, seed="sig",
                           annotations={"org.example.signer": "ci"})
    tag = fallback_tag(subject["digest"])
    assert re.fullmatch(r"sha256-[0-9a-f]{64}", tag) and len(tag) == 71

    index = fallback_index([sig])
    r = client.push_manifest(repo, tag, index, media_type=OCI_INDEX)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == sha256(index)
    assert r.headers["Location"].endswith(f"/v2/{repo}/manifests/{sha256(index)}")
    assert "OCI-Subject" not in r.headers  # the index itself has no subject

    # stored and served like any tag: exact bytes, its media type, its digest
    for ref in (tag, sha256(index)):
        got = get_manifest(client, repo, ref)
        assert got.status_code == 200, got.text
        assert got.content == index
        assert got.headers["Content-Type"] == OCI_INDEX
        assert got.headers["Docker-Content-Digest"] == sha256(index)
    head = client.request("HEAD", f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_INDEX})
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(index))
    assert head.headers["Docker-Content-Digest"] == sha256(index)

    # listed in lexical order with the other tags, also across pages
    assert tags(client, repo) == sorted(["v1", tag])
    assert tags(client, repo, n=1) == sorted(["v1", tag])

    # the fallback index is no referrer of anything; the API lists what carries a subject
    listed, headers = referrers(client, repo, subject["digest"])
    assert listed == [sig]
    assert "OCI-Filters-Applied" not in headers
    assert referrers(client, repo, sha256(index))[0] == []


def test_fallback_tag_for_a_sha512_subject_is_truncated_and_valid(client, repo):
    """`sha512-<first 64 hex>`: the tag schema cuts the encoded digest to 64 characters."""
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": client.push_blob(repo, config), "size": len(config)},
           "layers": []}
    body = json.dumps(doc).encode()
    digest = "sha512:" + hashlib.sha512(body).hexdigest()
    r = client.push_manifest(repo, digest, body)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    subject = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}
    sig, _ = push_referrer(client, repo, subject, artifact_type=SIG, seed="sig512")

    tag = fallback_tag(digest)
    assert len(tag) == len("sha512-") + 64 and digest[len("sha512:"):].startswith(tag[len("sha512-"):])
    index = fallback_index([sig])
    r = client.push_manifest(repo, tag, index, media_type=OCI_INDEX)
    assert r.status_code == 201, r.text
    assert get_manifest(client, repo, tag).content == index
    assert tags(client, repo) == [tag]
    assert referrers(client, repo, digest)[0] == [sig]


def test_fallback_index_is_updated_and_coexists_with_the_referrers_api(client, repo):
    subject = subject_of(client, repo)
    tag = fallback_tag(subject["digest"])

    # nothing yet: no fallback tag (a fallback client reads 404 as "empty list") and no referrers
    r = get_manifest(client, repo, tag)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert referrers(client, repo, subject["digest"])[0] == []

    # first referrer: pushed with subject, then the fallback index created
    sig, _ = push_referrer(client, repo, subject, artifact_type=SIG, seed="sig",
                           annotations={"org.example.signer": "release"})
    first = fallback_index([sig])
    r = client.push_manifest(repo, tag, first, media_type=OCI_INDEX)
    assert r.status_code == 201, r.text

    # second referrer: artifactType from the config media type; the client pulls the
    # index, appends the descriptor and pushes it back to the same tag
    sbom, _ = push_referrer(client, repo, subject, artifact_type=None, seed="sbom",
                            config_media_type=SIG_CONFIG)
    current = get_manifest(client, repo, tag)
    assert current.status_code == 200 and current.content == first
    doc = json.loads(current.content)
    doc["manifests"].append(sbom)
    second = json.dumps(doc, separators=(",", ":")).encode()
    r = client.push_manifest(repo, tag, second, media_type=OCI_INDEX)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == sha256(second) != sha256(first)

    got = get_manifest(client, repo, tag)
    assert got.content == second and got.headers["Docker-Content-Digest"] == sha256(second)
    assert [d["digest"] for d in got.json()["manifests"]] == [sig["digest"], sbom["digest"]]
    # the previous index is still there by digest (a tag move does not delete it)
    assert get_manifest(client, repo, sha256(first)).content == first
    assert tags(client, repo) == sorted(["v1", tag])

    # the referrers API lists the same two manifests, with matching descriptors
    listed, headers = referrers(client, repo, subject["digest"])
    assert sorted(listed, key=lambda d: d["digest"]) == sorted([sig, sbom], key=lambda d: d["digest"])
    assert [d["digest"] for d in listed] == sorted(d["digest"] for d in listed)
    assert "OCI-Filters-Applied" not in headers
    by_type, headers = referrers(client, repo, subject["digest"], SIG_CONFIG)
    assert by_type == [sbom] and headers["OCI-Filters-Applied"] == "artifactType"
    by_type, headers = referrers(client, repo, subject["digest"], SIG)
    assert by_type == [sig] and headers["OCI-Filters-Applied"] == "artifactType"

    # a legacy artifact without `subject`, known only through the fallback index:
    # the registry serves the index as pushed but does not invent a referrer
    legacy, _ = push_referrer(client, repo, subject, artifact_type=SBOM, seed="legacy", with_subject=False)
    third = fallback_index([sig, sbom, legacy])
    assert client.push_manifest(repo, tag, third, media_type=OCI_INDEX).status_code == 201
    assert get_manifest(client, repo, tag).content == third
    assert {d["digest"] for d in referrers(client, repo, subject["digest"])[0]} == {sig["digest"], sbom["digest"]}


def test_deletes_subject_keeps_referrers_referrer_delete_removes_it(client, repo):
    subject = subject_of(client, repo)
    tag = fallback_tag(subject["digest"])
    sig, _ = push_referrer(client, repo, subject, artifact_type=SIG, seed="sig")
    sbom, _ = push_referrer(client, repo, subject, artifact_type=SBOM, seed="sbom")
    index = fallback_index([sig, sbom])
    assert client.push_manifest(repo, tag, index, media_type=OCI_INDEX).status_code == 201

    # delete the subject (by digest: the manifest and its tag `v1`)
    r = client.request("DELETE", f"/v2/{repo}/manifests/{subject['digest']}")
    assert r.status_code == 202, r.text
    assert get_manifest(client, repo, subject["digest"], OCI_MANIFEST).status_code == 404
    assert get_manifest(client, repo, "v1", OCI_MANIFEST).status_code == 404

    # docs/api.md: its referrers stay listed; the fallback tag is untouched
    listed, _ = referrers(client, repo, subject["digest"])
    assert {d["digest"] for d in listed} == {sig["digest"], sbom["digest"]}
    assert get_manifest(client, repo, tag).content == index
    assert tags(client, repo) == [tag]
    for d in (sig, sbom):
        assert get_manifest(client, repo, d["digest"], OCI_MANIFEST).status_code == 200

    # delete one referrer: gone from the referrers API; the fallback client rewrites its index
    r = client.request("DELETE", f"/v2/{repo}/manifests/{sig['digest']}")
    assert r.status_code == 202, r.text
    assert get_manifest(client, repo, sig["digest"], OCI_MANIFEST).status_code == 404
    listed, _ = referrers(client, repo, subject["digest"])
    assert listed == [sbom]
    assert referrers(client, repo, subject["digest"], SIG)[0] == []
    assert referrers(client, repo, subject["digest"], SBOM)[0] == [sbom]
    rewritten = fallback_index([sbom])
    r = client.push_manifest(repo, tag, rewritten, media_type=OCI_INDEX)
    assert r.status_code == 201, r.text
    assert get_manifest(client, repo, tag).content == rewritten

    # the subject pushed again (same bytes) finds the remaining referrer still attached
    again = subject_of(client, repo)
    assert again == subject
    assert referrers(client, repo, subject["digest"])[0] == [sbom]
    assert tags(client, repo) == sorted(["v1", tag])

    # deleting the last referrer empties the list; the fallback client deletes its tag
    assert client.request("DELETE", f"/v2/{repo}/manifests/{sbom['digest']}").status_code == 202
    assert referrers(client, repo, subject["digest"])[0] == []
    assert client.request("DELETE", f"/v2/{repo}/manifests/{tag}").status_code == 202
    assert get_manifest(client, repo, tag).status_code == 404
