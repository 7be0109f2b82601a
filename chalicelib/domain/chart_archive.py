"""Finding Chart.yaml in an uploaded chart archive (.tgz) with bounded work.

The archive comes from the network, so Python's `tarfile` is not used: it
reads a GNU long name or a pax header of any size into memory in one go (a
510 KB gzip can declare a 512 MiB name) and keeps every member it has seen.
This reader walks the tar headers itself over a streaming gunzip and stops
at the first limit crossed: decompressed bytes, members, and the size of
every header extension (GNU long names/links, pax records). Member data it
does not need is decompressed in small chunks and dropped, never held.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Optional

from ..oci.errors import RegistryError

BLOCK = 512
_CHUNK = 64 * 1024
# Member types that carry no data, whatever their size field says (as Go's archive/tar reads them).
_HEADER_ONLY = frozenset(b"123456")
_REGULAR = frozenset(b"07\0")


@dataclass(frozen=True)
class ArchiveLimits:
    """How much an upload may make the registry decompress and parse."""

    max_decompressed: int = 64 * 1024 * 1024   # tar stream read while looking for Chart.yaml
    max_members: int = 10_000                  # headers of any kind, extensions included
    max_long_name: int = 4096                  # GNU 'L'/'K' data (PATH_MAX)
    max_pax: int = 64 * 1024                   # one pax ('x' or 'g') header's records
    max_chart_yaml: int = 1024 * 1024


DEFAULT_LIMITS = ArchiveLimits()


def _invalid(reason: str) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", {"reason": f"not a chart archive (.tgz): {reason}"})


def _too_big(reason: str, limit: int) -> RegistryError:
    return RegistryError("SIZE_INVALID", {"reason": f"chart archive refused: {reason}", "limit": limit},
                         status=413)


class _Gunzip:
    """Decompressed bytes of a (possibly multi-member) gzip, read on demand and capped."""

    def __init__(self, data: bytes, cap: int) -> None:
        self._src = memoryview(data)
        self._pos = 0
        self._d = zlib.decompressobj(wbits=31)
        self._buf = bytearray()
        self._cap = cap
        self.total = 0

    def _fill(self, want: int) -> None:
        while len(self._buf) < want:
            if self._d.unconsumed_tail:
                chunk = self._d.unconsumed_tail
            elif self._d.eof:
                rest = self._d.unused_data + bytes(self._src[self._pos:])
                self._pos = len(self._src)
                if not rest.strip(b"\0"):          # trailing padding after the last member
                    return
                self._d = zlib.decompressobj(wbits=31)
                chunk = rest
            elif self._pos < len(self._src):
                chunk = bytes(self._src[self._pos:self._pos + _CHUNK])
                self._pos += len(chunk)
            else:
                chunk = b""                        # no input left: drain what inflate still holds
            try:
                out = self._d.decompress(chunk, max(want - len(self._buf), _CHUNK))
            except zlib.error as exc:
                raise _invalid(f"bad gzip data ({exc})") from None
            if not out and not chunk:
                return                             # truncated: the caller sees a short read
            self.total += len(out)
            if self.total > self._cap:
                raise _too_big("it decompresses to more than the limit before Chart.yaml", self._cap)
            self._buf += out

    def read(self, n: int) -> bytes:
        self._fill(n)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def skip(self, n: int) -> None:
        while n > 0:
            step = min(n, _CHUNK)
            got = self.read(step)
            if len(got) < step:
                raise _invalid("truncated member data")
            n -= step


def _octal(field: bytes, what: str) -> int:
    if field[:1] and field[0] & 0x80:              # GNU base-256 (sizes of 8 GiB and more)
        if field[0] & 0x40:
            raise _invalid(f"negative {what}")
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise _invalid(f"bad {what} field") from None


def _checksum_ok(block: bytes) -> bool:
    stored = _octal(block[148:156], "checksum")
    unsigned = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
    if stored == unsigned:
        return True
    # Some old tars summed signed chars.
    high = sum(1 for b in block[:148] + block[156:] if b >= 0x80)
    return stored == unsigned - 256 * high


def _pax_records(data: bytes) -> dict[bytes, bytes]:
    """`<len> <key>=<value>\\n` records (POSIX.1-2001), each length checked."""
    out: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data) and data[pos:pos + 1] != b"\0":
        space = data.find(b" ", pos, pos + 21)
        if space < 0:
            raise _invalid("bad pax record")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise _invalid("bad pax record length") from None
        record = data[space + 1:pos + length]
        if length <= space - pos + 1 or pos + length > len(data) or not record.endswith(b"\n") \
                or b"=" not in record:
            raise _invalid("bad pax record")
        key, _, value = record[:-1].partition(b"=")
        out[key] = value
        pos += length
    return out


def _padded(size: int) -> int:
    return -size % BLOCK + size


def _chart_yaml_path(name: str) -> bool:
    """`<chart>/Chart.yaml` at the top of the archive (leading `./` allowed, as Helm cleans it)."""
    while name.startswith("./"):
        name = name[2:]
    parts = name.split("/")
    return len(parts) == 2 and bool(parts[0]) and parts[0] not in (".", "..") and parts[1] == "Chart.yaml"


def chart_yaml_of(archive: bytes, limits: ArchiveLimits = DEFAULT_LIMITS) -> bytes:
    """The first top-level `<chart>/Chart.yaml` of a chart archive."""
    stream = _Gunzip(archive, limits.max_decompressed)
    long_name: Optional[bytes] = None
    pax: dict[bytes, bytes] = {}
    for seen in range(limits.max_members):
        block = stream.read(BLOCK)
        if not block or block == bytes(BLOCK):
            break                                  # end of the archive
        if len(block) < BLOCK:
            raise _invalid("truncated tar header" if seen else "not a tar archive")
        if not _checksum_ok(block):
            raise _invalid("bad tar header checksum")
        kind = block[156]
        size = _octal(block[124:136], "size")
        if kind in b"LK":
            if size > limits.max_long_name:
                raise _too_big("a GNU long name header is too large", limits.max_long_name)
            data = stream.read(_padded(size))[:size]
            if kind == ord("L"):
                long_name = data.split(b"\0", 1)[0]
            continue
        if kind in b"xg":
            if size > limits.max_pax:
                raise _too_big("a pax header is too large", limits.max_pax)
            records = _pax_records(stream.read(_padded(size))[:size])
            if kind == ord("x"):
                pax = records
            continue
        if kind == ord("S"):
            raise _invalid("sparse members are not supported")
        if b"size" in pax:
            try:
                size = int(pax[b"size"])
            except ValueError:
                raise _invalid("bad pax size") from None
        name = pax.get(b"path") or long_name or _ustar_name(block)
        long_name, pax = None, {}
        if kind in _HEADER_ONLY:
            continue
        if kind in _REGULAR and _chart_yaml_path(name.decode("utf-8", "replace")):
            if size > limits.max_chart_yaml:
                raise _too_big("Chart.yaml is too large", limits.max_chart_yaml)
            data = stream.read(size)
            if len(data) < size:
                raise _invalid("truncated Chart.yaml")
            return data
        stream.skip(_padded(size))
    else:
        raise _too_big("too many members before Chart.yaml", limits.max_members)
    if seen == 0:
        raise _invalid("empty archive")
    raise RegistryError("MANIFEST_INVALID", {"reason": "no <chart>/Chart.yaml in the archive"})


def _ustar_name(block: bytes) -> bytes:
    name = block[0:100].split(b"\0", 1)[0]
    if block[257:263] == b"ustar\x00":             # POSIX ustar: a prefix field (GNU uses it otherwise)
        prefix = block[345:500].split(b"\0", 1)[0]
        if prefix:
            return prefix + b"/" + name
    return name
