"""What the client's direct path costs in reads and memory. client/direct_stream.py with
a PartBudget (the push gateway's streams): parts go to S3 from the blocks fed, the bytes
held never pass the budget, and a part S3 refuses stops the feeding instead of leaving it
waiting for budget that never comes back. The CLI reads a file once before sending it.
Against the real registry and the strict S3 (it checks every part's SHA-256)."""
from __future__ import annotations

import os
import threading
import time

import pytest

from client.direct import DirectUploadError
from client.direct_stream import PartBudget, PartStream
from direct_support import MIB, open_upload, pull, token  # noqa: F401 (autouse fixture)
from support import sha256

pytestmark = pytest.mark.backends("strict")


class _Watched(PartBudget):
    """The budget, with the most bytes it ever held."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.peak = 0
        self.lock = threading.Lock()

    def take(self, n, failed, sending, patience=20.0):
        super().take(n, failed, sending, patience)
        with self.lock:
            self.peak = max(self.peak, self.used)


def _stream(client, repo, tmp_path, size, budget, workers=4):
    up = open_upload(client, repo)
    path = tmp_path / "spool"
    path.write_bytes(b"")   # memory mode never reads it: an empty file proves that
    part = 5 * MIB
    up.plan(size, part_size=part)
    return up, PartStream(up, str(path), size, part, workers=workers, budget=budget)


def test_parts_go_from_memory_within_the_budget(client, repo, tmp_path):
    data = os.urandom(41 * MIB + 3)
    budget = _Watched(15 * MIB)   # three 5 MiB parts: one filling, two in flight
    up, stream = _stream(client, repo, tmp_path, len(data), budget)
    assert stream.budget is budget
    for at in range(0, len(data), MIB):
        stream.feed(data[at:at + MIB])
    stream.finish()
    assert up.close(sha256(data)) == sha256(data)
    assert pull(client, repo, sha256(data)) == sha256(data)
    assert 0 < budget.peak <= 15 * MIB
    assert budget.used == 0   # every part gave its bytes back


def test_parts_too_large_for_the_budget_are_read_back_from_the_file(client, repo, tmp_path):
    data = os.urandom(11 * MIB)
    up, stream = _stream(client, repo, tmp_path, len(data), PartBudget(9 * MIB))
    assert stream.budget is None   # two 5 MiB parts do not fit: the file path
    (tmp_path / "spool").write_bytes(data)
    for at in range(0, len(data), MIB):
        stream.feed(data[at:at + MIB])
    stream.finish()
    assert up.close(sha256(data)) == sha256(data)


def test_a_part_s3_refuses_stops_the_feeding(client, repo, tmp_path):
    """Bytes changed after their part was hashed: S3 refuses the part (checksum), and the
    next feed that waits for budget raises instead of waiting for good."""
    budget = PartBudget(10 * MIB)   # two parts
    up, stream = _stream(client, repo, tmp_path, 40 * MIB, budget, workers=1)
    first = bytearray(os.urandom(5 * MIB))
    stream.feed(first)    # part 1 complete: hashed, then sent from this very buffer
    first[0] ^= 0xFF      # ... which now differs from its checksum (or S3 already has it)
    with pytest.raises(DirectUploadError):
        for _ in range(40):
            stream.feed(os.urandom(MIB))
    stream.close()
    deadline = time.monotonic() + 60   # a part still running gives its bytes back when it ends
    while budget.used and time.monotonic() < deadline:
        time.sleep(0.05)
    assert budget.used == 0


def test_files_are_read_once_before_their_parts_go(client, repo, tmp_path):
    """read_files hashes each file once, taking the part checksums the direct path sends
    (Blob.part_sums); push_blob then reads the bytes only to send them."""
    from client.direct import default_part_size, hash_source, push_blob
    from client.layout import read_files
    from client.upload import Blob

    paths = []
    for i, size in enumerate((20 * MIB + 1, 17 * MIB)):
        paths.append(tmp_path / f"f{i}.bin")
        paths[-1].write_bytes(os.urandom(size))
    src = read_files([str(p) for p in paths], "application/x.test")
    files = [b for b in src.blobs if b.path]
    for b in files:   # the same checksums a fresh pass gives
        assert b.part_sums == (default_part_size(b.size), hash_source(b, default_part_size(b.size))[1])

    class Counted(Blob):
        read_bytes = 0

        def read(self, start, length):
            data = super().read(start, length)
            Counted.read_bytes += len(data)
            return data

    b = files[0]
    counted = Counted(b.digest, b.size, path=b.path, part_sums=b.part_sums)
    assert push_blob(client.http, client.base, repo, counted, digest=b.digest, part_sums=b.part_sums) == b.digest
    assert Counted.read_bytes == b.size
    assert pull(client, repo, b.digest) == b.digest


def test_a_part_cut_short_leaves_memory_and_comes_back_from_the_file(client, repo, tmp_path):
    """The gateway parks a stream whose client left mid-part: the budget goes back at once
    (an abandoned upload holds none), and a resumed body reads the part's first bytes back
    from the spool file, so the same parts complete the blob."""
    data = os.urandom(13 * MIB + 5)
    budget = PartBudget(15 * MIB)
    up, stream = _stream(client, repo, tmp_path, len(data), budget)
    cut = 7 * MIB + 3          # part 1 sent, part 2 two MiB in
    spool = tmp_path / "spool"
    with open(spool, "wb") as f:
        f.write(data[:cut])    # what the gateway's spool holds when the client leaves
    for at in range(0, cut, MIB):
        stream.feed(data[at:min(at + MIB, cut)])
    stream.park()
    deadline = time.monotonic() + 60
    while budget.used and time.monotonic() < deadline:   # part 1, in flight, gives back when sent
        time.sleep(0.05)
    assert budget.used == 0
    with open(spool, "ab") as f:
        f.write(data[cut:])
    for at in range(cut, len(data), MIB):
        stream.feed(data[at:min(at + MIB, len(data))])
    stream.finish()
    assert up.close(sha256(data)) == sha256(data)
    assert pull(client, repo, sha256(data)) == sha256(data)
