"""Figure 1: AWS API calls per registry operation.

The same client operations (requests for single calls, real skopeo for image
push/pull) go to three registries:

* this registry, in-process, its calls counted from botocore events (and,
  as a cross-check, at the moto server it talks to);
* distribution 2.8 with its s3 driver on a counting moto server, without a
  cache, and with `cache.blobdescriptor: inmemory` (its sample config's
  setting).

Presigned S3 GETs that a client follows after a 307 are counted apart: the
registry does not make them, but they are billed S3 requests.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urljoin

import requests

from .aws import CountingMoto, diff
from .images import MIB, MT_MANIFEST, Skopeo, build_layout, sha256
from .servers import Distribution, InProcessRegistry
from .util import log

MIN_PART = 5 * MIB
CHUNK = 4 * MIB  # the largest chunk a deployed (Lambda) registry accepts

# The design minimum per single request, from docs/architecture.md
# ("AWS calls per operation"): (DynamoDB calls, S3 calls).
DESIGN_SINGLE = {
    "manifest GET by tag": (1, 0), "manifest GET by digest": (1, 0),
    "manifest HEAD by tag": (1, 0), "manifest HEAD by digest": (1, 0),
    "blob HEAD": (1, 0), "blob GET (307)": (1, 0), "tags list page (n=100)": (1, 0),
    "manifest PUT": (1, 0), "blob single POST ?digest=": (1, 1),
}


def design_minimum(records: list[dict], sizes: dict[str, int]) -> tuple[int, int]:
    """(DynamoDB, S3) calls the documented design needs for the HTTP requests
    this registry received (see docs/benchmarks.md for the rules)."""
    ddb = s3 = 0
    patches: dict[str, int] = {}
    for r in records:
        m, path, q = r["method"], r["path"].rstrip("/"), parse_qs(r.get("query", ""))
        if path == "/v2" or path.endswith("/v2"):
            continue
        if "/blobs/uploads" in path:
            sid = path.rsplit("/", 1)[1] if not path.endswith("/blobs/uploads") else None
            if m == "POST":
                if "digest" in q:
                    ddb, s3 = ddb + 1, s3 + 1            # link transaction + PutObject
                elif "mount" in q:
                    ddb += 2                             # read the source link + link transaction
                else:
                    ddb += 1                             # PutItem (session)
            elif m == "PATCH" and sid:
                ddb += 2                                 # read session + conditional save
                patches[sid] = patches.get(sid, 0) + 1
            elif m == "PUT" and sid:
                ddb += 2                                 # read session, link transaction (drops the session)
                n_patch = patches.pop(sid, 0)
                n = n_patch + (1 if r.get("length") else 0)
                size = sizes.get((q.get("digest") or [""])[0], r.get("length", 0))
                if size < MIN_PART or n_patch == 0:
                    s3 += 1                              # one PutObject to the final key
                elif n_patch == 1 and not r.get("length"):
                    s3 += 3                              # one body staged (PutObject), copy, delete
                else:                                    # create, one write per chunk, complete, copy, delete
                    s3 += 1 + max(n, 1) + 3
            continue
        if m in ("GET", "HEAD", "PUT", "DELETE"):
            ddb += 1                                     # manifest/blob/tags: one read or one transaction
    return ddb, s3


class Target:
    """One registry under test plus how to read its AWS counters."""

    def __init__(self, name: str, host: str, snapshot: Callable[[], dict],
                 http_since: Callable[[Any], list], http_mark: Callable[[], Any]) -> None:
        self.name, self.host, self.snapshot = name, host, snapshot
        self.http_since, self.http_mark = http_since, http_mark
        self.url = f"http://{host}"
        self.http = requests.Session()

    def measure(self, fn: Callable[[], Any]) -> dict:
        before, mark = self.snapshot(), self.http_mark()
        fn()
        after = self.snapshot()
        d = diff(after, before)
        reqs = self.http_since(mark)
        return {"aws": d, "http": reqs}


def _counts(d: dict) -> dict:
    """{ddb, s3, total, by_op} from a diff's `calls`."""
    calls = d.get("calls", {})
    ddb = sum(v for k, v in calls.items() if k.startswith("dynamodb."))
    s3 = sum(v for k, v in calls.items() if k.startswith("s3."))
    return {"dynamodb": ddb, "s3": s3, "total": ddb + s3, "by_op": dict(sorted(calls.items()))}


