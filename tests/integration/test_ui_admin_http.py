"""The namespace admin page over plain HTTP: the roster (members with roles, robots), role
changes, robot rotate/revoke/restore, and the admin API behind it."""
from __future__ import annotations

import html
import re

import pytest
import requests

from support import Client, count_aws_calls
from test_ui_http import PASSWORD, admin_api, csrf_of, ui_session, uid

pytestmark = pytest.mark.backends("memory", "strict")


@pytest.fixture(scope="module")
def team(registry):
    """Namespace <ns> owned by the admin, with a namespace admin `boss` and a user `dev`."""
    ns, boss, dev = uid(), uid(), uid()
    for u in (boss, dev):
        admin_api(registry, "POST", "/admin/users", {"username": u, "password": PASSWORD}, 201)
    admin_api(registry, "POST", "/admin/namespaces", {"name": ns}, 201)
    admin_api(registry, "PUT", "/admin/grants", {"account": boss, "role": "admin", "namespace": ns}, 204)
    Client(registry.url, auth=registry.admin).push_image(f"{ns}/app", "v1", seed=ns)
    return {"ns": ns, "boss": boss, "dev": dev}


def _post(s: requests.Session, registry, path: str, data: dict) -> requests.Response:
    token = csrf_of(s.get(registry.url + "/ui/").text)
    return s.post(registry.url + path, data={**data, "csrf": token})


def _members(text: str) -> dict:
    """{(account, on): selected role} from the members table."""
    out = {}
    for m in re.finditer(r'<tr data-member="([^"]+)" data-on="([^"]+)">(.*?)</tr>', text, re.S):
        role = re.search(r"<option selected>(\w+)</option>", m.group(3))
        out[(m.group(1), m.group(2))] = role.group(1) if role else None
    return out


def _robots(text: str) -> dict:
    return {m.group(1): m.group(2) for m in re.finditer(
        r'<tr data-robot="([^"]+)">.*?data-testid="robot-state">(\w+)<', text, re.S)}


def test_namespace_admin_sees_and_changes_members(registry, team):
    ns, boss, dev = team["ns"], team["boss"], team["dev"]
    s = ui_session(registry, boss, PASSWORD)
    r = _post(s, registry, "/ui/admin/grants", {"ns": ns, "account": dev, "role": "read",
                                                "repository": f"{ns}/app"})
    assert r.status_code == 200, r.text
    assert _members(r.text) == {(boss, ns): "admin", (dev, f"{ns}/app"): "read"}
    # the dev can read, not push
    token = requests.get(registry.url + "/token", auth=(dev, PASSWORD),
                         params={"scope": f"repository:{ns}/app:pull,push"}).json()["token"]
    claims = _claims(token)
    assert claims == ["pull"]
    r = _post(s, registry, "/ui/admin/grants", {"ns": ns, "account": dev, "role": "write",
                                                "repository": f"{ns}/app"})
    assert _members(r.text)[(dev, f"{ns}/app")] == "write"
    token = requests.get(registry.url + "/token", auth=(dev, PASSWORD),
                         params={"scope": f"repository:{ns}/app:pull,push"}).json()["token"]
    assert sorted(_claims(token)) == ["pull", "push"]
    # the admin API shows the same roster
    api = requests.get(f"{registry.url}/admin/namespaces/{ns}/members", auth=(boss, PASSWORD)).json()
    assert api["members"] == sorted([{"account": boss, "role": "admin", "repository": None},
                                     {"account": dev, "role": "write", "repository": f"{ns}/app"}],
                                    key=lambda m: m["account"])   # by account
    r = _post(s, registry, "/ui/admin/grants", {"ns": ns, "account": dev, "role": "none",
                                                "repository": f"{ns}/app"})
    assert r.status_code == 200 and (dev, f"{ns}/app") not in _members(r.text)
    assert Client(registry.url, auth=(dev, PASSWORD)).request(
        "GET", f"/v2/{ns}/app/tags/list").status_code in (401, 403, 404)


def _claims(token: str) -> list:
    import base64
    import json

    payload = token.split(".")[1]
    doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return [a for entry in doc.get("access", []) for a in entry["actions"]]


