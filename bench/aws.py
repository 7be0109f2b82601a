"""Counting AWS calls two ways.

* `CountingMoto`: moto's server on loopback behind a WSGI wrapper that names
  and counts every request it answers (S3 operation from method/query/headers,
  DynamoDB operation from X-Amz-Target). This is how the calls of
  distribution 2.8 (Go SDK) are counted, and how the presigned S3 GETs that
  clients follow are seen for both registries.
* `BotoCalls`: botocore `before-call`/`after-call` handlers on the registry's
  own clients (like tests/support.py), with an estimate of the DynamoDB
  request units each call consumes (for the cost model).
"""
from __future__ import annotations

import math
import os
import threading
from collections import Counter
from typing import Any, Callable, Optional
from urllib.parse import parse_qs

from .util import free_port


# -- wire-level counting at moto -------------------------------------------------
def classify_s3(method: str, path: str, query: dict, headers: dict) -> str:
    """Name the S3 API operation of a path-style request."""
    parts = [p for p in path.split("/") if p]
    has_key = len(parts) >= 2
    q = {k.lower() for k in query}
    if method == "GET":
        if not parts:
            return "ListBuckets"
        if not has_key:
            if "uploads" in q:
                return "ListMultipartUploads"
            return "ListObjectsV2" if query.get("list-type", [""])[0] == "2" else "ListObjects"
        return "ListParts" if "uploadid" in q else "GetObject"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "PUT":
        if not has_key:
            return "PutBucketLifecycle" if "lifecycle" in q else "CreateBucket"
        if "x-amz-copy-source" in headers:
            return "UploadPartCopy" if "partnumber" in q else "CopyObject"
        return "UploadPart" if "partnumber" in q else "PutObject"
    if method == "POST":
        if "uploads" in q:
            return "CreateMultipartUpload"
        if "uploadid" in q:
            return "CompleteMultipartUpload"
        if "delete" in q:
            return "DeleteObjects"
        return "PostObject"
    if method == "DELETE":
        if "uploadid" in q:
            return "AbortMultipartUpload"
        return "DeleteObject" if has_key else "DeleteBucket"
    return f"{method}?"


class _Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: Counter = Counter()      # "s3.GetObject" -> n  (server-side callers)
        self.presigned: Counter = Counter()  # presigned URL requests (made by clients)
        self.bytes_out: Counter = Counter()  # response bytes per key
        self.bytes_in: Counter = Counter()   # request bytes per key


class CountingMoto:
    """moto's server on 127.0.0.1 with every request named and counted."""

    def __init__(self, port: Optional[int] = None) -> None:
        self.port = port or free_port()
        self.counts = _Counts()
        self._server = None
        self._thread: Optional[threading.Thread] = None
        self.enabled = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wrap(self, app: Callable) -> Callable:
        counts = self.counts

        def counting_app(environ: dict, start_response: Callable) -> Any:
            if not self.enabled:
                return app(environ, start_response)
            method = environ["REQUEST_METHOD"]
            path = environ.get("PATH_INFO", "/")
            query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
                       if k.startswith("HTTP_")}
            target = headers.get("x-amz-target", "")
            if target.startswith("DynamoDB"):
                key = "dynamodb." + target.split(".", 1)[1]
            else:
                key = "s3." + classify_s3(method, path, query, headers)
            presigned = "X-Amz-Signature" in query or "Signature" in query
            try:
                size_in = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                size_in = 0
            with counts.lock:
                (counts.presigned if presigned else counts.calls)[key] += 1
                counts.bytes_in[key] += size_in
            body = app(environ, start_response)
            out = 0
            chunks = []
            for chunk in body:
                out += len(chunk)
                chunks.append(chunk)
            if hasattr(body, "close"):
                body.close()
            with counts.lock:
                counts.bytes_out[("presigned:" if presigned else "") + key] += out
            return chunks

        return counting_app

    def start(self) -> "CountingMoto":
        from moto.moto_server.werkzeug_app import (DomainDispatcherApplication,
                                                   MotoRequestHandler, create_backend_app)
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", self.port, self._wrap(app), threaded=True,
                                   request_handler=_QuietHandler(MotoRequestHandler))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def snapshot(self) -> dict:
        with self.counts.lock:
            return {"calls": dict(self.counts.calls), "presigned": dict(self.counts.presigned),
                    "bytes_out": dict(self.counts.bytes_out), "bytes_in": dict(self.counts.bytes_in)}

    def reset(self) -> None:
        with self.counts.lock:
            self.counts.calls.clear()
            self.counts.presigned.clear()
            self.counts.bytes_out.clear()
            self.counts.bytes_in.clear()

    def export_env(self) -> None:
        """Point this process's AWS SDK at this server (dummy credentials)."""
        os.environ["AWS_ENDPOINT_URL_S3"] = self.url
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = self.url
        os.environ["AWS_ACCESS_KEY_ID"] = "bench"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "bench"
        os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
        os.environ.pop("AWS_CA_BUNDLE", None)
        os.environ.pop("AWS_PROFILE", None)


