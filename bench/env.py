"""What the numbers were measured on: machine, versions, date."""
from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
from importlib import metadata

from .images import version
from .util import ROOT, run


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_gib() -> float:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def _os() -> str:
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def _pkg(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _deb(name: str) -> str:
    if not shutil.which("dpkg-query"):
        return "unknown"
    out = run(["dpkg-query", "-W", "-f=${Version}", name], check=False, timeout=20)
    return out.stdout.strip() or "not installed"


def _git() -> str:
    try:
        head = run(["git", "rev-parse", "--short", "HEAD"], cwd=str(ROOT), check=False, timeout=20).stdout.strip()
        dirty = run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=str(ROOT), check=False,
                    timeout=20).stdout.strip()
        return f"{head}{' (with uncommitted changes)' if dirty else ''}" if head else "unknown"
    except (OSError, RuntimeError):
        return "unknown"


def describe() -> dict:
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _mem_gib(),
                    "os": _os(), "kernel": platform.release()},
        "versions": {
            "python": platform.python_version(),
            "boto3": _pkg("boto3"), "botocore": _pkg("botocore"), "chalice": _pkg("chalice"),
            "moto": _pkg("moto"), "pynamodb": _pkg("pynamodb"), "werkzeug": _pkg("werkzeug"),
            "matplotlib": _pkg("matplotlib"),
            "skopeo": (version("skopeo", "--version") or "not installed").replace("skopeo version ", ""),
            "docker-registry": (version("docker-registry", "--version") or "not installed").split()[-1],
            "hey": _deb("hey"),
        },
        "commit": _git(),
    }
