"""index.yaml: the classic repository's index, written as block YAML by the registry itself.

Every string is double-quoted and escaped, so any Chart.yaml content reads
back exactly with go-yaml (Helm) and PyYAML; entries come from domain/helm.py.
"""
from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any, Iterable, Optional

from .chart_metadata import normalize_metadata, semver_key

if TYPE_CHECKING:
    from ..storage.helm_ports import ChartEntry

# -- index.yaml ----------------------------------------------------------------
def rfc3339(ns: int) -> str:
    """RFC 3339 UTC time with nanoseconds, as Go's time.RFC3339Nano reads it."""
    secs, frac = divmod(int(ns), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def index_entry(e: ChartEntry) -> dict:
    """An index.yaml entry: Chart.yaml fields, urls, created, digest (sorted keys, as Helm writes)."""
    doc: dict[str, Any] = dict(normalize_metadata(e.metadata))
    doc["name"], doc["version"] = e.name, e.version
    doc["urls"] = [f"charts/{e.filename}"]
    doc["created"] = rfc3339(e.created_ns)
    if e.chart_digest.startswith("sha256:"):
        doc["digest"] = e.chart_digest.split(":", 1)[1]   # bare hex, as ChartMuseum and Helm write it
    return dict(sorted(doc.items()))


def index_document(entries: Iterable[ChartEntry], generated_ns: int) -> dict:
    """The repository index: entries by chart name, newest version first."""
    by_name: dict[str, list[ChartEntry]] = {}
    for e in entries:
        by_name.setdefault(e.name, []).append(e)
    return {
        "apiVersion": "v1",
        "entries": {name: [index_entry(e) for e in sorted(
            versions, key=lambda e: (semver_key(e.version), e.version), reverse=True)]
            for name, versions in sorted(by_name.items())},
        "generated": rfc3339(generated_ns),
    }


_PLAIN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
# Plain words YAML 1.1 (go-yaml, PyYAML) would read as booleans or null.
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}


def yaml_quote(s: str) -> str:
    """A YAML double-quoted scalar that every YAML 1.1/1.2 parser reads back as `s`.

    Printable characters stay as they are; quotes, backslashes, control and
    line-separator characters are escaped; lone surrogates become U+FFFD.
    """
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif 0x20 <= o <= 0x7E:
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\uFFFD")
        elif ((0xA0 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or 0x10000 <= o <= 0x10FFFF)
              and o not in (0x2028, 0x2029, 0xFEFF)):
            out.append(ch)
        elif o <= 0xFF:
            out.append(f"\\x{o:02X}")
        else:
            out.append(f"\\u{o:04X}")
    out.append('"')
    return "".join(out)


def _yaml_key(k: Any) -> str:
    k = str(k)
    return k if _PLAIN_KEY.fullmatch(k) and k.lower() not in _YAML_WORDS else yaml_quote(k)


def _yaml_scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return json.dumps(v) if v == v and v not in (float("inf"), float("-inf")) else yaml_quote(str(v))
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return yaml_quote(str(v))


def _yaml_lines(value: Any, indent: int) -> list[str]:
    """Block-style lines of a non-empty mapping or sequence at `indent` spaces."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            key = _yaml_key(k)
            if isinstance(v, dict) and v:
                lines.append(f"{pad}{key}:")
                lines += _yaml_lines(v, indent + 2)
            elif isinstance(v, list) and v:
                lines.append(f"{pad}{key}:")
                lines += _yaml_lines(v, indent)   # "- " items at the key's indentation
            else:
                lines.append(f"{pad}{key}: {_yaml_scalar(v)}")
        return lines
    for item in value:
        if isinstance(item, dict) and item:
            inner = _yaml_lines(item, indent + 2)
            lines.append(f"{pad}- {inner[0][indent + 2:]}")
            lines += inner[1:]
        elif isinstance(item, list) and item:
            lines.append(f"{pad}-")
            lines += _yaml_lines(item, indent + 2)
        else:
            lines.append(f"{pad}- {_yaml_scalar(item)}")
    return lines


def to_yaml(doc: dict) -> str:
    """A JSON-shaped document as block YAML, every string double-quoted."""
    return "\n".join(_yaml_lines(doc, 0)) + "\n" if doc else "{}\n"


def index_yaml(entries: Iterable[ChartEntry], generated_ns: Optional[int] = None) -> str:
    return to_yaml(index_document(entries, generated_ns or time.time_ns()))
