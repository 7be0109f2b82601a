"""Figure 9a: peak RSS of the whole local stack (the local server, the embedded S3 and
DynamoDB processes) while skopeo pushes one big layer to `python -m local` on its default
strict backends (bench/local_memory.py). Target (issue 12): under 1 GiB for a 1 GiB layer."""
from __future__ import annotations

from pathlib import Path

from .local_memory import measure
from .util import log

TARGET_MIB = 1024


def run(quick: bool, work: Path) -> dict:
    size = 256 if quick else 1024
    m = measure(size)
    if m["rc"]:
        raise RuntimeError(f"skopeo push failed: {m['stderr']}")
    m["target_mib"] = TARGET_MIB
    log(f"memory: {size} MiB layer pushed in {m['push_s']} s; stack peak RSS {m['peak_mib']} MiB "
        f"(idle {m['idle_mib']} MiB; target under {TARGET_MIB} MiB for a 1 GiB layer)")
    return m
