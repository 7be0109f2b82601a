"""The classic Helm chart repository view (`/helm/<ns>/...`) over charts pushed with OCI.

Charts are pushed as Helm 3.8+ does (OCI manifest, Helm config blob, chart
layer, optional provenance layer) through the distribution API, or uploaded
ChartMuseum-style; index.yaml is read back with a YAML parser (PyYAML, a test
dependency only) and downloads are followed to S3.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import time

import pytest
import requests
import yaml

from helm_support import (HELM_CHART, HELM_CONFIG, HELM_PROV, OCI, PROV, admin, chart_tgz, get_index,  # noqa: F401 (fixtures)
                          index_of, meta_of, ns, push_chart, rfc3339, uid, versions)
from support import count_aws_calls, sha256


# -- the index follows pushes and deletes -----------------------------------------
def test_pushed_chart_appears_with_its_chart_yaml_fields(registry, client, ns):
    meta = meta_of("web", "1.2.3", home="https://example.com", sources=["https://git.example.com/web"],
                   keywords=["http", "frontend"], icon="https://example.com/icon.png",
                   maintainers=[{"name": "Ann", "email": "ann@example.com", "url": "https://ann.example"}],
                   dependencies=[{"name": "db", "version": "~1.0", "repository": "oci://example.com/charts",
                                  "condition": "db.enabled", "tags": ["storage"], "alias": "database",
                                  "import-values": ["data"]}],
                   kubeVersion=">=1.25.0", deprecated=True, annotations={"category": "web"})
    before = time.time()
    digest, tgz = push_chart(client, f"{ns}/web", meta)
    index = index_of(registry, ns)
    assert index["apiVersion"] == "v1"
    assert abs(rfc3339(index["generated"]) - time.time()) < 60
    [entry] = index["entries"]["web"]
    for key in ("name", "version", "description", "apiVersion", "appVersion", "type", "home", "sources",
                "keywords", "icon", "maintainers", "dependencies", "kubeVersion", "deprecated", "annotations"):
        assert entry[key] == meta[key], key
    assert entry["urls"] == ["charts/web-1.2.3.tgz"]
    assert entry["digest"] == hashlib.sha256(tgz).hexdigest()   # bare hex, as ChartMuseum writes it
    assert before - 5 <= rfc3339(entry["created"]) <= time.time() + 5


def test_only_ns_slash_chart_name_is_listed_and_other_artifacts_are_not(registry, client, ns):
    push_chart(client, f"{ns}/team/apps/api", meta_of("api", "0.1.0"))   # deeper: OCI only
    push_chart(client, f"{ns}/api", meta_of("api", "0.2.0"))
    push_chart(client, f"{ns}/api", meta_of("api", "0.3.0"))
    client.push_image(f"{ns}/plain-image", "v1")
    index = index_of(registry, ns)
    assert set(index["entries"]) == {"api"}
    assert versions(index, "api") == ["0.3.0", "0.2.0"]          # newest first
    assert index_of(registry, uid())["entries"] == {}              # another namespace: nothing


def test_unusable_helm_config_is_stored_but_not_indexed(registry, client, ns):
    push_chart(client, f"{ns}/odd", {"name": "odd", "version": "not a version"}, tag="v1")
    # A manifest of a media type the registry does not accept, shaped almost like a chart:
    # refused (issue 14: only manifest types it checks are stored), so never indexed.
    odd = {"config": {"mediaType": HELM_CONFIG}, "layers": [{"mediaType": HELM_CHART, "digest": 7}]}
    r = client.push_manifest(f"{ns}/odd", "v2", json.dumps(odd).encode(), "application/vnd.example.thing+json")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "MANIFEST_INVALID", r.text
    assert index_of(registry, ns)["entries"] == {}


def test_delete_by_digest_and_by_version_tag_remove_the_entry(registry, client, ns):
    repo = f"{ns}/svc"
    d1, _ = push_chart(client, repo, meta_of("svc", "1.0.0"))
    push_chart(client, repo, meta_of("svc", "2.0.0"))
    d3, _ = push_chart(client, repo, meta_of("svc", "3.0.0"))
    assert versions(index_of(registry, ns), "svc") == ["3.0.0", "2.0.0", "1.0.0"]

    assert client.request("DELETE", f"/v2/{repo}/manifests/{d1}").status_code == 202
    assert versions(index_of(registry, ns), "svc") == ["3.0.0", "2.0.0"]
    assert client.request("DELETE", f"/v2/{repo}/manifests/2.0.0").status_code == 202
    assert versions(index_of(registry, ns), "svc") == ["3.0.0"]

    # Another tag on the same manifest: deleting it leaves the version tag, and the entry.
    body = client.request("GET", f"/v2/{repo}/manifests/3.0.0", headers={"Accept": OCI}).content
    assert client.push_manifest(repo, "stable", body, OCI).status_code == 201
    assert client.request("DELETE", f"/v2/{repo}/manifests/stable").status_code == 202
    assert versions(index_of(registry, ns), "svc") == ["3.0.0"]
    assert client.request("DELETE", f"/v2/{repo}/manifests/{d3}").status_code == 202
    assert index_of(registry, ns)["entries"] == {}


def test_repush_of_a_version_replaces_its_entry_and_old_digest_delete_keeps_it(registry, client, ns):
    repo = f"{ns}/app"
    old, _ = push_chart(client, repo, meta_of("app", "1.0.0"))
    new, tgz = push_chart(client, repo, meta_of("app", "1.0.0", description="second build"))
    [entry] = index_of(registry, ns)["entries"]["app"]
    assert entry["description"] == "second build"
    assert entry["digest"] == hashlib.sha256(tgz).hexdigest()
    assert client.request("DELETE", f"/v2/{repo}/manifests/{old}").status_code == 202   # untagged leftover
    assert versions(index_of(registry, ns), "app") == ["1.0.0"]


def test_semver_build_metadata_uses_helms_tag_convention(registry, client, ns):
    repo = f"{ns}/meta"
    push_chart(client, repo, meta_of("meta", "1.0.0+build.7"))
    [entry] = index_of(registry, ns)["entries"]["meta"]
    assert entry["version"] == "1.0.0+build.7"
    assert entry["urls"] == ["charts/meta-1.0.0+build.7.tgz"]
    r = requests.get(f"{registry.url}/helm/{ns}/charts/meta-1.0.0+build.7.tgz", auth=registry.admin,
                     allow_redirects=False)
    assert r.status_code == 307
    assert client.request("DELETE", f"/v2/{repo}/manifests/1.0.0_build.7").status_code == 202
    assert index_of(registry, ns)["entries"] == {}


def test_index_yaml_quotes_every_string_safely(registry, client, ns):
    nasty = 'say "hi": it\'s #1 \\o/\n- not a list\n\ttab, é, 😀, \u2028, \x85, \x01, *alias, &anchor, {x: y}'
    meta = meta_of("on", "0.0.1", description=nasty, keywords=["yes", "null", "~", "- x", "0x10", "1e3"],
                   annotations={"yes": "no", "a: b": "c # d", "": "empty key", "plain\n": "newline-ended key"},
                   maintainers=[{"name": "O'Brien \"OB\""}])
    push_chart(client, f"{ns}/on", meta)
    index = index_of(registry, ns)
    assert list(index["entries"]) == ["on"]       # a plain `on` would be the boolean true in YAML 1.1
    [entry] = index["entries"]["on"]
    assert entry["description"] == nasty
    assert entry["keywords"] == meta["keywords"]
    assert entry["annotations"] == meta["annotations"]
    assert entry["maintainers"] == meta["maintainers"]


def test_building_the_index_is_one_query_however_many_repositories(registry, client, ns):
    push_chart(client, f"{ns}/c0", meta_of("c0", "1.0.0"))
    with count_aws_calls() as aws:
        index_of(registry, ns)
    few = dict(aws.calls)
    for i in range(1, 6):
        push_chart(client, f"{ns}/c{i}", meta_of(f"c{i}", "1.0.0"))
    with count_aws_calls() as aws:
        assert len(index_of(registry, ns)["entries"]) == 6
    assert dict(aws.calls) == few
    assert "dynamodb.Scan" not in few and not any(k.startswith("s3.") for k in few)


# -- downloads -----------------------------------------------------------------------
def test_chart_and_provenance_downloads_redirect_to_the_layers(registry, client, ns):
    _, tgz = push_chart(client, f"{ns}/dl", meta_of("dl", "1.0.0"), prov=PROV)
    push_chart(client, f"{ns}/dl", meta_of("dl", "2.0.0"))
    base = f"{registry.url}/helm/{ns}/charts"
    r = requests.get(f"{base}/dl-1.0.0.tgz", auth=registry.admin, allow_redirects=False)
    assert r.status_code == 307
    assert requests.get(r.headers["Location"]).content == tgz
    assert requests.get(f"{base}/dl-1.0.0.tgz.prov", auth=registry.admin).content == PROV
    for missing in ("dl-2.0.0.tgz.prov", "dl-3.0.0.tgz", "dl-1.0.0.zip", "other-1.0.0.tgz"):
        r = requests.get(f"{base}/{missing}", auth=registry.admin, allow_redirects=False)
        assert r.status_code == 404, missing
    r = requests.get(f"{base}/dl-1.0.0.tgz", allow_redirects=False)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic ")


# -- ChartMuseum-style upload ------------------------------------------------------------
def test_upload_stores_an_oci_chart_that_both_views_see(registry, client, ns):
    tgz = chart_tgz("up", "0.3.0", description="uploaded", keywords=["k"])
    r = requests.post(f"{registry.url}/helm/{ns}/api/charts", auth=registry.admin,
                      files={"chart": ("up-0.3.0.tgz", tgz), "prov": ("up-0.3.0.tgz.prov", PROV)})
    assert r.status_code == 201, r.text
    assert r.json() == {"saved": True}

    m = client.request("GET", f"/v2/{ns}/up/manifests/0.3.0", headers={"Accept": OCI})
    assert m.status_code == 200 and m.headers["Content-Type"] == OCI
    doc = m.json()
    assert doc["config"]["mediaType"] == HELM_CONFIG
    assert [(d["mediaType"], d["digest"]) for d in doc["layers"]] == [(HELM_CHART, sha256(tgz)), (HELM_PROV, sha256(PROV))]
    config = requests.get(client.request("GET", f"/v2/{ns}/up/blobs/{doc['config']['digest']}")
                          .headers["Location"]).content
    assert list(json.loads(config).items()) == [("name", "up"), ("version", "0.3.0"), ("description", "uploaded"),
                                                ("keywords", ["k"]), ("apiVersion", "v2")]  # Helm's field order
    [entry] = index_of(registry, ns)["entries"]["up"]
    assert entry["digest"] == hashlib.sha256(tgz).hexdigest()
    assert requests.get(f"{registry.url}/helm/{ns}/charts/up-0.3.0.tgz.prov", auth=registry.admin).content == PROV


def test_upload_of_an_existing_version_conflicts_unless_forced(registry, ns):
    url = f"{registry.url}/helm/{ns}/api/charts"
    first, second = chart_tgz("dup", "1.0.0"), chart_tgz("dup", "1.0.0")
    assert requests.post(url, auth=registry.admin, data=first).status_code == 201      # raw body
    r = requests.post(url, auth=registry.admin, data=second)
    assert r.status_code == 409
    assert "already exists" in r.json()["error"]
    assert requests.post(url + "?force=true", auth=registry.admin, data=second).status_code == 201
    r = requests.get(f"{registry.url}/helm/{ns}/charts/dup-1.0.0.tgz", auth=registry.admin)
    assert r.content == second


@pytest.mark.parametrize("body,why", [
    (b"not a gzip", "not a chart archive"),
    (gzip.compress(b"not a tar", mtime=0), "not a chart archive"),
    (chart_tgz("x", "1.0.0", chart_yaml="name: x\n"), "version"),
    (chart_tgz("x", "banana"), "version"),
    (chart_tgz("x", "1.0.0", chart_yaml='name: x\nversion: "1.0.0\\n"\n'), "version"),
    (chart_tgz("x", "1.0.0", chart_yaml="name: x\nversion: 1.0.0-" + "a" * 130 + "\n"), "version"),
    (chart_tgz("x", "1.0.0", chart_yaml='name: "x\\n"\nversion: 1.0.0\n'), "name"),
    (chart_tgz("x", "1.0.0", chart_yaml="- a list\n"), "mapping"),
    (chart_tgz("x", "1.0.0", chart_yaml="name: [unclosed\n"), "YAML"),
], ids=["not-gzip", "not-tar", "no-version", "bad-version", "version-newline", "version-too-long",
        "name-newline", "not-a-mapping", "bad-yaml"])   # fixed ids: the archives differ per run (pytest-xdist)
def test_upload_rejects_what_is_not_a_chart(registry, ns, body, why):
    r = requests.post(f"{registry.url}/helm/{ns}/api/charts", auth=registry.admin, data=body)
    assert r.status_code == 400, r.text
    assert why in r.json()["error"]


def test_hostile_chart_yaml_is_cheap_to_read(registry, client, ns):
    laughs = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, cur in zip("abcdefgh", "bcdefghi"):
        laughs.append(f"{cur}: &{cur} [{', '.join([f'*{prev}'] * 9)}]")
    chart_yaml = "\n".join(["apiVersion: v2", "name: lol", "version: 1.0.0", *laughs, "keywords: *i",
                            "dependencies: [{name: d, version: '1', import-values: [*a, x, {child: c, parent: *b}]}]"])
    url = f"{registry.url}/helm/{ns}/api/charts"
    r = requests.post(url, auth=registry.admin, data=chart_tgz("lol", "1.0.0", chart_yaml=chart_yaml + "\n"))
    assert r.status_code == 201, r.text
    [entry] = index_of(registry, ns)["entries"]["lol"]
    assert "keywords" not in entry                               # not a list of strings: dropped
    assert entry["dependencies"] == [{"name": "d", "version": "1", "import-values": ["x", {"child": "c"}]}]
    recursive = "apiVersion: v2\nname: rec\nversion: 1.0.0\nkeywords: &r [*r]\n"
    r = requests.post(url, auth=registry.admin, data=chart_tgz("rec", "1.0.0", chart_yaml=recursive))
    assert r.status_code == 400 and "YAML" in r.json()["error"]
    # A config nested too deeply for any parser is stored as pushed, just not indexed.
    deep = b'{"name": "deep", "version": "1.0.0", "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    cfg = client.push_blob(f"{ns}/deep", deep)
    tgz = chart_tgz("deep", "1.0.0")
    doc = {"schemaVersion": 2, "config": {"mediaType": HELM_CONFIG, "digest": cfg, "size": len(deep)},
           "layers": [{"mediaType": HELM_CHART, "digest": client.push_blob(f"{ns}/deep", tgz), "size": len(tgz)}]}
    assert client.push_manifest(f"{ns}/deep", "1.0.0", json.dumps(doc).encode(), OCI).status_code == 201
    assert set(index_of(registry, ns)["entries"]) == {"lol"}


def test_upload_rejects_names_the_registry_cannot_hold(registry, ns):
    r = requests.post(f"{registry.url}/helm/{ns}/api/charts", auth=registry.admin,
                      data=chart_tgz("MyChart", "1.0.0"))
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "NAME_INVALID"


# -- who sees and does what -------------------------------------------------------------
def test_anonymous_and_bad_credentials_are_challenged(registry, client, ns):
    push_chart(client, f"{ns}/private", meta_of("private", "1.0.0"))
    for auth in (None, (uid("nobody"), "wrong-password")):
        r = get_index(registry, ns, auth)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == f'Basic realm="{registry.url}/helm/{ns}"'
    r = requests.post(f"{registry.url}/helm/{ns}/api/charts", data=chart_tgz("anon", "1.0.0"))
    assert r.status_code == 401


def test_index_lists_only_what_the_caller_may_pull(registry, client, admin, ns):
    push_chart(client, f"{ns}/open", meta_of("open", "1.0.0"))
    push_chart(client, f"{ns}/closed", meta_of("closed", "1.0.0"))
    stranger, reader = admin.user(), admin.user()
    admin.grant(reader[0], "read", ns)
    assert index_of(registry, ns, stranger)["entries"] == {}
    assert set(index_of(registry, ns, reader)["entries"]) == {"open", "closed"}

    admin.public(f"{ns}/open")
    assert set(index_of(registry, ns, stranger)["entries"]) == {"open"}
    anonymous = get_index(registry, ns)
    assert anonymous.status_code == 200
    assert set(yaml.safe_load(anonymous.text)["entries"]) == {"open"}
    base = f"{registry.url}/helm/{ns}/charts"
    assert requests.get(f"{base}/open-1.0.0.tgz", allow_redirects=False).status_code == 307
    assert requests.get(f"{base}/closed-1.0.0.tgz", allow_redirects=False).status_code == 401
    assert requests.get(f"{base}/closed-1.0.0.tgz", auth=stranger, allow_redirects=False).status_code == 404


def test_upload_needs_push_on_the_chart_repository(registry, admin, ns):
    reader, writer = admin.user(), admin.user()
    admin.grant(reader[0], "read", ns)
    admin.grant(writer[0], "write", ns)
    url = f"{registry.url}/helm/{ns}/api/charts"
    r = requests.post(url, auth=reader, data=chart_tgz("w", "1.0.0"))
    assert r.status_code == 403
    assert requests.post(url, auth=writer, data=chart_tgz("w", "1.0.0")).status_code == 201
    assert versions(index_of(registry, ns, writer), "w") == ["1.0.0"]
    # A user owns the namespace named after them.
    own = f"{registry.url}/helm/{writer[0]}/api/charts"
    assert requests.post(own, auth=writer, data=chart_tgz("mine", "0.1.0")).status_code == 201
