"""Usage metering through real HTTP: exact counts after pushes and pulls, the export
formats, who may read them, and what a flush costs (docs/metering.md)."""
from __future__ import annotations

import csv
import io
import json
import time
import uuid
from datetime import datetime, timezone

import pytest
import requests

from support import Client, count_aws_calls

pytestmark = pytest.mark.backends("memory", "strict")

OCI = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
COUNTERS = ["requests", "pulls", "pushes", "bytes_served", "bytes_uploaded"]
STORED = ["stored_bytes", "stored_byte_seconds", "stored_gb_months"]


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


@pytest.fixture
def ns() -> str:
    return f"m{uuid.uuid4().hex[:10]}"


class Counting(Client):
    """A client that counts the requests it sends under /v2/<ns>/ (what the meter must count)."""

    def __init__(self, base: str, auth: tuple, ns: str) -> None:
        super().__init__(base, auth=auth)
        self.sent = 0
        self.http.hooks["response"].append(self._count)
        self.prefix = f"/v2/{ns}/"

    def _count(self, r: requests.Response, **kw) -> None:
        if self.prefix in r.request.url and r.request.url.startswith(self.base):
            self.sent += 1


def usage(registry, ns: str, fmt: str = "json", auth=None, **q) -> requests.Response:
    return requests.get(f"{registry.url}/admin/usage", params={"namespace": ns, "format": fmt, "from": today(), **q},
                        auth=auth or registry.admin)


def test_pushes_and_pulls_are_counted_exactly(registry, ns):
    c = Counting(registry.url, registry.admin, ns)
    repo = f"{ns}/app"
    c.login(repo)
    pushed = time.time()
    digest, body = c.push_image(repo, "v1", layers=2, seed=ns)
    doc = json.loads(body)
    blobs = [doc["config"]] + doc["layers"]
    uploaded = sum(b["size"] for b in blobs)
    assert c.request("GET", f"/v2/{repo}/manifests/v1", headers={"Accept": OCI}).status_code == 200
    assert c.request("HEAD", f"/v2/{repo}/manifests/v1", headers={"Accept": OCI}).status_code == 200
    assert c.request("GET", f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI}).status_code == 200
    for b in doc["layers"]:
        assert c.request("GET", f"/v2/{repo}/blobs/{b['digest']}").status_code == 307
    assert c.request("GET", f"/v2/{repo}/manifests/nope", headers={"Accept": OCI}).status_code == 404
    r = usage(registry, ns)
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    stored = {k: rows[0].pop(k) for k in STORED}
    assert rows == [{"day": today(), "namespace": ns, "requests": c.sent, "pulls": 2, "pushes": 1,
                     "bytes_served": sum(b["size"] for b in doc["layers"]), "bytes_uploaded": uploaded}]
    assert r.json()["columns"] == ["day", "namespace"] + COUNTERS + STORED
    # stored bytes integrated over time (docs/metering.md): the image's blobs, since their push
    assert stored["stored_bytes"] == uploaded
    elapsed = time.time() - pushed
    assert uploaded * (elapsed - 5) <= stored["stored_byte_seconds"] <= uploaded * (elapsed + 5)
    assert stored["stored_gb_months"] == round(stored["stored_byte_seconds"] / 2 ** 30 / (30 * 86400), 9)


def test_an_index_pull_counts_the_platform_image_not_the_index(registry, ns):
    c = Client(registry.url, auth=registry.admin)
    repo = f"{ns}/multi"
    c.login(repo)
    child, body = c.push_image(repo, None)
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": OCI, "digest": child, "size": len(body),
         "platform": {"os": "linux", "architecture": "amd64"}}]}
    assert c.push_manifest(repo, "latest", index, INDEX).status_code == 201
    assert c.request("GET", f"/v2/{repo}/manifests/latest", headers={"Accept": INDEX}).status_code == 200
    assert c.request("GET", f"/v2/{repo}/manifests/{child}", headers={"Accept": OCI}).status_code == 200
    row = usage(registry, ns).json()["rows"][0]
    assert (row["pulls"], row["pushes"]) == (1, 2)


