"""Metering cannot be used to write rows for made-up namespaces (docs/security.md):
requests to namespaces that do not exist - 401s from strangers, 404s - are dropped at the
flush; a namespace proven by a successful request, or by its record, is counted."""
from __future__ import annotations

import datetime
import uuid

import requests

from chalicelib.http.inject import services
from support import Client


def _rows(registry, day: str) -> dict:
    r = requests.get(f"{registry.url}/admin/usage", params={"day": day}, auth=registry.admin)
    assert r.status_code == 200, r.text
    return {row["namespace"]: row for row in r.json()["rows"]}


def test_made_up_namespaces_leave_no_usage_rows(registry):
    meter = services().meter()
    meter.flush()
    made_up = [f"z{uuid.uuid4().hex[:12]}" for _ in range(5)]
    for ns in made_up:  # a stranger, and an admin, poking at namespaces that do not exist
        assert requests.get(f"{registry.url}/v2/{ns}/app/manifests/latest").status_code == 401
        assert requests.get(f"{registry.url}/v2/{ns}/app/tags/list").status_code == 401
    admin = Client(registry.url, auth=registry.admin)
    admin.login(f"{made_up[0]}/app")
    assert admin.request("GET", f"/v2/{made_up[0]}/app/manifests/latest").status_code == 404

    created = f"c{uuid.uuid4().hex[:12]}"  # exists (admin API) but only ever answered 401
    assert requests.post(f"{registry.url}/admin/namespaces", json={"name": created},
                         auth=registry.admin).status_code == 201
    assert requests.get(f"{registry.url}/v2/{created}/app/manifests/latest").status_code == 401

    pushed = f"p{uuid.uuid4().hex[:12]}"  # never created, but a push there succeeded
    pusher = Client(registry.url, auth=registry.admin)
    pusher.login(f"{pushed}/app")
    pusher.push_image(f"{pushed}/app", "v1")
    assert requests.get(f"{registry.url}/v2/{pushed}/app/manifests/v1").status_code == 401

    assert {ns for _, ns in meter.pending()} >= set(made_up) | {created, pushed}
    meter.flush()
    rows = _rows(registry, datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"))
    assert not set(made_up) & set(rows), "rows were written for namespaces that do not exist"
    assert rows[created]["requests"] >= 1
    assert rows[pushed]["requests"] >= 3 and rows[pushed]["pushes"] == 1
