"""Web UI pages over plain HTTP: repository sizes, tag expiry and paging past expired tags."""
from __future__ import annotations

import re
import time

import pytest
import requests

from support import Client
from test_ui_http import ui_session, uid

pytestmark = pytest.mark.backends("memory", "strict")


PAST = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
FUTURE = "2030-01-01T00:00:00Z"


def _expire(registry, repo: str, tag: str, at: str) -> None:
    r = requests.put(registry.url + "/admin/tags/expiry", auth=registry.admin,
                     json={"repository": repo, "tag": tag, "expiresAt": at})
    assert r.status_code == 200, r.text


def test_repository_size_follows_pushes_and_deletes(registry):
    admin = Client(registry.url, auth=registry.admin)
    repo = f"admin/size-{uid()}"
    admin.push_blob(repo, b"x" * 2048)
    digest = admin.push_blob(repo, b"y" * 1024)
    s = ui_session(registry, *registry.admin)

    def size() -> str:
        page = s.get(registry.url + "/ui/", params={"q": repo}).text
        return re.search(r'data-testid="repo-size">([^<]+)<', page).group(1)

    assert size() == "3.0 KiB"
    assert admin.request("DELETE", f"/v2/{repo}/blobs/{digest}").status_code == 202
    assert size() == "2.0 KiB"
    admin.push_blob(repo, b"x" * 2048)            # already linked: not counted twice
    assert size() == "2.0 KiB"


def test_tag_pages_show_expiry_and_skip_expired_tags(registry):
    admin = Client(registry.url, auth=registry.admin)
    repo = f"admin/exp-{uid()}"
    for i in range(55):
        admin.push_image(repo, f"t{i:02d}", seed=f"{repo}{i % 3}")
    for i in range(45, 52):                       # expired around the 50-tag page boundary
        _expire(registry, repo, f"t{i:02d}", PAST)
    _expire(registry, repo, "t53", FUTURE)
    s = ui_session(registry, *registry.admin)
    first = s.get(registry.url + "/ui/repo", params={"name": repo}).text
    tags = re.findall(r'<tr data-tag="([^"]+)">', first)
    assert tags == [f"t{i:02d}" for i in range(45)] + ["t52", "t53", "t54"]
    assert 'data-testid="next"' not in first          # 48 live tags: one page, no empty next page
    assert "2030-01-01 00:00 UTC" in first
    for i in range(45, 48):
        _expire(registry, repo, f"t{i:02d}", FUTURE)   # live again: 51 tags
    first = s.get(registry.url + "/ui/repo", params={"name": repo}).text
    assert len(re.findall(r'<tr data-tag="', first)) == 50
    nxt = re.search(r'href="(/ui/repo\?[^"]+)" data-testid="next"', first).group(1).replace("&amp;", "&")
    second = s.get(registry.url + nxt).text
    assert re.findall(r'<tr data-tag="([^"]+)">', second) == ["t54"]
