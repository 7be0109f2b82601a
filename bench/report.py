"""docs/benchmarks.md from results: findings and the page; tables and plots are in
report_tables.py and report_plots.py (re-exported here for bench/__main__.py)."""
from __future__ import annotations

from pathlib import Path

from . import report_direct, report_gc
from .report_plots import plots
from .report_tables import (CALL_OPS, _f, _local_targets, _sec, _usd, calls_table, coldstart_table,
                            cost_breakdown_table, cost_table, cpu_table, e2e_table, env_table,
                            front_door_cost_table, importtime_table, scale_table, tables, throughput_table,
                            ui_table)

__all__ = ["markdown", "plots", "tables"]


def _findings(results: dict) -> list[str]:
    out: list[str] = []
    c = _sec(results, "calls")
    if c:
        ours = c["registries"]["this"]
        single = [op for op in CALL_OPS[:9] if op in ours]
        at_min = [op for op in single if ours[op]["summary"]["total"] == ours[op]["summary"]["design_total"]]
        out.append(f"**AWS calls.** {len(at_min)} of {len(single)} single-request operations make exactly the "
                   "design minimum of docs/architecture.md (one DynamoDB call; two for a single-POST blob)."
                   + ("" if len(at_min) == len(single) else
                      " Above it: " + ", ".join(op for op in single if op not in at_min) + "."))
        for op in CALL_OPS[9:]:
            if op not in ours:
                continue
            s = ours[op]["summary"]
            if s["total"] > s["design_total"]:
                by = s["by_op"]
                out.append(f"`{op}`: {s['total']} calls against a minimum of {s['design_total']}; its S3 calls: "
                           f"{', '.join(f'{k[3:]} {v}' for k, v in by.items() if k.startswith('s3.'))} "
                           "(the excess is tail buffering, see section 1).")
        dist = c["registries"].get("distribution")
        if dist:
            pairs = [("pull 1-layer image (skopeo)", "a 1-layer pull"), ("pull 5x10 MiB image (skopeo)", "a 5-layer pull"),
                     ("push 5x10 MiB image (skopeo)", "a 5-layer push")]
            txt = "; ".join(f"{label}, {ours[op]['summary']['total']} calls here against "
                            f"{dist[op]['summary']['total']}" for op, label in pairs if op in ours and op in dist)
            out.append(f"distribution 2.8 on S3 (no cache) makes many more calls for the same client work — {txt}. "
                       "Most of its calls are `ListObjects` (a Stat of a path) and `GetObject` of link files.")
    if c and isinstance(c.get("auth"), dict) and "error" not in c["auth"]:
        a = c["auth"].get("pull 1-layer image, token auth (skopeo --creds)")
        plain = c["registries"]["this"].get("pull 1-layer image (skopeo)")
        if a and plain:
            sa, sp = a["summary"], plain["summary"]
            out.append(f"**Token auth** (the registry's default; every other number here is with "
                       f"`REGISTRY_AUTH=none`, as distribution runs without auth): a skopeo pull with credentials "
                       f"makes {sa['http_requests']} HTTP requests instead of {sp['http_requests']} and "
                       f"{sa['total']} AWS calls instead of {sp['total']}; the `/token` request with Basic "
                       f"credentials spends {sa['token_cpu_s'] * 1000:.0f} ms of CPU (argon2id password "
                       "verification)"
                       + (", more than all the other requests of the pull together"
                          if sa["token_cpu_s"] > sa["handler_cpu_s"] - sa["token_cpu_s"] else "")
                       + "; every skopeo invocation fetches a new token.")
    cs = _sec(results, "coldstart")
    if cs:
        txt = (f"**Cold start.** `import app` takes {cs['import_app_ms']['p50']:.0f} ms; the first request "
               f"{cs['first_request_ms']['p50']:.0f} ms more (lazy imports of boto3/botocore/pynamodb and "
               f"building the botocore clients); a warm request {cs['second_request_ms']['p50']:.1f} ms.")
        if cs.get("manifest_get_builds_s3_client"):
            txt += (f" A manifest GET never calls S3, yet its cold start builds the S3 client "
                    f"(~{cs['clients_ms']['s3_client']['p50']:.0f} ms measured apart): `container.registry()` "
                    "creates it eagerly; building it on first use would shorten cold manifest and tag requests.")
        out.append(txt)
    cpu = _sec(results, "cpu")
    if cpu:
        ops = cpu["ops"]
        reads = [v["cpu_ms"]["p50"] for k, v in ops.items() if k.startswith(("manifest GET", "manifest HEAD", "blob"))
                 and "POST" not in k]
        writes = [v["cpu_ms"]["p50"] for k, v in ops.items() if "PUT" in k or "POST" in k]
        tags = ops.get("tags list page (n=100)", {}).get("cpu_ms", {}).get("p50")
        if reads and writes:
            out.append(f"**Handler CPU.** With AWS stubbed, a manifest or blob read costs {min(reads):.2f}–"
                       f"{max(reads):.2f} ms of CPU (p50) on this machine, a page of 100 tags "
                       f"{_f(tags, 2)} ms, a write {min(writes):.2f}–{max(writes):.2f} ms. Most of it is botocore "
                       "and pynamodb: the handler itself is not where a request's time goes.")
    e = _sec(results, "e2e")
    if e:
        big = e["images"].get("5x10 MiB")
        if big:
            out.append(f"**End to end.** skopeo pushes 5×10 MiB to the local server in "
                       f"{big['push']['this_median_s']:.2f} s against distribution's "
                       f"{big['push']['distribution_median_s']:.2f} s ({big['push']['ratio']:.1f}×); pulls take "
                       f"{big['pull']['this_median_s']:.2f} s against {big['pull']['distribution_median_s']:.2f} s.")
    t = _sec(results, "throughput")
    if t and "HEAD" in t["results"]:
        a, b = t["results"]["HEAD"].get("this", {}), t["results"]["HEAD"].get("distribution", {})
        if a.get("rps") and b.get("rps"):
            out.append(f"**Throughput.** Manifest HEAD: {a['rps']:.0f} req/s (p99 {a.get('p99_ms', 0):.0f} ms) on the "
                       f"local server against {b['rps']:.0f} req/s (p99 {b.get('p99_ms', 0):.0f} ms) on distribution; "
                       f"the local server spends {a.get('server_cpu_ms_per_request') or 0:.1f} ms of CPU per request "
                       "(HTTP server, gateway shim and handler; the tag's GetItem comes from the local "
                       "server's read cache, docs/architecture.md#local-server).")
    sc = _sec(results, "scale")
    if sc:
        tags = sc["results"].get("tags", {}).get("first page", [])
        if tags:
            pts = [p for kind in ("tags", "catalog", "referrers") for pg in sc["results"].get(kind, {}).values()
                   for p in pg]
            cpus = [p["handler_cpu_ms"]["p50"] for p in pts]
            calls = sorted({p["dynamodb_calls"] for p in pts})
            out.append(f"**Scale.** Tag, catalog and referrers pages stay flat from {min(p['items'] for p in pts):,} "
                       f"to {max(p['items'] for p in pts):,} items: {min(cpus):.1f}–{max(cpus):.1f} ms of handler "
                       f"CPU and {'/'.join(map(str, calls))} DynamoDB call(s) per page. The wall time against moto "
                       "grows because moto scans the whole partition (or table, for an index); DynamoDB reads only "
                       "the page.")
    ui = _sec(results, "ui")
    if ui and ui.get("pages"):
        local = (ui.get("local_stack") or {}).get("pages", {})
        walls = [p["wall_ms"]["p50"] for p in local.values()] or [p["wall_ms"]["p50"] for p in ui["pages"].values()]
        cpus = [p["handler_cpu_ms"]["p50"] for p in ui["pages"].values()]
        where = "on `python -m local` (DynamoDB Local)" if local else "in process on moto"
        out.append(f"**Web UI.** With 1,000 tags in a repository each page answers in {min(walls):.0f}–"
                   f"{max(walls):.0f} ms (p50) {where}, with {min(cpus):.1f}–{max(cpus):.1f} ms of handler CPU; "
                   f"the largest asset is {max(a['bytes'] for a in ui['assets'].values()):,} bytes.")
    if c:
        diffs = [op for op, m in c["registries"]["this"].items()
                 if m["summary"].get("wire_total") not in (None, m["summary"]["total"])]
        if diffs:
            out.append("botocore's count and the count at moto differ for " + ", ".join(diffs) +
                       " (retries or calls from outside the registry's clients).")
    co = _sec(results, "cost")
    if co:
        rows = {r["workload"]: r for r in co["rows"]}
        tiny = next((r for k, r in rows.items() if k.startswith("1M pulls, 1-layer") and "region" in k), None)
        big = next((r for k, r in rows.items() if k.startswith("1M pulls, 5x10") and "internet" in k), None)
        push = next((r for k, r in rows.items() if "4 MiB chunks" in k), None)
        if tiny and big and push:
            out.append(f"**Cost.** A million pulls of a small image cost {_usd(tiny['this_arm64'])} here (arm64, "
                       f"in-region) against $0 on ECR, which charges no requests; for 5×10 MiB pulled to the "
                       f"internet both are dominated by data transfer ({_usd(big['this_arm64'])} against "
                       f"{_usd(big['ecr'])}). Pushing costs {_usd(push['this_arm64'])} per GB here; storage is "
                       f"$0.023 against $0.10 per GB-month. Break-even: below ~{co['breakeven_pulls_per_gb_month']:,} "
                       "small-image pulls per stored GB per month this registry is cheaper than ECR.")
            f = co.get("fronts")
            if f:
                rows_ = {r["workload"]: r for r in f["rows"]}
                target = rows_[f["target"]["workload"]]
                token = rows_[f["token_pull"]]
                d = f["default"]
                others = ", ".join(f"{f['fronts'][n]} {_usd(target[n])}" for n in f["fronts"] if n != d)
                out.append(f"**Front door.** A million small pulls ({target['http_requests']} requests: version "
                           f"check, manifest, config, layer) cost {_usd(target[d])} through the default "
                           f"{f['fronts'][d]} (arm64, {f['deployed']['memory_mb']} MB; target ≤ "
                           f"${f['target']['usd_max']:.2f}) against {others}; with a /token request each, "
                           f"{_usd(token[d])} against {_usd(token['rest'])} through the REST API. API Gateway bills "
                           "every client request, including the `GET /v2/` version check that does no work.")
    return out