def test_csv_export_shape(registry, ns):
    c = Client(registry.url, auth=registry.admin)
    repo = f"{ns}/csv"
    c.login(repo)
    c.push_image(repo, "v1")
    r = usage(registry, ns, "csv", **{"from": "2026-01-30", "to": today()})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert r.headers["Content-Disposition"] == f'attachment; filename="usage-{ns}-2026-01-30-{today()}.csv"'
    lines = r.text.split("\r\n")
    assert lines[0] == ("day,namespace,requests,pulls,pushes,bytes_served,bytes_uploaded,"
                        "stored_bytes,stored_byte_seconds,stored_gb_months")
    assert lines[-1] == ""
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows[0]["day"] == "2026-01-30" and rows[-1]["day"] == today()
    assert all(row["namespace"] == ns for row in rows)
    assert [int(row["pushes"]) for row in rows] == [0] * (len(rows) - 1) + [1]
    # the day export (all namespaces, global admins) holds the same row
    day = requests.get(f"{registry.url}/admin/usage", params={"day": today(), "format": "csv"},
                       auth=registry.admin)
    assert day.status_code == 200
    mine = [row for row in csv.DictReader(io.StringIO(day.text)) if row["namespace"] == ns]
    moving = ("stored_byte_seconds", "stored_gb_months")   # they grow with every second stored
    assert [{k: v for k, v in row.items() if k not in moving} for row in mine] == \
        [{k: v for k, v in rows[-1].items() if k not in moving}]
    assert int(mine[0]["stored_byte_seconds"]) >= int(rows[-1]["stored_byte_seconds"])


def test_namespace_admins_read_their_own_usage_only(registry, ns):
    user, pw = ns, "usage-password-1"
    r = requests.post(f"{registry.url}/admin/users", json={"username": user, "password": pw},
                      auth=registry.admin)
    assert r.status_code == 201, r.text
    assert usage(registry, ns, auth=(user, pw)).status_code == 200     # owns namespace <ns>
    other = usage(registry, "test", auth=(user, pw))
    assert other.status_code == 403 and other.json()["errors"][0]["code"] == "DENIED"
    day = requests.get(f"{registry.url}/admin/usage", params={"day": today()}, auth=(user, pw))
    assert day.status_code == 403


@pytest.mark.parametrize("query", [
    {"namespace": "a", "day": "2026-01-01"}, {}, {"namespace": "a", "format": "xml"},
    {"namespace": "a", "from": "2026-13-01"}, {"namespace": "a", "from": "2026-02-01", "to": "2026-01-01"},
    {"namespace": "a", "from": "2024-01-01", "to": "2026-01-01"}, {"namespace": "A/../b"},
    {"namespace": "a", "colour": "red"}, {"day": "yesterday"}])
def test_bad_usage_queries_are_400s(registry, query):
    r = requests.get(f"{registry.url}/admin/usage", params=query, auth=registry.admin)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] in ("UNSUPPORTED", "NAME_INVALID")


def test_a_flush_is_one_write_per_namespace_and_day(registry, ns):
    from chalicelib.http.inject import services

    c = Client(registry.url, auth=registry.admin)
    repo = f"{ns}/flush"
    c.login(repo)
    c.push_image(repo, "v1")
    meter = services().meter()
    meter.flush()
    for _ in range(5):
        assert c.request("GET", f"/v2/{repo}/manifests/v1", headers={"Accept": OCI}).status_code == 200
    assert meter.pending()[(today(), ns)]["pulls"] == 5
    with count_aws_calls() as aws:
        assert meter.flush() == 1
    assert dict(aws.calls) == {"dynamodb.UpdateItem": 1}   # 5 pulls, one atomic ADD
    assert usage(registry, ns).json()["rows"][0]["pulls"] == 5
