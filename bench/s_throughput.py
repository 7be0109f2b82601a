"""Figure 5: manifest HEAD and GET throughput under `hey`.

Same load generator, same fixed concurrency and duration, against this
registry's local server (`python -m local`, one Python process: the API
Gateway shim, the Chalice handler and the embedded moto answering DynamoDB)
and distribution 2.8 (filesystem driver). Loopback only; runs alternate.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from .images import MT_MANIFEST, Skopeo, build_layout
from .servers import Distribution, LocalServerProcess
from .util import log, run as sh

CONCURRENCY = 8


def parse_hey(text: str) -> dict:
    """Requests/sec, latency percentiles (ms) and status counts from hey's summary."""
    out: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else None
    for pct, val in re.findall(r"(\d+)%% in ([\d.]+) secs".replace("%%", "%"), text):
        out[f"p{pct}_ms"] = float(val) * 1000
    m = re.search(r"Average:\s+([\d.]+) secs", text)
    out["mean_ms"] = float(m.group(1)) * 1000 if m else None
    out["status"] = {code: int(n) for code, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", text)}
    errs = text.split("Error distribution:", 1)
    out["errors"] = errs[1].strip()[:500] if len(errs) > 1 else ""
    return out


def process_cpu_s(pid: int) -> float:
    """user + system CPU seconds of one process (Linux /proc)."""
    import os

    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(quick: bool, work: Path) -> dict:
    if not shutil.which("hey"):
        raise RuntimeError("hey not installed (bench/install.sh installs it)")
    duration = 5 if quick else 15
    lay = build_layout(work / "img", 1, 1024, seed="throughput")
    sk = Skopeo(work / "skopeo")
    ours = LocalServerProcess(work / "local").start()
    mem = LocalServerProcess(work / "local-mem", {"REGISTRY_EMBEDDED": "memory"}).start()
    dist = Distribution(work / "dist").start()
    regs = {"this": ours, "this_memory": mem, "distribution": dist}
    out: dict[str, Any] = {"concurrency": CONCURRENCY, "duration_s": duration, "results": {}}
    try:
        for reg in regs.values():
            sk.push(lay, reg.host, "load/app", "v1")
        for i, method in enumerate(("HEAD", "GET")):
            order = list(regs) if i % 2 == 0 else list(reversed(list(regs)))
            for name in order:
                url = f"{regs[name].url}/v2/load/app/manifests/v1"
                base = ["hey", "-c", str(CONCURRENCY), "-m", method, "-H", f"Accept: {MT_MANIFEST}"]
                sh(base + ["-n", "200", url], timeout=60)  # warm-up
                cpu0 = process_cpu_s(regs[name].proc.pid)
                proc = sh(base + ["-z", f"{duration}s", url], timeout=duration + 60)
                cpu = process_cpu_s(regs[name].proc.pid) - cpu0
                res = parse_hey(proc.stdout)
                done = sum(res["status"].values())
                res["server_cpu_ms_per_request"] = cpu * 1000 / done if done else None
                out["results"].setdefault(method, {})[name] = res
                log(f"throughput: {method} {name}: {res['rps']} req/s, p99 {res.get('p99_ms')} ms, "
                    f"status {res['status']}")
    finally:
        ours.stop()
        mem.stop()
        dist.stop()
    return out
