"""The classic Helm view serves a chart only on the authority of whoever may push `<ns>/<name>`.

The outside review's attack: a user with push on `ns/sandbox` only pushed a
Helm artifact whose Chart.yaml says `achart` 0.1.0, and `/helm/ns/index.yaml`
and `/helm/ns/charts/achart-0.1.0.tgz` then served it to every reader of the
namespace. These tests replay it and each variant of the class (another tag,
deeper repositories, the ChartMuseum upload, file names two charts can spell,
deletes through the reverse pointers), asserting what index.yaml and the
download serve.
"""
from __future__ import annotations

import hashlib

import requests

from helm_support import (OCI, admin, chart_tgz, index_of, meta_of, ns, push_chart,  # noqa: F401 (fixtures)
                          versions)
from support import Client, sha256


def download(registry, ns: str, filename: str, auth=None) -> requests.Response:
    return requests.get(f"{registry.url}/helm/{ns}/charts/{filename}", auth=auth or registry.admin)


def served_digest(registry, ns: str, name: str) -> list[str]:
    return [e["digest"] for e in index_of(registry, ns)["entries"].get(name, [])]


def hexdigest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pusher(registry, admin, repository: str, role: str = "write") -> tuple[Client, tuple[str, str]]:
    """A user whose only rights are on `repository`: push (role write), and delete (role admin)."""
    user = admin.user()
    admin.grant_repo(user[0], role, repository)
    return Client(registry.url, auth=user), user


def test_push_on_sandbox_cannot_replace_a_chart_of_the_namespace(registry, client, admin, ns):
    mallory, _ = pusher(registry, admin, f"{ns}/sandbox")
    # Before the real chart exists, the sandbox push does not create it either.
    evil_digest, evil = push_chart(mallory, f"{ns}/sandbox", meta_of("achart", "0.1.0"))
    assert index_of(registry, ns)["entries"] == {}
    assert download(registry, ns, "achart-0.1.0.tgz").status_code == 404

    good_digest, good = push_chart(client, f"{ns}/achart", meta_of("achart", "0.1.0"))
    push_chart(mallory, f"{ns}/sandbox", meta_of("achart", "0.1.0", description="evil"), tag="0.1.0")
    push_chart(mallory, f"{ns}/sandbox", meta_of("achart", "0.2.0"))        # a "newer" version
    index = index_of(registry, ns)
    assert set(index["entries"]) == {"achart"}
    assert versions(index, "achart") == ["0.1.0"]
    assert served_digest(registry, ns, "achart") == [hexdigest(good)]
    assert download(registry, ns, "achart-0.1.0.tgz").content == good
    assert download(registry, ns, "achart-0.2.0.tgz").status_code == 404
    # Both stay what they are over OCI.
    assert sha256(client.request("GET", f"/v2/{ns}/achart/manifests/0.1.0", headers={"Accept": OCI}).content) \
        == good_digest
    assert client.request("GET", f"/v2/{ns}/sandbox/manifests/{evil_digest}",
                          headers={"Accept": OCI}).status_code == 200


def test_a_version_is_indexed_only_from_its_own_tag(registry, client, ns):
    repo = f"{ns}/vt"
    good_digest, good = push_chart(client, repo, meta_of("vt", "0.1.0"))
    push_chart(client, repo, meta_of("vt", "0.1.0", description="under latest"), tag="latest")
    other, _ = push_chart(client, repo, meta_of("vt", "0.1.0", description="by digest"), tag="placeholder")
    body = client.request("GET", f"/v2/{repo}/manifests/{other}", headers={"Accept": OCI}).content
    assert client.push_manifest(repo, other, body, OCI).status_code == 201
    [entry] = index_of(registry, ns)["entries"]["vt"]
    assert entry["description"] == "vt chart" and entry["digest"] == hexdigest(good)
    assert download(registry, ns, "vt-0.1.0.tgz").content == good

    # Tag 0.1.0 moved to a chart that says 0.2.0: the classic view no longer serves 0.1.0.
    moved, _ = push_chart(client, repo, meta_of("vt", "0.2.0"), tag="0.1.0")
    assert sha256(client.request("GET", f"/v2/{repo}/manifests/0.1.0", headers={"Accept": OCI}).content) == moved
    r = download(registry, ns, "vt-0.1.0.tgz")
    assert r.status_code == 404 and "no longer points" in r.json()["error"]
    assert download(registry, ns, "vt-0.2.0.tgz").status_code == 404      # not from tag 0.1.0


def test_deeper_repositories_never_reach_the_classic_view(registry, client, admin, ns):
    _, good = push_chart(client, f"{ns}/achart", meta_of("achart", "0.1.0"))
    team, _ = pusher(registry, admin, f"{ns}/team/achart")
    deep_digest, _ = push_chart(team, f"{ns}/team/achart", meta_of("achart", "0.1.0", description="team"))
    push_chart(team, f"{ns}/team/achart", meta_of("achart", "0.9.0"))
    assert versions(index_of(registry, ns), "achart") == ["0.1.0"]
    assert served_digest(registry, ns, "achart") == [hexdigest(good)]
    assert download(registry, ns, "achart-0.9.0.tgz").status_code == 404
    r = team.request("GET", f"/v2/{ns}/team/achart/manifests/0.1.0", headers={"Accept": OCI})
    assert r.status_code == 200 and sha256(r.content) == deep_digest        # OCI keeps serving it


