"""Web UI pages with 1,000 tags in a repository (issue target: each page under 300 ms
on the local server, no asset over 100 KB).

The tags are seeded with BatchWriteItem like the scale section; the pages are
then requested over HTTP by a logged-in session, recording wall latency, the
handler's CPU, the DynamoDB calls and the bytes of each page.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import requests

from .s_scale import seed
from .servers import InProcessRegistry
from .util import log, summary

ADMIN = ("admin", "bench-admin-password")
REPO = "admin/tags"
TAGS = 1000
TARGET_MS = 300.0
ASSET_LIMIT = 100 * 1024


def _login(s: requests.Session, base: str) -> None:
    page = s.get(f"{base}/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = s.post(f"{base}/ui/login", data={"username": ADMIN[0], "password": ADMIN[1], "csrf": csrf},
               allow_redirects=False)
    assert r.status_code == 303, r.text


def _repo_item() -> None:
    from chalicelib.storage import dynamo, keys

    it = dynamo.RepoItem(keys.repo_pk(REPO), keys.REPO_META_SK, created=int(time.time()),
                         pushed=int(time.time()))
    it.gsi2pk, it.gsi2sk = keys.CATALOG_PK, REPO
    it.save()


def run(quick: bool, work: Path) -> dict:
    reg = InProcessRegistry(auth=ADMIN).start()
    s = requests.Session()
    out: dict[str, Any] = {"tags": TAGS, "target_ms": TARGET_MS, "pages": {}, "assets": {}}
    try:
        out["seed_s"] = seed("tags", 0, TAGS, repo=REPO)
        _repo_item()
        _login(s, reg.url)
        mid = f"t{TAGS // 2:07d}"
        pages = {"log in form": f"{reg.url}/ui/login",
                 "repositories": f"{reg.url}/ui/",
                 "tags, first page": f"{reg.url}/ui/repo?name={REPO}",
                 "tags, middle page": f"{reg.url}/ui/repo?name={REPO}&last={mid}",
                 "manifest": f"{reg.url}/ui/manifest?name={REPO}&ref={mid}",
                 "admin": f"{reg.url}/ui/admin?ns=admin"}
        k = 10 if quick else 30
        for name, url in pages.items():
            s.get(url).raise_for_status()  # warm-up
            reg.take_records()
            wall, cpu, calls = [], [], []
            for _ in range(k):
                before = reg.boto.snapshot()
                t0 = time.perf_counter()
                r = s.get(url)
                wall.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                after = reg.boto.snapshot()
                calls.append(sum(after["calls"].values()) - sum(before["calls"].values()))
                cpu.append(sum(x["cpu"] for x in reg.take_records()) * 1000)
            out["pages"][name] = {"wall_ms": summary(wall), "handler_cpu_ms": summary(cpu),
                                  "dynamodb_calls": max(calls), "bytes": len(r.content),
                                  "under_target": summary(wall)["p50"] < TARGET_MS}
            log(f"ui: {name}: {summary(wall)['p50']:.1f} ms wall p50, {summary(cpu)['p50']:.1f} ms cpu, "
                f"{max(calls)} calls, {len(r.content)} B")
        for asset in ("ui.css", "ui.js", "favicon.svg"):
            size = len(s.get(f"{reg.url}/ui/static/{asset}").content)
            out["assets"][asset] = {"bytes": size, "under_limit": size <= ASSET_LIMIT}
        return out
    finally:
        reg.stop()