def _deployed(results: dict) -> str:
    d = (_sec(results, "cost") or {}).get("deployed")
    return f"{d['arch']}, {d['memory_mb']} MB" if d else "arm64"


def markdown(results: dict, plots: dict[str, str], path: Path) -> None:
    def img(name: str, alt: str) -> str:
        return f"\n![{alt}]({plots[name]})\n" if name in plots else ""

    f = _findings(results)
    doc = f"""# Benchmarks

Generated by `make bench` (full) or `make bench QUICK=1` (smoke, ~3 minutes on
2 cores) from `bench/`; this page and `docs/benchmarks/*.png` are rewritten on
every run, the raw numbers are in `bench/results.json` (not committed). Every
request goes to 127.0.0.1; request counts and durations are bounded; nothing
here passes or fails on speed.

{env_table(results)}

## Findings

{chr(10).join(f"- {x}" for x in f) if f else "_no section produced results_"}

## 1. AWS API calls per registry operation

The same client operations go to three registries: this one, served in
process by the local server's API Gateway shim with its calls counted from
botocore `before-call` events on its own clients (and cross-checked at the
moto server); and distribution 2.8 with its `s3` storage driver pointed at a
moto server whose WSGI app is wrapped to name and count every S3 request,
without and with `cache.blobdescriptor: inmemory`. Single requests use
`requests` (a warm-up run, then the counted run); image push and pull use
real skopeo with a fresh blob-info cache. "4 MiB chunks" is the upload a
deployed client must make (Lambda takes at most ~4.4 MiB of body per request):
POST, PATCHes of 4 MiB with `Content-Range`, PUT. Presigned S3 requests that
clients follow after a 307 are counted apart: the registry does not make
them, but they are billed S3 GETs.

Design minimum: for single requests, the table in docs/architecture.md; for
pushes and pulls, the same per-request costs summed over the HTTP requests
the client sent, with each streamed blob costing one PutObject when under
5 MiB, else create + one write per chunk + complete + copy + delete — that
is, no tail buffers. The excess is the tail buffering: a streamed blob
under 5 MiB (every config blob) is written to a tail object, read back,
written to its final key and the tail deleted (4 S3 calls instead of 1);
chunks under S3's 5 MiB part minimum are buffered and re-read. The first
could be avoided (keep a small tail in the session item, which DynamoDB
allows up to 400 KB); the second follows from Lambda's payload limit
against S3's part minimum and goes away only with direct-to-S3 uploads.

{calls_table(results)}
{img("calls", "AWS calls per operation")}
## 2. Cold start

Fresh `python -c` processes with the repository as working directory, as
Lambda imports `app.py`; the first request is a manifest GET by tag, built as
an API Gateway proxy event in the child and answered by a moto server that is
already up. Lambda's own init (runtime start, code download) is not included.

{coldstart_table(results)}

{importtime_table(results)}
{img("coldstart", "Cold start")}
## 3. Handler CPU per warm request

Each operation runs once against moto while `after-call` records the raw HTTP
answers; the same event is then replayed with a `before-send` handler on the
registry's botocore clients returning those answers, so Chalice, the domain
code, pynamodb serialisation, botocore validation, signing and parsing all
run, but no socket. CPU is `time.thread_time()` around `app(event, context)`.

{cpu_table(results)}
{img("cpu", "Handler CPU per request")}
## 4. End to end with skopeo on loopback

This registry's real local server (`python -m local`: the API Gateway shim and
the handler in one Python process, on its default strict backends, ministack's
S3 and DynamoDB Local, as subprocesses; and on REGISTRY_EMBEDDED=memory's moto)
against distribution 2.8 with its filesystem driver.
Runs alternate between the two, every push goes to a new repository with a
fresh blob-info cache (so every blob is uploaded) and every pull to a new
`dir:` destination. The local server is a development stand-in, not the
deployed path: deployed, uploads go through API Gateway and Lambda and
downloads straight from S3.

{e2e_table(results)}
{img("e2e", "skopeo push and pull")}
## 5. Manifest throughput

`hey` with fixed concurrency and duration against both servers (a 1-layer
image pushed first). The local server is one Python process whose manifest
reads go over HTTP to DynamoDB Local (strict) or to moto in the same process
(memory); a deployed
registry instead runs one request per Lambda instance, so its throughput
scales with concurrency and its latency is the handler plus one DynamoDB
read plus API Gateway.

{throughput_table(results)}
{img("throughput", "Manifest throughput")}
## 6. Listings against the number of items

Items are created with BatchWriteItem through the registry's pynamodb models
(not by pushing): N tags in one repository, N repositories, N manifests with
one subject. Each listing is then requested with n=100 (first page and a page
from the middle). moto answers a Query by scanning the partition, and a GSI
Query by scanning the table, so wall time against moto grows with N where
DynamoDB would read only the page; handler CPU, calls and read units are the
registry's own cost. Referrers have no pagination: every referrer is
returned in one response. Read units are a lower bound (from the bytes
returned; DynamoDB bills the whole items read).

{scale_table(results)}
{img("scale", "Listings against item count")}
## 7. Cost model

From section 1's measured calls, read and write units and handler CPU, at AWS
list prices for {_sec(results, "cost")["prices"]["region"] if _sec(results, "cost") else "us-east-1"} taken
{_sec(results, "cost")["prices"]["taken"] if _sec(results, "cost") else "–"} (`bench/cost.py` holds the dated
price table and its sources; no free tiers). The function as deployed
({_deployed(results)}, `make synth`'s default front door unless a column says
otherwise); billed duration = measured handler CPU × 1769/memory (a full vCPU
at 1,769 MB) + an assumed latency per AWS call (DynamoDB 4–12 ms, S3 20 ms +
80 MB/s) + 0.5 ms rounding per request. A pull is the client's whole sequence
(version check, manifest, blobs); blob bytes come from S3 through presigned
URLs (S3 GETs and data transfer), so they never pass through Lambda. ECR
charges no requests: its pull cost is data transfer only, which is free within
the region for both.

{cost_table(results)}

{cost_breakdown_table(results)}

Per front door (`make synth FRONT=...`; the custom-domain column adds
CloudFront's HTTPS request charge to the Function URL). "Without the /token
request" is a client that reuses its token; the 5×10 MiB rows add the token
flow's measured requests and calls to the anonymous pull:

{front_door_cost_table(results)}
{img("cost", "Cost model")}

## 8. Web UI pages

A logged-in session requests each page of the web UI (`/ui/`) with 1,000 tags
seeded in one repository (`bench/s_ui.py`); the target is under 300 ms per
page on the local server and no asset over 100 KB. Wall time against moto is
dominated by moto's Query, which scans the whole partition; the handler CPU
and the AWS calls are the UI's own cost. The rows marked `python -m local` are
what `make run` serves (strict backends: DynamoDB Local; REGISTRY_AUTH=none, so
no session Query), with 1,000 tags pushed over HTTP.

{ui_table(results)}

## 9. Local stack targets (issue 12)

The local server on its default strict backends (ministack's S3 and DynamoDB Local as
subprocesses), measured in the same run as distribution 2.8: the peak resident memory of
every process of the stack while skopeo pushes one 1 GiB layer (`bench/s_memory.py`,
sampled every 0.2 s), and the ratios of sections 4 and 5. Load from other processes moves
absolute numbers; the ratios are taken within one run.

{_local_targets(results)}
{report_direct.markdown(results)}
{report_gc.markdown(results)}"""
    path.write_text(doc.rstrip() + "\n")