def test_chartmuseum_upload_needs_push_on_the_charts_own_repository(registry, client, admin, ns):
    good_digest, good = push_chart(client, f"{ns}/achart", meta_of("achart", "0.1.0"))
    _, mallory = pusher(registry, admin, f"{ns}/sandbox")
    url = f"{registry.url}/helm/{ns}/api/charts"
    for query in ("", "?force=true"):
        r = requests.post(url + query, auth=mallory, data=chart_tgz("achart", "0.1.0"))
        assert r.status_code == 403, r.text
        r = requests.post(url + query, auth=mallory, files={"chart": ("a.tgz", chart_tgz("achart", "0.2.0"))})
        assert r.status_code == 403, r.text
    assert versions(index_of(registry, ns), "achart") == ["0.1.0"]
    assert download(registry, ns, "achart-0.1.0.tgz").content == good
    tags = client.request("GET", f"/v2/{ns}/achart/tags/list").json()["tags"]
    assert tags == ["0.1.0"]
    # What the sandbox user may push, it may upload.
    assert requests.post(url, auth=mallory, data=chart_tgz("sandbox", "1.0.0")).status_code == 201
    assert set(index_of(registry, ns)["entries"]) == {"achart", "sandbox"}


def test_two_charts_spelling_one_file_name_cannot_swap_downloads(registry, client, admin, ns):
    # `a-1` 0.1.0 and `a` 1-0.1.0 (a valid semantic version) both make a-1-0.1.0.tgz.
    _, good = push_chart(client, f"{ns}/a-1", meta_of("a-1", "0.1.0"))
    mallory, creds = pusher(registry, admin, f"{ns}/a")
    push_chart(mallory, f"{ns}/a", meta_of("a", "1-0.1.0"))
    index = index_of(registry, ns)
    assert set(index["entries"]) == {"a-1"}
    assert download(registry, ns, "a-1-0.1.0.tgz").content == good
    r = requests.post(f"{registry.url}/helm/{ns}/api/charts?force=true", auth=creds,
                      data=chart_tgz("a", "1-0.1.0"))
    assert r.status_code == 409 and "belongs to chart a-1" in r.json()["error"], r.text
    assert download(registry, ns, "a-1-0.1.0.tgz").content == good

    # The first chart to take a file name keeps it: the later one is OCI-only (never a swap).
    _, first = push_chart(mallory, f"{ns}/a", meta_of("a", "2-0.1.0"))
    push_chart(client, f"{ns}/a-2", meta_of("a-2", "0.1.0"))
    index = index_of(registry, ns)
    assert set(index["entries"]) == {"a-1", "a"} and versions(index, "a") == ["2-0.1.0"]
    assert download(registry, ns, "a-2-0.1.0.tgz").content == first


def test_deletes_only_remove_entries_of_their_own_repository(registry, client, admin, ns):
    good_digest, good = push_chart(client, f"{ns}/achart", meta_of("achart", "0.1.0"))
    mallory, _ = pusher(registry, admin, f"{ns}/sandbox", role="admin")
    # The same bytes (so the same manifest digest) pushed into the sandbox, then deleted there.
    copy_digest, _ = push_chart(mallory, f"{ns}/sandbox", meta_of("achart", "0.1.0"), tgz=good)
    assert copy_digest == good_digest
    assert mallory.request("DELETE", f"/v2/{ns}/sandbox/manifests/0.1.0").status_code == 202
    push_chart(mallory, f"{ns}/sandbox", meta_of("achart", "0.1.0"), tgz=good)
    assert mallory.request("DELETE", f"/v2/{ns}/sandbox/manifests/{good_digest}").status_code == 202
    assert served_digest(registry, ns, "achart") == [hexdigest(good)]
    assert download(registry, ns, "achart-0.1.0.tgz").content == good
    # The owner's delete does remove it.
    assert client.request("DELETE", f"/v2/{ns}/achart/manifests/{good_digest}").status_code == 202
    assert index_of(registry, ns)["entries"] == {}
    assert download(registry, ns, "achart-0.1.0.tgz").status_code == 404


def test_entries_left_by_the_old_layout_are_not_served(registry, client, ns):
    """Entries the unbound index wrote (`CHART#<name>-<version>#<repo>`, e.g. from the sandbox
    attack) are neither listed nor downloadable; the bound entry of the same version is."""
    from chalicelib.storage import keys
    from chalicelib.storage.helm_dynamo import HelmEntryItem

    _, good = push_chart(client, f"{ns}/achart", meta_of("achart", "0.1.0"))
    _, evil = push_chart(client, f"{ns}/sandbox", meta_of("achart", "0.1.0", description="evil"))
    for version in ("0.1.0", "0.2.0"):
        HelmEntryItem(keys.helm_pk(ns), f"CHART#achart-{version}#{ns}/sandbox", name="achart", version=version,
                      repo=f"{ns}/sandbox", digest=sha256(b"m"), chart_digest=sha256(evil),
                      chart_size=len(evil), created=2 ** 62, chart='{"name":"achart","version":"%s"}' % version
                      ).save()
    assert versions(index_of(registry, ns), "achart") == ["0.1.0"]
    assert served_digest(registry, ns, "achart") == [hexdigest(good)]
    assert download(registry, ns, "achart-0.1.0.tgz").content == good
    assert download(registry, ns, "achart-0.2.0.tgz").status_code == 404