def _abs(base: str, location: str) -> str:
    return urljoin(base + "/", location)


def push_chunked(t: Target, repo: str, tag: str, layout: dict, chunk: int = CHUNK) -> None:
    """Push through the API in chunks as a deployable client must: HEAD,
    POST, PATCH <= 4 MiB with Content-Range, PUT ?digest=, then the manifest."""
    s = t.http
    order = [d["digest"] for d in layout["layers"]] + [layout["config_digest"]]
    for digest in order:
        data = layout["blobs"][digest]
        r = s.head(f"{t.url}/v2/{repo}/blobs/{digest}")
        if r.status_code == 200:
            continue
        r = s.post(f"{t.url}/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, (r.status_code, r.text)
        loc = _abs(t.url, r.headers["Location"])
        for off in range(0, len(data), chunk):
            piece = data[off:off + chunk]
            r = s.patch(loc, data=piece, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{off}-{off + len(piece) - 1}"})
            assert r.status_code == 202, (r.status_code, r.text)
            loc = _abs(t.url, r.headers["Location"])
        r = s.put(loc, params={"digest": digest}, headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, (r.status_code, r.text)
    r = s.put(f"{t.url}/v2/{repo}/manifests/{tag}", data=layout["manifest"],
              headers={"Content-Type": MT_MANIFEST})
    assert r.status_code == 201, (r.status_code, r.text)


def single_post(t: Target, repo: str, data: bytes) -> None:
    """POST ?digest= with the body; a registry that answers 202 (no monolithic
    POST, like distribution 2.8) gets the PUT a conforming client then sends."""
    digest = sha256(data)
    r = t.http.post(f"{t.url}/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=data,
                    headers={"Content-Type": "application/octet-stream"})
    if r.status_code == 202:
        r = t.http.put(_abs(t.url, r.headers["Location"]), params={"digest": digest}, data=data,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, (r.status_code, r.text)


def scenario(t: Target, sk: Skopeo, work: Path, tiny: dict, big: dict, chunked: dict) -> dict:
    """Every operation once against target `t`; returns {op: measurement}."""
    out: dict[str, dict] = {}
    s = t.http
    repo = "bench/app"
    accept = {"Accept": MT_MANIFEST}
    layer = tiny["layers"][0]["digest"]
    mdig = tiny["manifest_digest"]

    def ok(r: requests.Response, *codes: int) -> None:
        assert r.status_code in codes, (t.name, r.request.method, r.url, r.status_code, r.text[:300])

    out["push 1-layer image (skopeo)"] = t.measure(lambda: sk.push(tiny, t.host, repo, "v1"))
    singles: list[tuple[str, Callable[[], Any]]] = [
        ("manifest GET by tag", lambda: ok(s.get(f"{t.url}/v2/{repo}/manifests/v1", headers=accept), 200)),
        ("manifest GET by digest", lambda: ok(s.get(f"{t.url}/v2/{repo}/manifests/{mdig}", headers=accept), 200)),
        ("manifest HEAD by tag", lambda: ok(s.head(f"{t.url}/v2/{repo}/manifests/v1", headers=accept), 200)),
        ("manifest HEAD by digest", lambda: ok(s.head(f"{t.url}/v2/{repo}/manifests/{mdig}", headers=accept), 200)),
        ("blob HEAD", lambda: ok(s.head(f"{t.url}/v2/{repo}/blobs/{layer}", allow_redirects=True), 200)),
        ("blob GET (307)", lambda: ok(s.get(f"{t.url}/v2/{repo}/blobs/{layer}", allow_redirects=False), 307, 200)),
        ("tags list page (n=100)", lambda: ok(s.get(f"{t.url}/v2/{repo}/tags/list", params={"n": 100}), 200)),
        ("manifest PUT", lambda: ok(s.put(f"{t.url}/v2/{repo}/manifests/v2", data=tiny["manifest"],
                                          headers={"Content-Type": MT_MANIFEST}), 201)),
        ("blob single POST ?digest=", lambda: single_post(t, repo, random.Random(7).randbytes(2048))),
    ]
    for name, fn in singles:
        fn()  # warm-up run (connection, caches); the second run is counted
        if name == "blob single POST ?digest=":  # a new blob, not the one just pushed
            fn = lambda: single_post(t, repo, random.Random(8).randbytes(2048))  # noqa: E731
        out[name] = t.measure(fn)
    out["pull 1-layer image (skopeo)"] = t.measure(lambda: sk.pull(t.host, repo, "v1", work / f"pull-{t.name}-1"))
    out["push 5x10 MiB image (skopeo)"] = t.measure(lambda: sk.push(big, t.host, "bench/big", "v1"))
    out["pull 5x10 MiB image (skopeo)"] = t.measure(
        lambda: sk.pull(t.host, "bench/big", "v1", work / f"pull-{t.name}-big"))
    out["push 5x10 MiB image, 4 MiB chunks"] = t.measure(lambda: push_chunked(t, "bench/chunked", "v1", chunked))
    return out


def auth_rows(sk: Skopeo, work: Path, tiny: dict) -> dict:
    """The same 1-layer push and pull with token auth on (the registry's default):
    skopeo logs in with Basic credentials at the token endpoint, then uses the token."""
    user, password = "bench-admin", "bench-admin-password-0123456789"
    reg = InProcessRegistry(auth=(user, password), suffix="-auth").start()
    out: dict[str, Any] = {}
    try:
        creds = f"{user}:{password}"
        for name, fn in (("push 1-layer image, token auth (skopeo --creds)",
                          lambda: sk.push(tiny, reg.host, "bench/app", "v1", creds=creds)),
                         ("pull 1-layer image, token auth (skopeo --creds)",
                          lambda: sk.pull(reg.host, "bench/app", "v1", work / "pull-auth", creds=creds))):
            reg.boto.reset()
            reg.take_records()
            fn()
            b = reg.boto.snapshot()
            recs = reg.take_records()
            token = [r for r in recs if r["path"].rstrip("/").endswith("/token")]
            out[name] = {"summary": {**_counts({"calls": b["calls"]}), "rru": b["units"]["rru"],
                                     "wru": b["units"]["wru"], "http_requests": len(recs),
                                     "token_requests": len(token),
                                     "token_cpu_s": sum(r["cpu"] for r in token),
                                     "handler_cpu_s": sum(r["cpu"] for r in recs),
                                     "http_by_method": _by_method([(r["method"], r["path"]) for r in recs])},
                         "http": [{k: r[k] for k in ("method", "path", "status", "cpu", "wall")} for r in recs]}
    finally:
        reg.stop()
    return out


def run(quick: bool, work: Path) -> dict:
    log("calls: building images")
    tiny = build_layout(work / "tiny", 1, 1024, seed="tiny")
    big = build_layout(work / "big", 5, 10 * MIB, seed="big")
    chunked = build_layout(work / "chunked", 5, 10 * MIB, seed="chunked")
    sizes = {d: len(b) for lay in (tiny, big, chunked) for d, b in lay["blobs"].items()}
    sizes[sha256(random.Random(8).randbytes(2048))] = 2048
    sk = Skopeo(work / "skopeo")
    results: dict[str, Any] = {"registries": {}}

    # -- this registry ---------------------------------------------------------
    log("calls: this registry (in-process, botocore counting)")
    reg = InProcessRegistry().start()
    try:
        def snap() -> dict:
            b = reg.boto.snapshot()
            m = reg.moto.snapshot()
            return {"calls": b["calls"], "units": {k: v for k, v in b["units"].items()},
                    "wire": m["calls"], "presigned": m["presigned"],
                    "s3_bytes": {**{"in:" + k: v for k, v in m["bytes_in"].items() if k.startswith("s3.")},
                                 **{"out:" + k: v for k, v in m["bytes_out"].items() if k.startswith("s3.")}},
                    "presigned_bytes": {k: v for k, v in m["bytes_out"].items() if k.startswith("presigned:")}}

        t = Target("this", reg.host, snap, lambda mark: reg.take_records(), lambda: reg.take_records())
        ours = scenario(t, sk, work, tiny, big, chunked)
    finally:
        reg.stop()
    for name, meas in ours.items():
        recs = meas["http"]
        units = meas["aws"].get("units", {})
        design = DESIGN_SINGLE.get(name) or design_minimum(recs, sizes)
        meas["summary"] = {
            **_counts(meas["aws"]),
            "rru": units.get("rru", 0.0), "wru": units.get("wru", 0.0),
            "wire_total": sum(meas["aws"].get("wire", {}).values()),
            "client_s3_gets": sum(meas["aws"].get("presigned", {}).values()),
            "client_s3_bytes": sum(meas["aws"].get("presigned_bytes", {}).values()),
            "s3_data_bytes": sum(meas["aws"].get("s3_bytes", {}).values()),
            "http_requests": len(recs),
            "http_by_method": _by_method([(r["method"], r["path"]) for r in recs]),
            "handler_cpu_s": sum(r["cpu"] for r in recs),
            "handler_wall_s": sum(r["wall"] for r in recs),
            "design_dynamodb": design[0], "design_s3": design[1], "design_total": design[0] + design[1],
        }
        meas["http"] = [{k: r[k] for k in ("method", "path", "status", "length", "cpu", "wall")} for r in recs]
    results["registries"]["this"] = ours
    try:
        results["auth"] = auth_rows(sk, work, tiny)
    except Exception as exc:  # the auth code may move under us; the other rows stand
        log(f"calls: token-auth rows failed: {exc!r}")
        results["auth"] = {"error": repr(exc)[:500]}

    # -- distribution 2.8 on S3 (moto), without and with its in-memory cache ----------------
    # moto keeps one in-memory backend per process: each variant gets its own bucket
    variants = [("distribution", False, "dist-nocache"), ("distribution+cache", True, "dist-cache")]
    for name, cache, bucket in variants:
        log(f"calls: {name} (s3 driver on a counting moto)")
        moto = CountingMoto().start()
        import boto3

        boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id="bench",
                     aws_secret_access_key="bench").create_bucket(Bucket=bucket)
        moto.reset()
        dist = Distribution(work / name, s3_endpoint=moto.url, bucket=bucket, cache=cache,
                            access_log=True).start()
        try:
            t = Target(name, dist.host, moto.snapshot, dist.requests_since, dist.log_offset)
            theirs = scenario(t, sk, work, tiny, big, chunked)
        except Exception:
            log(dist.log_tail(8))
            raise
        finally:
            dist.stop()
            moto.stop()
        for meas in theirs.values():
            presigned = meas["aws"].get("presigned", {})
            meas["summary"] = {**_counts(meas["aws"]),
                               "client_s3_gets": sum(presigned.values()),
                               "client_s3_bytes": sum(v for k, v in meas["aws"].get("bytes_out", {}).items()
                                                      if k.startswith("presigned:")),
                               "http_requests": len(meas["http"]),
                               "http_by_method": _by_method(meas["http"])}
            meas["http"] = [{"method": m, "path": p.split("?", 1)[0]} for m, p in meas["http"]]
        results["registries"][name] = theirs
    results["images"] = {"tiny_bytes": tiny["bytes"], "big_bytes": big["bytes"], "chunked_bytes": chunked["bytes"]}
    return results


def _by_method(reqs: list) -> dict:
    out: dict[str, int] = {}
    for m, _ in reqs:
        out[m] = out.get(m, 0) + 1
    return dict(sorted(out.items()))
