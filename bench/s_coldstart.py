"""Figure 2: cold start.

Fresh `python -c` processes (cwd = repository root, as Lambda imports
`app.py`): the interpreter alone, `import app`, and `import app` plus the
first request (a manifest GET by tag, API Gateway event built in the child)
answered against a moto server that is already up and holds the image. The
median of N processes each; `python -X importtime` attributes the import
time to top-level packages.
"""
from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from .images import MT_MANIFEST
from .servers import BUCKET, TABLE, InProcessRegistry
from .util import PYTHON, ROOT, clean_env, log, median, summary
from .util import run as sh

IMPORT_ONLY = "import time; t=time.perf_counter(); import app; print(time.perf_counter()-t)"

# The child builds the event by hand (like API Gateway would) so nothing but the
# handler's own imports is timed.
FIRST_REQUEST = r'''
import time, json, base64, uuid
t0 = time.perf_counter()
import app
t1 = time.perf_counter()
class Ctx:
    aws_request_id = str(uuid.uuid4()); function_name = "bench"; memory_limit_in_mb = 1024
    def get_remaining_time_in_millis(self): return 29000
def event(path):
    headers = {"Host": "127.0.0.1", "Accept": "%(accept)s"}
    return {"resource": "/v2/{proxy+}", "path": path, "httpMethod": "GET",
            "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": {"proxy": path[len("/v2/"):]}, "stageVariables": None,
            "requestContext": {"resourcePath": "/v2/{proxy+}", "httpMethod": "GET", "path": path,
                               "requestId": str(uuid.uuid4()), "stage": "bench",
                               "identity": {"sourceIp": "127.0.0.1"}},
            "body": None, "isBase64Encoded": False}
r = app.app(event("/v2/bench/cold/manifests/v1"), Ctx())
t2 = time.perf_counter()
r2 = app.app(event("/v2/bench/cold/manifests/v1"), Ctx())
t3 = time.perf_counter()
try:
    from chalicelib.http.inject import services
    s3_built = services().built("client:s3")
except Exception:
    s3_built = None
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "second": t3 - t2,
                  "status": r["statusCode"], "status2": r2["statusCode"], "s3_client_built": s3_built}))
''' % {"accept": MT_MANIFEST}


# What the first request pays beyond imports: building the botocore clients.
CLIENTS = r'''
import time, json
t0 = time.perf_counter()
import boto3
t1 = time.perf_counter()
boto3.session.Session().client("s3", region_name="us-east-1")
t2 = time.perf_counter()
boto3.session.Session().client("dynamodb", region_name="us-east-1")
t3 = time.perf_counter()
print(json.dumps({"import_boto3": t1 - t0, "s3_client": t2 - t1, "dynamodb_client": t3 - t2}))
'''


def _importtime(code: str, env: dict) -> dict:
    """Self import time per top-level package (ms), and the total."""
    proc = sh([PYTHON, "-X", "importtime", "-c", code], env=env, cwd=str(ROOT), timeout=120)
    per_pkg: dict[str, float] = defaultdict(float)
    total = 0.0
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)", line)
        if not m:
            continue
        self_us = int(m.group(1))
        per_pkg[m.group(4).split(".")[0]] += self_us / 1000.0
        total += self_us / 1000.0
    top = sorted(per_pkg.items(), key=lambda kv: -kv[1])[:12]
    return {"total_ms": total, "top": [{"package": k, "self_ms": v} for k, v in top]}


def run(quick: bool, work: Path) -> dict:
    n = 5 if quick else 15
    reg = InProcessRegistry().start()
    try:
        # the image the first request reads
        import requests

        from .images import build_layout

        lay = build_layout(work / "cold", 1, 512, seed="cold")
        s = requests.Session()
        for d, data in lay["blobs"].items():
            if d == lay["manifest_digest"]:
                continue
            r = s.post(f"{reg.url}/v2/bench/cold/blobs/uploads/", params={"digest": d}, data=data)
            assert r.status_code == 201, r.text
        r = s.put(f"{reg.url}/v2/bench/cold/manifests/v1", data=lay["manifest"],
                  headers={"Content-Type": MT_MANIFEST})
        assert r.status_code == 201, r.text
        env = clean_env({"AWS_ENDPOINT_URL_S3": reg.moto.url, "AWS_ENDPOINT_URL_DYNAMODB": reg.moto.url,
                         "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                         "AWS_DEFAULT_REGION": "us-east-1", "REGISTRY_TABLE": TABLE,
                         "REGISTRY_BUCKET": BUCKET, "REGISTRY_AUTH": "none",
                         "PYTHONDONTWRITEBYTECODE": None})
        log(f"coldstart: {n} fresh processes each")
        interp, imports, proc_import, clients = [], [], [], []
        s3_built = None
        firsts, seconds, to_first, proc_first = [], [], [], []
        for _ in range(n):
            t = time.perf_counter()
            sh([PYTHON, "-c", "pass"], env=env, cwd=str(ROOT), timeout=60)
            interp.append(time.perf_counter() - t)

            t = time.perf_counter()
            out = sh([PYTHON, "-c", IMPORT_ONLY], env=env, cwd=str(ROOT), timeout=60)
            proc_import.append(time.perf_counter() - t)
            imports.append(float(out.stdout.strip().splitlines()[-1]))

            t = time.perf_counter()
            out = sh([PYTHON, "-c", FIRST_REQUEST], env=env, cwd=str(ROOT), timeout=60)
            proc_first.append(time.perf_counter() - t)
            doc = json.loads(out.stdout.strip().splitlines()[-1])
            assert doc["status"] == 200 and doc["status2"] == 200, doc
            firsts.append(doc["first"])
            seconds.append(doc["second"])
            to_first.append(doc["import"] + doc["first"])
            s3_built = doc.get("s3_client_built")

            out = sh([PYTHON, "-c", CLIENTS], env=env, cwd=str(ROOT), timeout=60)
            clients.append(json.loads(out.stdout.strip().splitlines()[-1]))
        ms = lambda xs: {k: (v * 1000 if k != "n" else v) for k, v in summary(xs).items()}  # noqa: E731
        result: dict[str, Any] = {
            "n": n,
            "interpreter_start_ms": ms(interp),
            "import_app_ms": ms(imports),
            "first_request_ms": ms(firsts),
            "second_request_ms": ms(seconds),
            "import_plus_first_ms": ms(to_first),
            "process_import_ms": ms(proc_import),
            "process_first_request_ms": ms(proc_first),
            "manifest_get_builds_s3_client": s3_built,
            "clients_ms": {k: ms([c[k] for c in clients]) for k in ("import_boto3", "s3_client",
                                                                     "dynamodb_client")},
            "importtime_import_app": _importtime("import app", env),
            "importtime_first_request": _importtime(FIRST_REQUEST, env),
        }
        log(f"coldstart: import app {median(imports) * 1000:.0f} ms, "
            f"+first request {median(firsts) * 1000:.0f} ms (median of {n})")
        return result
    finally:
        reg.stop()
