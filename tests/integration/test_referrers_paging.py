"""Referrers come in pages with a Link header, so any number fits Lambda's response cap."""
from __future__ import annotations

import re

OCI = "application/vnd.oci.image.manifest.v1+json"


def walk(client, path):
    digests, pages = [], 0
    while path:
        r = client.request("GET", path)
        assert r.status_code == 200
        digests += [m["digest"] for m in r.json()["manifests"]]
        pages += 1
        link = r.headers.get("Link")
        path = re.match(r"<([^>]+)>", link).group(1) if link else None
    return digests, pages


def test_referrers_paginate_with_link(client, repo):
    subject, _ = client.push_image(repo, "base")
    kinds = ["application/vnd.example.sig", "application/vnd.example.sbom"]
    pushed = {kinds[0]: [], kinds[1]: []}
    for i in range(7):
        kind = kinds[i % 2]
        d, _ = client.push_image(repo, None, seed=f"ref{i}", extra={
            "artifactType": kind, "subject": {"mediaType": OCI, "digest": subject, "size": 1}})
        pushed[kind].append(d)
    everything, pages = walk(client, f"/v2/{repo}/referrers/{subject}?n=3")
    assert sorted(everything) == sorted(pushed[kinds[0]] + pushed[kinds[1]]) and pages == 3
    assert everything == sorted(everything)  # digest order, no repeats
    sigs, pages = walk(client, f"/v2/{repo}/referrers/{subject}?n=2&artifactType={kinds[0]}")
    # with a filter the registry cannot know that a full page was the last match:
    # a final empty page may follow
    assert sorted(sigs) == sorted(pushed[kinds[0]]) and pages in (2, 3)
    r = client.request("GET", f"/v2/{repo}/referrers/{subject}")
    assert len(r.json()["manifests"]) == 7 and "Link" not in r.headers
