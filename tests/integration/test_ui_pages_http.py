"""Web UI pages over plain HTTP: repository sizes, tag expiry and paging past expired tags."""
from __future__ import annotations

import re
import threading
import time

import pytest
import requests

from support import BACKGROUND_THREADS, Client
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


class QueryLimits:
    """The Limit of each DynamoDB Query the registry makes on request threads: their sum
    bounds the items a page read."""

    def __init__(self) -> None:
        from chalicelib.http.inject import services

        self.limits: list[int] = []
        self._client = services().dynamodb_client()

    def _record(self, params: dict, **_: object) -> None:
        if threading.current_thread().name not in BACKGROUND_THREADS:
            self.limits.append(int(params.get("Limit", 0)))

    def __enter__(self) -> "QueryLimits":
        self._client.meta.events.register("before-parameter-build.dynamodb.Query", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.meta.events.unregister("before-parameter-build.dynamodb.Query", self._record)


def test_a_thousand_tags_page_past_a_long_run_of_expired_ones_with_bounded_reads(registry):
    """1,000 tags, t0100..t0599 expired: every page answers with bounded reads (the session's
    Query plus at most 4 × 51 tag items), a page with no expired tag is one Query of 51, and
    following the pages over HTTP shows the 500 live tags once, in order. The two manifests
    are pushed over HTTP; their 1,000 tag items are written in batches, as `make bench` seeds
    them (1,000 manifest PUTs take minutes on a loaded 2-core machine)."""
    from chalicelib.storage import dynamo, keys

    repo = f"admin/k-{uid()}"
    admin = Client(registry.url, auth=registry.admin)
    live = admin.push_image(repo, "live", seed=f"{repo}-live")
    dying = admin.push_image(repo, "dying", seed=f"{repo}-dying")
    admin.request("DELETE", f"/v2/{repo}/manifests/live")           # only the t* tags remain
    admin.request("DELETE", f"/v2/{repo}/manifests/dying")
    now = int(time.time())
    expired = range(100, 600)
    with dynamo.TagItem.batch_write() as batch:
        for i in range(1000):
            digest, body = dying if i in expired else live
            batch.save(dynamo.TagItem(keys.repo_pk(repo), keys.tag_sk(f"t{i:04d}"), digest=digest,
                                      media_type="application/vnd.oci.image.manifest.v1+json", size=len(body),
                                      body=body, pushed=now, expires_at=now - 60 if i in expired else None))
    s = ui_session(registry, *registry.admin)
    seen, last, reads = [], "", []
    for _ in range(40):
        with QueryLimits() as q:
            r = s.get(registry.url + "/ui/repo", params={"name": repo, "last": last} if last else {"name": repo})
        assert r.status_code == 200
        tags = re.findall(r'<tr data-tag="([^"]+)">', r.text)
        seen += tags
        reads.append((q.limits[1:], len(tags)))   # after the session's Query: the tag page's
        m = re.search(r'href="/ui/repo\?[^"]*last=([^"&]+)" data-testid="next"', r.text)
        if not m:
            break
        last = requests.utils.unquote(m.group(1))
    assert seen == [f"t{i:04d}" for i in range(1000) if i not in expired]
    assert all(sum(tag_reads) <= 4 * 51 for tag_reads, _ in reads), reads
    assert reads[0][0] == [51] and reads[-1][0] == [51]            # nothing expired there: one Query
    assert any(n == 0 for _, n in reads)                           # a stretch of expired tags only
    assert all(len(tag_reads) <= 4 for tag_reads, _ in reads)
    assert len(reads) == 11
