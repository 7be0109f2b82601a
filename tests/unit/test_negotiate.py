"""Accept parsing and the choice of what to serve for a pull by tag, per real client."""
from __future__ import annotations

import pytest

from chalicelib.oci import mediatypes as mt
from chalicelib.manifests.negotiate import CHILD, candidates, choose, parse_accept, quality

OCI, IDX, V2, LIST, S1, S1U = (mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_V2, mt.DOCKER_LIST,
                               mt.DOCKER_V1_SIGNED, mt.DOCKER_V1)

# Accept headers as the clients send them (one list entry per header line).
CLIENTS = {
    # moby: one header per registered manifest type (schema1 registers prettyjws and application/json)
    "docker": [V2, LIST, OCI, IDX, S1, "application/json"],
    # containerd (ctr, nerdctl, BuildKit): one comma list ending with */*
    "containerd": [", ".join([V2, LIST, OCI, IDX, "*/*"])],
    # containers/image (skopeo, podman, buildah): DefaultRequestedManifestMIMETypes, one per line
    "skopeo": [OCI, V2, S1, S1U, LIST, IDX],
    "podman": [OCI, V2, S1, S1U, LIST, IDX],
    # Docker 1.10-1.x: schema 2 but no lists; older 1.x: schema 1 signed only
    "docker-1.10": [f"{V2}, {S1}"],
    "docker-1.x": [S1],
    "helm": [OCI],
    "curl": [],
}
STORED = [OCI, IDX, V2, LIST, S1, S1U]
EXPECTED = {  # client -> what it gets for each stored type, in STORED order
    "docker": [OCI, IDX, V2, LIST, S1, S1],
    "containerd": [OCI, IDX, V2, LIST, S1, S1U],
    "skopeo": [OCI, IDX, V2, LIST, S1, S1U],
    "podman": [OCI, IDX, V2, LIST, S1, S1U],
    "docker-1.10": [V2, CHILD, V2, CHILD, S1, S1],
    "docker-1.x": [S1, CHILD, S1, CHILD, S1, S1],
    "helm": [OCI, CHILD, OCI, CHILD, None, None],
    "curl": [OCI, IDX, V2, LIST, S1, S1U],
}


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("stored", STORED)
def test_real_clients(client, stored):
    assert choose(stored, parse_accept(CLIENTS[client])) == EXPECTED[client][STORED.index(stored)]


def test_parse_accept_headers_lists_params_and_q():
    got = parse_accept([f"{OCI};q=0.5, {V2}", f" {LIST} ; charset=utf-8 ; Q=0.25 ,", "*; q=.1",
                        "application/*;q=abc", "text/html;q=2", "image/png;q=-1", "bogus", ""])
    assert got == [(OCI, 0.5), (V2, 1.0), (LIST, 0.25), ("*/*", 0.1), ("application/*", 1.0),
                   ("text/html", 1.0), ("image/png", 0.0)]
    assert parse_accept(["APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON"]) == [(OCI, 1.0)]


def test_quality_uses_the_most_specific_range():
    accept = parse_accept([f"*/*;q=0.1, application/*;q=0.5, {OCI};q=0.9, {V2};q=0"])
    assert quality(OCI, accept) == 0.9
    assert quality(V2, accept) == 0.0       # excluded, even though */* and application/* match
    assert quality(IDX, accept) == 0.5
    assert quality("text/plain", accept) == 0.1
    assert quality(OCI, []) == 0.0


def test_stored_type_wins_whenever_acceptable():
    # accepted only through application/* at a lower q than V2: still no conversion
    assert choose(OCI, parse_accept([f"application/*;q=0.5, {V2};q=0.9"])) == OCI
    assert candidates(OCI, parse_accept(["*/*"])) == [OCI]
    assert candidates(OCI, []) == [OCI]


def test_conversions_ordered_by_q_then_fidelity():
    assert candidates(OCI, parse_accept([f"{OCI};q=0, */*"])) == [V2, S1, S1U]
    assert candidates(OCI, parse_accept([f"{S1U}, {S1};q=0.5"])) == [S1U, S1]
    assert candidates(IDX, parse_accept([f"{LIST};q=0.5, {V2}"])) == [CHILD, LIST]
    assert candidates(IDX, parse_accept([f"{LIST}, {V2}"])) == [LIST, CHILD]  # keep the list when possible
    assert candidates(LIST, parse_accept([IDX, OCI])) == [IDX, CHILD]


def test_nothing_acceptable():
    assert choose(S1, parse_accept([OCI, V2])) is None          # schema 1 cannot be upgraded
    assert choose(IDX, parse_accept(["application/vnd.example+json"])) is None
    assert choose("application/vnd.example+json", parse_accept([OCI])) is None
    assert choose("application/vnd.example+json", parse_accept(["application/*"])) == "application/vnd.example+json"
