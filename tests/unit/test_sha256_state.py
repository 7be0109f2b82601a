"""The resumable SHA-256: the saved state is rehashes' form byte for byte (sessions saved
by either resume in the other), and digests equal hashlib's for every split of the bytes."""
from __future__ import annotations

import hashlib
import random

import pytest

from chalicelib.domain import sha256_state
from chalicelib.domain.sha256_state import STATE_BYTES, Sha256State

rehashes = pytest.importorskip("rehashes")

SIZES = [0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 1000, 4096, 70_001]


def _pieces(seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.randbytes(rnd.choice(SIZES)) for _ in range(rnd.randint(0, 6))]


@pytest.mark.parametrize("seed", range(60))
def test_saved_state_is_rehashes_form_and_digest_is_hashlibs(seed: int):
    pieces = _pieces(seed)
    state = None
    for i, piece in enumerate(pieces):
        h = Sha256State(state)
        h.update([piece, bytearray(piece), memoryview(piece)][i % 3])  # every accepted type
        state = h.state()
        assert len(state) == STATE_BYTES
    ref = rehashes.PySha256()
    for piece in pieces:
        ref.update(piece)
    if state is not None:
        assert state == bytes(ref.serialize())
    whole = hashlib.sha256(b"".join(pieces)).hexdigest()
    assert Sha256State(state).hexdigest() == whole
    assert Sha256State(bytes(ref.serialize())).hexdigest() == whole  # a session saved by rehashes


def test_hexdigest_leaves_the_state_as_it_was():
    h = Sha256State()
    h.update(b"a" * 100)
    first = h.hexdigest()
    h.update(b"b")
    assert first == hashlib.sha256(b"a" * 100).hexdigest()
    assert h.hexdigest() == hashlib.sha256(b"a" * 100 + b"b").hexdigest()


def test_without_libcrypto_rehashes_hashes_the_same(monkeypatch):
    monkeypatch.setattr(sha256_state, "_lib", False)
    h = Sha256State()
    h.update(b"x" * 1000)
    resumed = Sha256State(h.state())
    resumed.update(bytearray(b"y" * 77))
    assert resumed.hexdigest() == hashlib.sha256(b"x" * 1000 + b"y" * 77).hexdigest()


@pytest.mark.parametrize("bad", [b"", b"\0" * 103, b"\0" * 40 + b"\x40" + b"\0" * 63])
def test_a_state_that_is_not_one_is_refused(bad: bytes):
    if not bad:
        assert Sha256State(bad).hexdigest() == hashlib.sha256(b"").hexdigest()  # empty: a fresh hash
        return
    with pytest.raises(ValueError):
        Sha256State(bad)