def _QuietHandler(base: type) -> type:
    class Quiet(base):  # type: ignore[misc, valid-type]
        def log(self, *a: Any, **k: Any) -> None:
            pass

    return Quiet


def diff(after: dict, before: dict) -> dict:
    """after - before for nested {name: {key: n}} snapshots (zeros dropped)."""
    out = {}
    for name, counts in after.items():
        prev = before.get(name, {})
        d = {k: v - prev.get(k, 0) for k, v in counts.items() if v - prev.get(k, 0)}
        out[name] = d
    return out


# -- botocore-level counting with request-unit estimates --------------------------
def _value_size(v: Any) -> int:
    """DynamoDB's size of one attribute value (typed JSON)."""
    if not isinstance(v, dict) or len(v) != 1:
        return 0
    (t, x), = v.items()
    if t == "S":
        return len(x.encode("utf-8"))
    if t == "N":
        digits = len(str(x).lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if t == "B":
        return len(x) if isinstance(x, (bytes, bytearray)) else math.ceil(len(x) * 3 / 4)
    if t in ("BOOL", "NULL"):
        return 1
    if t in ("SS",):
        return sum(len(s.encode()) for s in x)
    if t in ("NS",):
        return sum(_value_size({"N": n}) for n in x)
    if t in ("BS",):
        return sum(_value_size({"B": b}) for b in x)
    if t == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_size(val) for k, val in x.items())
    if t == "L":
        return 3 + sum(1 + _value_size(val) for val in x)
    return 0


def item_size(item: Optional[dict]) -> int:
    """DynamoDB item size: attribute names plus values."""
    if not item:
        return 0
    return sum(len(k.encode("utf-8")) + _value_size(v) for k, v in item.items())


def _ceil_div(a: int, b: int) -> int:
    return max(1, -(-a // b))


class BotoCalls:
    """Counts the calls of the registry's botocore clients and estimates
    DynamoDB read/write request units (on-demand billing rules: strongly
    consistent read 1 RRU per 4 KB, eventually consistent 0.5; write 1 WRU
    per KB; transactional writes and condition checks 2 per KB)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: Counter = Counter()
        self.rru = 0.0
        self.wru = 0.0
        self._clients: list = []
        self._local = threading.local()

    def _params(self, params: Any = None, **kw: Any) -> None:
        self._local.params = params

    def _before(self, event_name: str, **kw: Any) -> None:
        _, service, op = event_name.split(".", 2)
        with self.lock:
            self.calls[f"{service}.{op}"] += 1

    def _after(self, event_name: str, parsed: Any = None, **kw: Any) -> None:
        _, service, op = event_name.split(".", 2)
        if service != "dynamodb":
            return
        params = getattr(self._local, "params", None) or {}
        parsed = parsed or {}
        rru = wru = 0.0
        consistent = 1.0 if params.get("ConsistentRead") else 0.5
        if op == "GetItem":
            rru = _ceil_div(item_size(parsed.get("Item")), 4096) * consistent
        elif op in ("Query", "Scan"):
            size = sum(item_size(i) for i in parsed.get("Items", []))
            # Lower bound: the projected bytes returned (DynamoDB bills the whole items read).
            rru = _ceil_div(size, 4096) * (0.5 if params.get("IndexName") else consistent)
        elif op == "PutItem":
            wru = _ceil_div(item_size(params.get("Item")), 1024)
        elif op in ("DeleteItem", "UpdateItem"):
            wru = 1
        elif op == "BatchWriteItem":
            for reqs in (params.get("RequestItems") or {}).values():
                for r in reqs:
                    wru += _ceil_div(item_size((r.get("PutRequest") or {}).get("Item")), 1024)
        elif op == "TransactWriteItems":
            for action in params.get("TransactItems", []):
                if "Put" in action:
                    wru += 2 * _ceil_div(item_size(action["Put"].get("Item")), 1024)
                else:  # Update, Delete, ConditionCheck
                    wru += 2
        with self.lock:
            self.rru += rru
            self.wru += wru

    def attach(self, clients: list) -> "BotoCalls":
        for client in clients:
            client.meta.events.register("before-parameter-build.*.*", self._params)
            client.meta.events.register("before-call.*.*", self._before)
            client.meta.events.register("after-call.*.*", self._after)
            self._clients.append(client)
        return self

    def detach(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-parameter-build.*.*", self._params)
            client.meta.events.unregister("before-call.*.*", self._before)
            client.meta.events.unregister("after-call.*.*", self._after)
        self._clients.clear()

    def snapshot(self) -> dict:
        with self.lock:
            return {"calls": dict(self.calls), "units": {"rru": self.rru, "wru": self.wru}}

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.rru = self.wru = 0.0