def test_robot_rotate_revoke_restore_from_the_roster(registry, team):
    ns, boss = team["ns"], team["boss"]
    s = ui_session(registry, boss, PASSWORD)
    r = _post(s, registry, "/ui/admin/robots", {"ns": ns, "name": "ci", "action": "create"})
    assert r.status_code == 201, r.text
    robot = f"{ns}+ci"
    first = re.search(r'data-testid="robot-secret">([^<]+)<', r.text).group(1)
    assert _robots(r.text) == {robot: "active"}
    r = _post(s, registry, "/ui/admin/robots", {"ns": ns, "name": "ci", "action": "rotate"})
    second = html.unescape(re.search(r'data-testid="robot-secret">([^<]+)<', r.text).group(1))
    assert second != first
    assert requests.get(registry.url + "/token", auth=(robot, first)).status_code == 401
    assert requests.get(registry.url + "/token", auth=(robot, second)).status_code == 200
    r = _post(s, registry, "/ui/admin/robots", {"ns": ns, "name": "ci", "action": "revoke"})
    assert _robots(r.text) == {robot: "revoked"} and 'data-testid="restore"' in r.text
    assert requests.get(registry.url + "/token", auth=(robot, second)).status_code == 401
    r = _post(s, registry, "/ui/admin/robots", {"ns": ns, "name": "ci", "action": "restore"})
    assert r.status_code == 200 and _robots(r.text) == {robot: "active"}
    assert second not in r.text                                   # restoring shows no secret
    assert requests.get(registry.url + "/token", auth=(robot, second)).status_code == 200
    api = requests.get(f"{registry.url}/admin/namespaces/{ns}/members", auth=registry.admin).json()
    assert [(b["username"], b["revoked"]) for b in api["robots"]] == [(robot, False)]
    # restore through the API too (same use case)
    requests.delete(f"{registry.url}/admin/robots/{robot}", auth=registry.admin).raise_for_status()
    assert requests.post(f"{registry.url}/admin/robots/{robot}/restore", auth=registry.admin).status_code == 204
    assert requests.get(registry.url + "/token", auth=(robot, second)).status_code == 200


def test_roster_needs_the_same_rights_as_the_api(registry, team):
    ns, dev = team["ns"], team["dev"]
    s = ui_session(registry, dev, PASSWORD)
    assert s.get(registry.url + "/ui/admin", params={"ns": ns}).status_code == 404
    for action in ("rotate", "revoke", "restore"):
        assert _post(s, registry, "/ui/admin/robots", {"ns": ns, "name": "ci", "action": action}).status_code == 404
    assert _post(s, registry, "/ui/admin/grants", {"ns": ns, "account": dev, "role": "admin"}).status_code == 404
    r = requests.get(f"{registry.url}/admin/namespaces/{ns}/members", auth=(dev, PASSWORD))
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
    assert requests.get(f"{registry.url}/admin/namespaces/{ns}/members").status_code == 401
    r = requests.get(f"{registry.url}/admin/namespaces/Bad..NS/members", auth=registry.admin)
    assert r.status_code == 400
    # without the CSRF field nothing changes
    r = s.post(registry.url + "/ui/admin/grants", data={"ns": ns, "account": dev, "role": "admin"})
    assert r.status_code == 403


def test_admin_page_reads_the_roster_in_one_query(registry, team):
    s = ui_session(registry, team["boss"], PASSWORD)
    s.get(registry.url + "/ui/admin", params={"ns": team["ns"]})
    from chalicelib.http.inject import services

    services().meter().flush()   # the usage report flushes this process's counters first
    with count_aws_calls() as aws:
        r = s.get(registry.url + "/ui/admin", params={"ns": team["ns"]})
    assert r.status_code == 200
    # session (account Query) + catalog page (Query on the index) + roster (one Query)
    # + the policy index (one Query; no policy here, so no GetItem) + 7 days of usage (BatchGetItem)
    calls = dict(aws.calls)
    calls.pop("dynamodb.UpdateItem", None)   # a usage flush of requests made meanwhile, if any
    # + the namespace's stored-bytes days (one Query: docs/metering.md) + the quota (one GetItem)
    assert calls == {"dynamodb.Query": 5, "dynamodb.BatchGetItem": 1, "dynamodb.GetItem": 1}


