"""`python -m bench.section NAME [--quick] --work DIR --out FILE`: run one section.

Each section runs in its own process so that module-level state (moto's
in-memory backends, the registry's cached clients, environment) never leaks
from one figure into another.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

from .util import ensure_import_path

SECTIONS = {
    "calls": "bench.s_calls",
    "coldstart": "bench.s_coldstart",
    "cpu": "bench.s_cpu",
    "direct": "bench.s_direct",
    "e2e": "bench.s_e2e",
    "gateway": "bench.s_gateway",
    "throughput": "bench.s_throughput",
    "scale": "bench.s_scale",
    "ui": "bench.s_ui",
    "memory": "bench.s_memory",
    "gc": "bench.s_gc",
}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("name", choices=sorted(SECTIONS))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    ensure_import_path()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result = importlib.import_module(SECTIONS[a.name]).run(a.quick, work)
    result["elapsed_s"] = time.perf_counter() - t0
    Path(a.out).write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
