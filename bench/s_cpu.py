"""Figure 3: handler CPU per warm request, AWS answered by an in-process stub.

Each operation is first run once against moto with botocore `after-call`
recording the raw HTTP answers; then the same event is replayed N times with
a `before-send` handler on the registry's own botocore clients returning those
canned answers, so every request still goes through Chalice, the domain code,
pynamodb serialisation, botocore parameter validation, signing and response
parsing, but no socket and no moto. CPU is this thread's `time.thread_time()`
around `app(event, context)`.
"""
from __future__ import annotations

import io
import random
import time
from pathlib import Path
from typing import Any

from .images import MT_MANIFEST, build_layout, sha256
from .lambda_events import Invoker
from .servers import InProcessRegistry
from .util import log, summary


class _Raw:
    """Enough of urllib3's response for botocore to parse a canned body."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._io = io.BytesIO(data)

    def stream(self, *a: Any, **k: Any):
        yield self._data

    def read(self, *a: Any, **k: Any) -> bytes:
        return self._io.read(*a)

    def close(self) -> None:
        pass


class Stub:
    """Records AWS answers per scenario, then replays them in order."""

    def __init__(self, clients: list) -> None:
        self.clients = clients
        self.recording: list = []
        self.replay: list = []
        self._i = 0
        self.misses = 0

    def _after(self, http_response: Any = None, model: Any = None, **kw: Any) -> None:
        self.recording.append((model.name, http_response.status_code, dict(http_response.headers),
                               http_response.content))

    def _send(self, request: Any = None, **kw: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        if not self.replay:
            return None
        op, status, headers, body = self.replay[self._i % len(self.replay)]
        self._i += 1
        return AWSResponse(request.url, status, headers, _Raw(body))

    def record(self) -> None:
        self.recording = []
        for c in self.clients:
            c.meta.events.register("after-call.*.*", self._after)

    def stop_recording(self) -> list:
        for c in self.clients:
            c.meta.events.unregister("after-call.*.*", self._after)
        return self.recording

    def play(self, answers: list) -> None:
        self.replay, self._i = answers, 0
        for c in self.clients:
            c.meta.events.register("before-send.*.*", self._send)

    def stop(self) -> None:
        for c in self.clients:
            c.meta.events.unregister("before-send.*.*", self._send)
        self.replay = []


def run(quick: bool, work: Path) -> dict:
    n = 300 if quick else 3000
    reg = InProcessRegistry().start()   # moto + table + app; requests below bypass HTTP
    try:
        from chalicelib.http.inject import services

        inv = Invoker(reg.app)
        lay = build_layout(work / "cpu", 2, 4096, seed="cpu")
        repo = "bench/cpu"
        accept = {"Accept": MT_MANIFEST}

        def call(method: str, path: str, query: str = "", headers: Any = None, body: bytes = b"") -> dict:
            return inv(inv.event(method, path, query, headers, body))

        for d, data in lay["blobs"].items():
            if d != lay["manifest_digest"]:
                r = call("POST", f"/v2/{repo}/blobs/uploads/", f"digest={d}",
                         {"Content-Type": "application/octet-stream"}, data)
                assert r["statusCode"] == 201, r
        r = call("PUT", f"/v2/{repo}/manifests/v1", "", {"Content-Type": MT_MANIFEST}, lay["manifest"])
        assert r["statusCode"] == 201, r
        from .s_scale import seed

        seed("tags", 0, 150, repo=repo)  # so the tags page below is a full page of 100
        layer = lay["layers"][0]["digest"]
        mdig = lay["manifest_digest"]
        blob = random.Random(3).randbytes(2048)
        ops = {
            "manifest GET by tag": ("GET", f"/v2/{repo}/manifests/v1", "", accept, b"", 200),
            "manifest GET by digest": ("GET", f"/v2/{repo}/manifests/{mdig}", "", accept, b"", 200),
            "manifest HEAD by tag": ("HEAD", f"/v2/{repo}/manifests/v1", "", accept, b"", 200),
            "blob HEAD": ("HEAD", f"/v2/{repo}/blobs/{layer}", "", None, b"", 200),
            "blob GET (307)": ("GET", f"/v2/{repo}/blobs/{layer}", "", None, b"", 307),
            "tags list page (n=100)": ("GET", f"/v2/{repo}/tags/list", "n=100", None, b"", 200),
            "manifest PUT": ("PUT", f"/v2/{repo}/manifests/v2", "", {"Content-Type": MT_MANIFEST},
                             lay["manifest"], 201),
            "blob single POST ?digest= (2 KiB)": ("POST", f"/v2/{repo}/blobs/uploads/", f"digest={sha256(blob)}",
                                                   {"Content-Type": "application/octet-stream"}, blob, 201),
            "version check GET /v2/": ("GET", "/v2/", "", None, b"", 200),
        }
        stub = Stub([services().s3_client(), services().dynamodb_client()])
        out: dict[str, Any] = {"n": n, "ops": {}}
        log(f"cpu: {len(ops)} operations x {n} warm requests, AWS stubbed")
        for name, (method, path, query, headers, body, want) in ops.items():
            event = inv.event(method, path, query, headers, body)
            stub.record()
            r = inv(event)
            answers = stub.stop_recording()
            assert r["statusCode"] == want, (name, r)
            stub.play(answers)
            try:
                for _ in range(min(20, n)):   # warm-up
                    inv(event)
                cpu, wall = [], []
                for _ in range(n):
                    t0, c0 = time.perf_counter(), time.thread_time()
                    r = inv(event)
                    cpu.append((time.thread_time() - c0) * 1000)
                    wall.append((time.perf_counter() - t0) * 1000)
                assert r["statusCode"] == want, (name, r)
            finally:
                stub.stop()
            out["ops"][name] = {"aws_calls": [a[0] for a in answers], "cpu_ms": summary(cpu),
                                "wall_ms": summary(wall)}
        return out
    finally:
        reg.stop()