def test_admin_page_shows_tag_policies_and_usage_read_only(registry, team):
    ns = team["ns"]
    policy = {"immutableTags": ["v*"], "defaultExpiry": "30d",
              "retention": [{"rule": "keep-last", "tags": "nightly-*", "count": 7},
                            {"rule": "expire-untagged", "days": 30}]}
    r = requests.put(registry.url + "/admin/policies", auth=registry.admin,
                     json={"repository": f"{ns}/app", "policy": policy})
    assert r.status_code == 200, r.text
    Client(registry.url, auth=registry.admin).request("GET", f"/v2/{ns}/app/tags/list")   # usage today
    s = ui_session(registry, team["boss"], PASSWORD)
    page = s.get(registry.url + "/ui/admin", params={"ns": ns}).text
    row = re.search(rf'<tr data-policy="{ns}/app">(.*?)</tr>', page, re.S).group(1)
    assert "<code>v*</code>" in row and "30d" in row
    assert "keep the last 7 tags matching nightly-*" in row and "delete untagged manifests after 30 days" in row
    usage = re.search(r'<table data-testid="usage">(.*?)</table>', page, re.S).group(1)
    assert usage.count("<tr><td>") == 7                       # the last 7 days, zeros included
    total = re.search(r'data-testid="usage-total"><th>Total</th><th>(\d+)</th>', usage).group(1)
    assert int(total) >= 1
    assert "<form" not in page.split('data-testid="policies"')[1]   # read-only sections


def _quota(text: str) -> dict:
    return {m.group(1): html.unescape(m.group(2)) for m in re.finditer(
        r'data-testid="quota-(\w+)">([^<]*)<', text)}


def test_namespace_admin_sees_the_quota_but_cannot_set_it(registry, team):
    ns = team["ns"]
    r = requests.put(f"{registry.url}/admin/quotas/{ns}", auth=registry.admin, json={"quota": 10 ** 9, "soft": None})
    assert r.status_code == 200, r.text
    stored = r.json()["stored"]
    s = ui_session(registry, team["boss"], PASSWORD)
    page = s.get(registry.url + "/ui/admin", params={"ns": ns}).text
    q = _quota(page)
    assert q["hard"] == "953.7 MiB" and q["soft"] == "none"
    assert f"({stored} bytes)" in q["stored"] and q["percent"] == f"{100 * stored / 10 ** 9:.1f}%"
    assert 'data-testid="quota-form"' not in page                     # read-only for namespace admins
    r = _post(s, registry, "/ui/admin/quota", {"ns": ns, "quota": "", "soft": ""})
    assert r.status_code == 403 and "global administrator" in r.text   # the API's refusal, same rights
    assert requests.get(f"{registry.url}/admin/quotas/{ns}", auth=registry.admin).json()["quota"] == 10 ** 9
    dev = ui_session(registry, team["dev"], PASSWORD)
    assert _post(dev, registry, "/ui/admin/quota", {"ns": ns, "quota": "1"}).status_code == 404


def test_global_admin_sets_and_clears_the_quota_from_the_page(registry, team):
    ns = team["ns"]
    s = ui_session(registry, *registry.admin)
    assert 'data-testid="quota-form"' in s.get(registry.url + "/ui/admin", params={"ns": ns}).text
    r = _post(s, registry, "/ui/admin/quota", {"ns": ns, "quota": "2GiB", "soft": "1500MB"})
    assert r.status_code == 200, r.text
    assert _quota(r.text)["hard"] == "2.0 GiB" and 'value="1500000000"' in r.text
    doc = requests.get(f"{registry.url}/admin/quotas/{ns}", auth=(team["boss"], PASSWORD)).json()
    assert (doc["quota"], doc["soft"]) == (2 * 2 ** 30, 1500 * 10 ** 6)
    # bad input: a clear error, nothing changed
    for bad in ({"quota": "lots", "soft": ""}, {"quota": "1MB", "soft": "2MB"}):
        r = _post(s, registry, "/ui/admin/quota", {"ns": ns, **bad})
        assert r.status_code == 400 and 'data-testid="error"' in r.text
    assert requests.get(f"{registry.url}/admin/quotas/{ns}", auth=registry.admin).json()["quota"] == 2 * 2 ** 30
    # without the CSRF field nothing changes
    r = s.post(registry.url + "/ui/admin/quota", data={"ns": ns, "quota": "", "soft": ""})
    assert r.status_code == 403
    assert requests.get(f"{registry.url}/admin/quotas/{ns}", auth=registry.admin).json()["quota"] == 2 * 2 ** 30
    r = _post(s, registry, "/ui/admin/quota", {"ns": ns, "quota": "none", "soft": ""})
    assert r.status_code == 200 and _quota(r.text)["hard"] == "none" and _quota(r.text)["percent"] == "-"
    doc = requests.get(f"{registry.url}/admin/quotas/{ns}", auth=registry.admin).json()
    assert (doc["quota"], doc["soft"]) == (None, None)
