"""Figure 4: skopeo push and pull wall time on loopback.

This registry's real local server (`python -m local` on its default strict
backends, and as `this_memory` on REGISTRY_EMBEDDED=memory's moto) against
distribution 2.8 with its filesystem driver. Runs alternate between the two
(the order flips every round); every push goes to a new repository with a
fresh skopeo blob-info cache, so it uploads every blob; every pull goes to a
new `dir:` destination.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .images import MIB, Skopeo, build_layout
from .servers import Distribution, LocalServerProcess
from .util import log, median


def run(quick: bool, work: Path) -> dict:
    rounds = 2 if quick else 5
    images = {"tiny (1 layer, 1 KiB)": build_layout(work / "tiny", 1, 1024, seed="e2e-tiny"),
              "5x10 MiB": build_layout(work / "big", 5, 10 * MIB, seed="e2e-big")}
    sk = Skopeo(work / "skopeo")
    ours = LocalServerProcess(work / "local").start()
    mem = LocalServerProcess(work / "local-mem", {"REGISTRY_EMBEDDED": "memory"}).start()
    dist = Distribution(work / "dist").start()
    regs = {"this": ours, "this_memory": mem, "distribution": dist}
    times: dict[str, Any] = {img: {r: {"push": [], "pull": []} for r in regs} for img in images}
    try:
        for i in range(rounds):
            order = ["this", "this_memory", "distribution"] if i % 2 == 0 else ["distribution", "this_memory", "this"]
            for name in order:
                reg = regs[name]
                for img, lay in images.items():
                    repo = f"e2e/r{i}-{'big' if lay['bytes'] > MIB else 'tiny'}"
                    times[img][name]["push"].append(sk.push(lay, reg.host, repo, "v1"))
                    dest = work / f"pull-{name}-{i}"
                    times[img][name]["pull"].append(sk.pull(reg.host, repo, "v1", dest))
                    shutil.rmtree(dest, ignore_errors=True)
            log(f"e2e: round {i + 1}/{rounds} done")
    finally:
        ours.stop()
        mem.stop()
        dist.stop()
    out: dict[str, Any] = {"rounds": rounds, "images": {}}
    for img, lay in images.items():
        entry: dict[str, Any] = {"bytes": lay["bytes"]}
        for op in ("push", "pull"):
            a, b = median(times[img]["this"][op]), median(times[img]["distribution"][op])
            entry[op] = {"this_s": times[img]["this"][op], "distribution_s": times[img]["distribution"][op],
                         "this_median_s": a, "distribution_median_s": b, "ratio": a / b if b else None,
                         "this_memory_s": times[img]["this_memory"][op],
                         "this_memory_median_s": median(times[img]["this_memory"][op])}
        out["images"][img] = entry
        log(f"e2e: {img}: push {entry['push']['this_median_s']:.2f}s vs {entry['push']['distribution_median_s']:.2f}s, "
            f"pull {entry['pull']['this_median_s']:.2f}s vs {entry['pull']['distribution_median_s']:.2f}s")
    return out
