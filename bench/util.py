"""Small shared helpers: paths, statistics, ports, process handling."""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def ensure_import_path() -> None:
    """Make the project importable (`app`, `chalicelib`, `local`)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (the local server's helper)."""
    ensure_import_path()
    from local.backends import free_port as unused

    return unused()


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# -- statistics ----------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank-with-interpolation percentile (p in 0..100)."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    if len(xs) == 1:
        return float(xs[0])
    k = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (k - lo))


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def summary(values: Sequence[float]) -> dict:
    """p50/p90/p99/min/max/mean/n of a sample (same unit as the input)."""
    xs = list(values)
    if not xs:
        return {"n": 0}
    return {"n": len(xs), "p50": percentile(xs, 50), "p90": percentile(xs, 90),
            "p99": percentile(xs, 99), "min": min(xs), "max": max(xs), "mean": sum(xs) / len(xs)}


# -- network -------------------------------------------------------------------
def wait_http(url: str, timeout: float = 30.0, ok: Iterable[int] = (200, 401)) -> None:
    """Wait until `url` answers one of the `ok` statuses."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status in ok:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return
            last = exc
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"{url} not ready after {timeout}s ({last})")


# -- processes -----------------------------------------------------------------
def clean_env(extra: Optional[Mapping[str, Optional[str]]] = None) -> dict[str, str]:
    """This environment without anything that could send traffic off the machine
    (AWS endpoints/profiles, proxies) or that distribution 2.8 panics on
    (AWS_CA_BUNDLE); `extra` is merged on top (None removes)."""
    env = dict(os.environ)
    for var in list(env):
        if (var.startswith("AWS_") or var.startswith("REGISTRY_")
                or var.lower() in ("http_proxy", "https_proxy", "all_proxy")):
            env.pop(var)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run(cmd: Sequence[str], *, env: Optional[Mapping[str, str]] = None, timeout: float = 300,
        check: bool = True, cwd: Optional[str] = None) -> subprocess.CompletedProcess:
    """Run a command, capturing text output; raise with its tail on failure."""
    proc = subprocess.run([str(c) for c in cmd], env=dict(env) if env is not None else None,
                          timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, cwd=cwd, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
                           f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}")
    return proc


def stop_process(proc: Optional[subprocess.Popen], timeout: float = 10.0) -> None:
    """Terminate a process we started in its own session (and its group)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


@contextlib.contextmanager
def temp_dir(prefix: str = "bench-") -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Timer:
    """Wall (perf_counter) and this thread's CPU time of a block."""

    def __enter__(self) -> "Timer":
        self.wall0 = time.perf_counter()
        self.cpu0 = time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.thread_time() - self.cpu0
