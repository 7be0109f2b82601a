"""Times and dates from the admin API (docs/security.md): RFC 3339 expiry times within ten
years of now (never before 1970), usage dates strictly yyyy-mm-dd; anything else is 400
and changes nothing."""
from __future__ import annotations

import time

import pytest
import requests

BAD_TIMES = ["1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00+01:00", "9999-12-31T23:59:59Z",
             "2026-W01-1T00:00:00Z", "20260101T000000Z", "2030-01-01T00:00:00", "2030-01-01 00:00:00Z",
             "2030-01-01T00:00Z", "-1", "1e400", "NaN", "2030-02-30T00:00:00Z", "2030-01-01T24:00:00Z",
             "+2030-01-01T00:00:00Z", "2０30-01-01T00:00:00Z", "2030-01-01T00:00:00.Z", "2030-01-01T00:00:00Z\n"]


def _expiry(registry, repo: str, at: str) -> requests.Response:
    return requests.put(f"{registry.url}/admin/tags/expiry", json={"repository": repo, "tag": "v1", "expiresAt": at},
                        auth=registry.admin)


@pytest.mark.parametrize("at", BAD_TIMES)
def test_absurd_expiry_times_are_400(registry, client, repo, at):
    client.push_image(repo, "v1")
    r = _expiry(registry, repo, at)
    assert r.status_code == 400, (at, r.status_code, r.text)
    assert r.json()["errors"][0]["detail"]["field"] == "expiresAt"
    assert client.request("GET", f"/v2/{repo}/manifests/v1").status_code == 200  # not expired by it


def test_good_expiry_times(registry, client, repo):
    client.push_image(repo, "v1")
    year = time.gmtime().tm_year
    for at, want in ((f"{year + 1}-06-01T12:00:00.123456789Z", f"{year + 1}-06-01T12:00:00Z"),
                     (f"{year + 1}-06-01T14:00:00+02:00", f"{year + 1}-06-01T12:00:00Z"),
                     (f"{year + 1}-06-01t12:00:00z", f"{year + 1}-06-01T12:00:00Z")):
        r = _expiry(registry, repo, at)
        assert r.status_code == 200 and r.json()["expiresAt"] == want, (at, r.text)


@pytest.mark.parametrize("day", ["2024-W01-1", "20240101", "2024-001", "0001-01-01", "9999-12-31", "2024-1-01",
                                 "2024-01-01T00:00", "２０２４-01-01", "2０24-01-01", "2024-02-30", ""])
def test_usage_dates_are_yyyy_mm_dd(registry, day):
    r = requests.get(f"{registry.url}/admin/usage", params={"day": day}, auth=registry.admin)
    assert r.status_code == 400, (day, r.status_code, r.text)
    r = requests.get(f"{registry.url}/admin/usage", params={"namespace": "test", "from": day, "to": "2024-01-05"},
                     auth=registry.admin)
    assert r.status_code == 400, (day, r.status_code, r.text)
    assert "Content-Disposition" not in r.headers


def test_usage_good_date(registry):
    r = requests.get(f"{registry.url}/admin/usage", params={"day": "2024-02-29"}, auth=registry.admin)
    assert r.status_code == 200, r.text
