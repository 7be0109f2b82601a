"""The classic Helm chart repository view (`/helm/<ns>/...`) over charts pushed with OCI.

Charts are pushed as Helm 3.8+ does (OCI manifest, Helm config blob, chart
layer, optional provenance layer) through the distribution API, or uploaded
ChartMuseum-style; index.yaml is read back with a YAML parser (PyYAML, a test
dependency only) and downloads are followed to S3.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import time
import uuid
from datetime import datetime
from typing import Any, Optional

import pytest
import requests
import yaml

from support import Client, count_aws_calls, sha256

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_PROV = "application/vnd.cncf.helm.chart.provenance.v1.prov"
OCI = "application/vnd.oci.image.manifest.v1+json"
PROV = (b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: x\n...\nfiles:\n  x.tgz: sha256:00\n"
        b"-----BEGIN PGP SIGNATURE-----\n\nwsBcBAEBCgAQBQJ\n-----END PGP SIGNATURE-----\n")


def uid(prefix: str = "h") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def chart_tgz(name: str, version: str, chart_yaml: Optional[str] = None, **fields: Any) -> bytes:
    """A chart archive as `helm package` lays it out: <name>/Chart.yaml first."""
    if chart_yaml is None:
        chart_yaml = yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version, **fields},
                                    sort_keys=False, allow_unicode=True)
    files = [(f"{name}/Chart.yaml", chart_yaml.encode()),
             (f"{name}/values.yaml", f"replicas: 1\nseed: {uuid.uuid4().hex}\n".encode()),
             (f"{name}/templates/cm.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, data in files:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def push_chart(client: Client, repo: str, meta: dict, tgz: Optional[bytes] = None, tag: Optional[str] = None,
               prov: Optional[bytes] = None) -> tuple[str, bytes]:
    """Push like `helm push`: config (Chart.yaml as JSON), chart layer, provenance layer."""
    tgz = tgz if tgz is not None else chart_tgz(meta["name"], meta["version"])
    config = json.dumps(meta).encode()
    layers = [{"mediaType": HELM_CHART, "digest": client.push_blob(repo, tgz), "size": len(tgz)}]
    if prov is not None:
        layers.append({"mediaType": HELM_PROV, "digest": client.push_blob(repo, prov), "size": len(prov)})
    doc = {"schemaVersion": 2,
           "config": {"mediaType": HELM_CONFIG, "digest": client.push_blob(repo, config), "size": len(config)},
           "layers": layers,
           "annotations": {"org.opencontainers.image.title": meta["name"]}}
    body = json.dumps(doc).encode()
    r = client.push_manifest(repo, tag or meta["version"].replace("+", "_"), body, OCI)
    assert r.status_code == 201, r.text
    return sha256(body), tgz


def rfc3339(value: str) -> float:
    """Seconds since the epoch of Helm's RFC 3339 time with nanoseconds (UTC)."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", value), value
    return datetime.fromisoformat(value[:26] + "+00:00").timestamp()


def meta_of(name: str, version: str, **extra: Any) -> dict:
    return {"name": name, "version": version, "description": f"{name} chart", "apiVersion": "v2",
            "appVersion": "1.0", "type": "application", **extra}


@pytest.fixture
def ns() -> str:
    return uid()


@pytest.fixture
def admin_auth(registry) -> tuple:
    return registry.admin


def get_index(registry, ns: str, auth: Optional[tuple] = None) -> requests.Response:
    return requests.get(f"{registry.url}/helm/{ns}/index.yaml", auth=auth)


def index_of(registry, ns: str, auth: Optional[tuple] = None) -> dict:
    r = get_index(registry, ns, auth or registry.admin)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/x-yaml")
    return yaml.safe_load(r.text)


def versions(index: dict, name: str) -> list[str]:
    return [e["version"] for e in index["entries"].get(name, [])]


class Admin:
    """The admin API, for users, grants and visibility."""

    def __init__(self, registry) -> None:
        self.registry = registry

    def call(self, method: str, path: str, body: dict, expect: int) -> None:
        r = requests.request(method, self.registry.url + path, json=body, auth=self.registry.admin)
        assert r.status_code == expect, r.text

    def user(self) -> tuple[str, str]:
        name, password = uid("u"), "long-enough-password"
        self.call("POST", "/admin/users", {"username": name, "password": password}, 201)
        return name, password

    def grant(self, account: str, role: str, namespace: str) -> None:
        self.call("PUT", "/admin/grants", {"account": account, "role": role, "namespace": namespace}, 204)

    def public(self, repo: str) -> None:
        self.call("PUT", "/admin/visibility", {"repository": repo, "public": True}, 204)


@pytest.fixture
def admin(registry) -> Admin:
    return Admin(registry)


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


def test_deeper_repositories_are_listed_and_other_artifacts_are_not(registry, client, ns):
    push_chart(client, f"{ns}/team/apps/api", meta_of("api", "0.1.0"))
    push_chart(client, f"{ns}/api", meta_of("api", "0.2.0"))
    client.push_image(f"{ns}/plain-image", "v1")
    index = index_of(registry, ns)
    assert set(index["entries"]) == {"api"}
    assert versions(index, "api") == ["0.2.0", "0.1.0"]          # newest first
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


def test_same_version_in_two_repositories_latest_push_wins(registry, client, ns):
    d1, tgz1 = push_chart(client, f"{ns}/x", meta_of("x", "1.0.0"))
    d2, tgz2 = push_chart(client, f"{ns}/mirror/x", meta_of("x", "1.0.0"))
    [entry] = index_of(registry, ns)["entries"]["x"]
    assert entry["digest"] == hashlib.sha256(tgz2).hexdigest()
    r = requests.get(f"{registry.url}/helm/{ns}/charts/x-1.0.0.tgz", auth=registry.admin)
    assert r.content == tgz2
    assert client.request("DELETE", f"/v2/{ns}/mirror/x/manifests/{d2}").status_code == 202
    [entry] = index_of(registry, ns)["entries"]["x"]
    assert entry["digest"] == hashlib.sha256(tgz1).hexdigest()
    assert requests.get(f"{registry.url}/helm/{ns}/charts/x-1.0.0.tgz", auth=registry.admin).content == tgz1


def test_index_yaml_quotes_every_string_safely(registry, client, ns):
    nasty = 'say "hi": it\'s #1 \\o/\n- not a list\n\ttab, é, 😀, \u2028, \x85, \x01, *alias, &anchor, {x: y}'
    meta = meta_of("on", "0.0.1", description=nasty, keywords=["yes", "null", "~", "- x", "0x10", "1e3"],
                   annotations={"yes": "no", "a: b": "c # d", "": "empty key"},
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
    (gzip.compress(b"not a tar"), "not a chart archive"),
    (chart_tgz("x", "1.0.0", chart_yaml="name: x\n"), "version"),
    (chart_tgz("x", "banana"), "version"),
    (chart_tgz("x", "1.0.0", chart_yaml="- a list\n"), "mapping"),
    (chart_tgz("x", "1.0.0", chart_yaml="name: [unclosed\n"), "YAML"),
])
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
    started = time.monotonic()
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
    assert time.monotonic() - started < 20


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
