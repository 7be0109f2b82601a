"""client/spool_file.py: the gateway's spool, written past the page cache where it can be.
Whatever the write pattern and mode, the file holds exactly the bytes written once
`sync()` ran, and writing goes on after a sync."""
from __future__ import annotations

import os
import random

import pytest

from client import spool_file
from client.spool_file import ALIGN, BUFFER, SpoolFile


def _spool(tmp_path, direct: bool) -> SpoolFile:
    path = tmp_path / "spool"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    return SpoolFile(fd, str(path), direct=direct)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("sizes", [
    [1],                                  # less than a block
    [ALIGN, ALIGN],                       # whole blocks
    [BUFFER],                             # exactly one aligned write
    [BUFFER - 1, 2, ALIGN + 3],           # across the buffer's end
    [1 << 20] * 9 + [12345],              # 1 MiB blocks, as the gateway reads them
    [777] * 50 + [3 * BUFFER + 5],        # small, then larger than the buffer at once
])
def test_the_file_holds_every_byte_after_a_sync(tmp_path, direct, sizes):
    rnd = random.Random(sum(sizes))
    f = _spool(tmp_path, direct)
    want = bytearray()
    for n in sizes:
        data = rnd.randbytes(n)
        f.write(data)
        want += data
    assert f.size == len(want)
    f.sync()
    assert _read(f.path) == bytes(want)
    f.close()


@pytest.mark.parametrize("direct", [True, False])
def test_writing_goes_on_after_a_sync(tmp_path, direct):
    """A sync in the middle (the gateway's open uploads read the spool back at 64 MiB):
    the padded tail block is rewritten by later writes, never left in the file."""
    rnd = random.Random(7)
    f = _spool(tmp_path, direct)
    want = bytearray()
    for n in (5000, 100, BUFFER + 17, 1, ALIGN - 1):
        data = rnd.randbytes(n)
        f.write(data)
        want += data
        f.sync()
        assert _read(f.path) == bytes(want)
    f.close()


def test_a_refused_direct_write_falls_back_to_plain_writes_with_nothing_lost(tmp_path, monkeypatch):
    """A filesystem that takes O_DIRECT at open but refuses the write (EINVAL): the
    buffered bytes go out by ordinary writes and so does everything after."""
    f = _spool(tmp_path, direct=True)
    if not f.direct:
        pytest.skip("this filesystem refuses O_DIRECT at open (the plain path is tested above)")
    real = os.pwrite

    def refuse(fd, data, offset):
        if fd == f._dfd:
            raise OSError(22, "Invalid argument")
        return real(fd, data, offset)

    monkeypatch.setattr(spool_file.os, "pwrite", refuse)
    rnd = random.Random(3)
    want = rnd.randbytes(BUFFER + 1000)
    f.write(want[:BUFFER - 10])
    f.write(want[BUFFER - 10:])     # fills the buffer: the direct write is refused here
    assert not f.direct
    more = rnd.randbytes(4321)
    f.write(more)
    f.sync()
    assert _read(f.path) == want + more
    f.close()
