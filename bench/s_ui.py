"""Web UI pages with 1,000 tags in a repository (issue target: each page under 300 ms
on the local server, no asset over 100 KB).

The tags are seeded with BatchWriteItem like the scale section; the pages are
then requested over HTTP by a logged-in session, recording wall latency, the
handler's CPU, the DynamoDB calls and the bytes of each page. Then the same pages
on what `make run` serves: `python -m local` with its default strict backends
(DynamoDB Local), 1,000 tags pushed over HTTP, wall latency only (another process).
"""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from .images import sha256
from .s_scale import seed
from .servers import InProcessRegistry, LocalServerProcess
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


def _push_blob(http: requests.Session, base: str, repo: str, data: bytes) -> str:
    digest = sha256(data)
    r = http.post(f"{base}/v2/{repo}/blobs/uploads/")
    r.raise_for_status()
    loc = r.headers["Location"]
    loc = loc if loc.startswith("http") else base + loc
    r = http.put(loc, params={"digest": digest}, data=data,
                 headers={"Content-Type": "application/octet-stream"})
    r.raise_for_status()
    return digest


def _local_stack(work: Path, k: int) -> dict:
    """The pages on `python -m local` (strict backends, REGISTRY_AUTH=none: no session Query)."""
    import json

    reg = LocalServerProcess(work / "ui-local").start(timeout=180)
    out: dict[str, Any] = {"pages": {}}
    try:
        http, base = requests.Session(), reg.url
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        layer = b"bench ui layer " * 64
        doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                          "digest": _push_blob(http, base, REPO, config), "size": len(config)},
               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                           "digest": _push_blob(http, base, REPO, layer), "size": len(layer)}]}
        body = json.dumps(doc).encode()

        def push(tags: range) -> None:
            s = requests.Session()
            for i in tags:
                s.put(f"{base}/v2/{REPO}/manifests/t{i:07d}", data=body,
                      headers={"Content-Type": doc["mediaType"]}).raise_for_status()

        t0 = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(push, [range(j, TAGS, 4) for j in range(4)]))
        out["seed_s"] = time.perf_counter() - t0
        mid = f"t{TAGS // 2:07d}"
        pages = {"repositories": f"{base}/ui/", "tags, first page": f"{base}/ui/repo?name={REPO}",
                 "tags, middle page": f"{base}/ui/repo?name={REPO}&last={mid}",
                 "manifest": f"{base}/ui/manifest?name={REPO}&ref={mid}"}
        for name, url in pages.items():
            http.get(url).raise_for_status()  # warm-up
            wall = []
            for _ in range(k):
                t0 = time.perf_counter()
                r = http.get(url)
                wall.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
            out["pages"][name] = {"wall_ms": summary(wall), "bytes": len(r.content),
                                  "under_target": summary(wall)["p50"] < TARGET_MS}
            log(f"ui (python -m local): {name}: {summary(wall)['p50']:.1f} ms wall p50, {len(r.content)} B")
        return out
    finally:
        reg.stop()


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
    finally:
        reg.stop()
    try:
        out["local_stack"] = _local_stack(work, k)
    except Exception as exc:  # noqa: BLE001 - the moto numbers stand on their own
        out["local_stack"] = {"error": repr(exc)}
    return out
