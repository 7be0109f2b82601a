"""Progress for humans (one redrawn line on a terminal) and for CI (`--json`: one JSON object
per line on stdout: `progress` at most twice a second per blob, then `blob`, `resumed`,
`manifest` and a final `pushed`/`pulled`/`copied`)."""
from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, Callable, Optional, TextIO


def _mib(n: float) -> str:
    return f"{n / 1048576:.1f}"


class Reporter:
    def __init__(self, json_lines: bool = False, out: Optional[TextIO] = None, err: Optional[TextIO] = None,
                 quiet: bool = False) -> None:
        self.json = json_lines
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.bar = not json_lines and not quiet and self.err.isatty()
        self.quiet = quiet
        self.lock = threading.Lock()
        self.total = 0
        self.done = 0
        self.blobs = 0
        self.blobs_done = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def emit(self, event: str, **info: Any) -> None:
        """A JSON line (with --json), else a message on stderr for the notable events."""
        with self.lock:
            if self.json:
                self.out.write(json.dumps({"event": event, **info}) + "\n")
                self.out.flush()
            elif event == "resumed" and not self.quiet:
                self._clear()
                self.err.write(f"resuming {info.get('digest', '')[:19]}: {_mib(info.get('bytes', 0))} MiB "
                               "already uploaded\n")

    def add_blobs(self, sizes: list[int]) -> None:
        with self.lock:
            self.total += sum(sizes)
            self.blobs += len(sizes)

    def blob(self, digest: str, size: int) -> Callable[[int], None]:
        """A callback taking byte increments (negative to rewind a failed try)."""
        state = {"bytes": 0, "at": 0.0}

        def progress(n: int) -> None:
            with self.lock:
                state["bytes"] += n
                self.done += n
                now = time.monotonic()
                if self.json and now - state["at"] >= 0.5:
                    state["at"] = now
                    self.out.write(json.dumps({"event": "progress", "digest": digest, "bytes": state["bytes"],
                                               "total": size}) + "\n")
                    self.out.flush()
                elif self.bar and now - self._drawn >= 0.1:
                    self._drawn = now
                    self._draw()
        return progress

    def blob_done(self, digest: str, size: int, how: str) -> None:
        with self.lock:
            self.blobs_done += 1
            if self.bar:
                self._draw()
        self.emit("blob", digest=digest, size=size, how=how)

    def _draw(self) -> None:
        rate = self.done / max(time.monotonic() - self.started, 1e-3)
        width = 30
        filled = int(width * self.done / self.total) if self.total else width
        line = (f"\r[{'#' * filled}{'.' * (width - filled)}] {self.blobs_done}/{self.blobs} blobs "
                f"{_mib(self.done)}/{_mib(self.total)} MiB {_mib(rate)} MiB/s")
        self.err.write(line)
        self.err.flush()

    def _clear(self) -> None:
        if self.bar:
            self.err.write("\r\x1b[K")

    def finish(self, event: str, text: str, **info: Any) -> None:
        with self.lock:
            self._clear()
        if self.json:
            self.emit(event, **info)
        elif not self.quiet:
            self.out.write(text + "\n")
            self.out.flush()
